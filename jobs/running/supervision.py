"""Supervision of the runs: what keeps an instance honest towards the others
(:mod:`jobs.running.lease`).

Three loops, started by the runner when it opens and stopped when it closes:

- **leases**: every third of ``LEASE_TTL_S``, renew the leases of all runs here in one round
  trip (and their deadlines in the index the sweep reads), and stop the runs whose owner
  cancelled them (``CANCELLED``), that nobody has watched for ``ABANDON_AFTER_S``
  (``ABANDONED``), or whose lease is gone (this process froze past it: they stop storing at
  once, and a live instance takes them over);
- **inbox**: cancel requests other instances send to this one;
- **sweep**: every :data:`SWEEP_EVERY_S`, the runs anywhere whose lease deadline has passed
  (at most :data:`SWEEP_BATCH` per sweep, from the deadline index: no scan of the keyspace),
  each offered to :meth:`jobs.running.runner.Runner.take_over`, where one atomic script decides:
  exactly one instance claims a run, or it ends as ``RUNNER_LOST`` when it may not be taken
  over again. A draining instance takes nothing over.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from jobs.errors import Abandoned, Cancelled, StoreUnavailable

if TYPE_CHECKING:
    from jobs.running.runner import Runner

# The logger keeps its name from before the module moved (operators' filters use it).
logger = logging.getLogger("jobs.supervision")

#: How often each instance looks for runs whose lease lapsed; with ``LEASE_TTL_S`` this bounds
#: how long a crashed run waits for a new runner.
SWEEP_EVERY_S = 1.0
#: The most runs one sweep offers for takeover (the rest wait for the next sweep).
SWEEP_BATCH = 20


class Supervisor:
    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.leases = runner.leases
        self._loops: list[asyncio.Task[None]] = []

    def open(self) -> None:
        self._loops = [
            asyncio.create_task(self._keep_leases(), name="runner-leases"),
            asyncio.create_task(self._read_inbox(), name="runner-inbox"),
            asyncio.create_task(self._sweep(), name="runner-sweep"),
        ]

    async def aclose(self) -> None:
        for loop in self._loops:
            loop.cancel()
        if self._loops:
            await asyncio.wait(self._loops, timeout=5)

    async def _keep_leases(self) -> None:
        while True:
            await asyncio.sleep(self.leases.renew_every_s)
            try:
                await self._renew_leases()
            except StoreUnavailable:
                logger.warning("could not renew leases: Redis is unavailable")
            except Exception:
                logger.exception("lease renewal failed")

    async def _renew_leases(self) -> None:
        runs = self.runner.runs
        states = await self.leases.renew({job_id: run.runner for job_id, run in runs.items()})
        now = time.monotonic()
        abandon_after_s = self.runner.limits.abandon_after_s
        for job_id, state in states.items():
            run = runs.get(job_id)
            if run is None:
                continue
            if not state.held:
                self.runner.leave(job_id, "superseded")
            elif state.cancel_requested:
                self.runner.cancel(job_id, Cancelled())
            elif state.readers or run.job.background:
                run.watched_at = now
            elif now - run.watched_at >= abandon_after_s:
                self.runner.cancel(job_id, Abandoned(abandon_after_s))

    async def _read_inbox(self) -> None:
        instance_id = self.runner.instance_id
        while True:
            try:
                # Short waits: redis-py may finish a blocking command before honouring a
                # cancellation, and shutdown should not wait long for this loop.
                job_id = await self.leases.inbox.next_request(instance_id, timeout_s=1)
            except StoreUnavailable:
                await asyncio.sleep(1)
                continue
            except Exception:
                logger.exception("reading the inbox failed")
                await asyncio.sleep(1)
                continue
            if job_id is not None and self.runner.cancel(job_id, Cancelled()):
                logger.info("cancel requested", extra={"job_id": job_id})

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY_S)
            if self.runner.draining:
                continue
            try:
                due = await self.leases.lapsed(limit=SWEEP_BATCH)
                for job_id in due:
                    if job_id not in self.runner.runs:
                        await self.runner.take_over(job_id)
            except StoreUnavailable:
                continue
            except Exception:
                logger.exception("the takeover sweep failed")
