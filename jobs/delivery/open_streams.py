"""The streams this instance serves, kept alive in Redis together.

An open stream holds one of its owner's stream slots (``MAX_STREAMS_PER_USER``) and a presence
entry on its job (which keeps the run from being abandoned). Both expire unless refreshed, so
a crashed instance's streams release themselves. Rather than a timer per stream, one loop
refreshes every open stream of this instance in one pipelined round trip per third of the
lease TTL; a stream that ends gives both back at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from jobs.errors import StoreUnavailable
from jobs.record.limits import Limits
from jobs.redis.connection import Redis, unavailable_as_domain_error
from jobs.running.lease import Leases

# The logger keeps its name from before the module moved (operators' filters use it).
logger = logging.getLogger("jobs.streams")

#: How long releasing a stream may take before it is left to the TTLs.
RELEASE_TIMEOUT_S = 2.0


class OpenStreams:
    def __init__(self, redis: Redis, leases: Leases, limits: Limits) -> None:
        self.redis = redis
        self.leases = leases
        self.limits = limits
        self._open: dict[str, tuple[str, str]] = {}  # stream id -> (job id, owner)
        self._releases: set[asyncio.Task[Any]] = set()
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._open)

    def open(self) -> None:
        self._task = asyncio.create_task(self._keep_fresh(), name="open-streams")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task], timeout=5)
        if self._releases:
            await asyncio.wait(self._releases, timeout=RELEASE_TIMEOUT_S)

    def add(self, stream_id: str, job_id: str, owner: str) -> None:
        """Count a stream as open (its slot and presence were taken when it attached)."""
        self._open[stream_id] = (job_id, owner)

    async def release(
        self, stream_id: str, job_id: str, owner: str, *, settled: bool = False
    ) -> None:
        """Give back the stream's slot and presence. Runs to the end even while the caller is
        being cancelled (a dropped connection); left to the TTLs if Redis is unavailable.

        ``settled``: the stream delivered the job's stored terminal event. Settling the job
        dropped every presence on it, so only the slot (if slots are counted) is given back;
        a refresh that raced the settle re-marked a presence that expires within a lease TTL
        and that nothing reads on a finished job.
        """
        self._open.pop(stream_id, None)
        if settled and self.limits.max_streams <= 0:
            return  # nothing left to give back: the common end of a stream costs no round trip
        task = asyncio.ensure_future(self._give_back(stream_id, job_id, owner, settled))
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)
        with contextlib.suppress(StoreUnavailable, TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(task), RELEASE_TIMEOUT_S)

    async def _give_back(self, stream_id: str, job_id: str, owner: str, settled: bool) -> None:
        await _ignoring_outages(self.limits.close_stream(owner, stream_id))
        if not settled:
            await _ignoring_outages(self.leases.readers.absent(job_id, stream_id))

    async def _keep_fresh(self) -> None:
        while True:
            await asyncio.sleep(self.leases.renew_every_s)
            if not self._open:
                continue
            try:
                with unavailable_as_domain_error():
                    async with self.redis.pipeline(transaction=False) as pipe:
                        for stream_id, (job_id, owner) in list(self._open.items()):
                            self.leases.readers.queue_present(pipe, job_id, stream_id)
                            slot = self.limits.open_stream(owner, stream_id)
                            if slot is not None:
                                slot.queue(pipe)
                        await pipe.execute()
            except StoreUnavailable:
                logger.warning("could not refresh open streams: Redis is unavailable")
            except Exception:
                logger.exception("refreshing open streams failed")


async def _ignoring_outages(operation: Coroutine[Any, Any, None]) -> None:
    with contextlib.suppress(StoreUnavailable):
        await operation
