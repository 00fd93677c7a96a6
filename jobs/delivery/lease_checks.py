"""The idle-tick lease checks of the streams that tail runs on other instances, batched.

A tailing stream that hears nothing for a second asks whether the job's runner still holds
its lease (and, if not, ends the job as ``RUNNER_LOST``, once). With thousands of such streams
on one instance, one round trip each would be thousands of commands a second competing for the
shared pool; here every check asked within ``WINDOW_S`` of the first travels in one pipeline,
and streams of the same job share one verdict.
"""

from __future__ import annotations

import asyncio

from jobs.errors import RunnerLost
from jobs.record.replies import LeaseVerdict
from jobs.record.store import JobStore

#: How long a check waits for others to join its round trip (adds at most this to noticing a
#: dead runner, which takes LEASE_TTL_S anyway).
WINDOW_S = 0.05


class LeaseChecks:
    def __init__(self, store: JobStore) -> None:
        self.store = store
        self._waiting: dict[str, asyncio.Future[LeaseVerdict]] = {}
        self._round: asyncio.Task[None] | None = None

    async def verdict(self, job_id: str) -> LeaseVerdict:
        """What :meth:`~jobs.record.store.JobStore.declare_lost` decided for the job (shared
        by the checks of one round); raises ``StoreUnavailable`` when Redis cannot answer."""
        future = self._waiting.get(job_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            future.add_done_callback(_retrieve)
            self._waiting[job_id] = future
            if self._round is None:
                self._round = asyncio.create_task(self._check(), name="lease-checks")
        return await asyncio.shield(future)

    async def _check(self) -> None:
        try:
            await asyncio.sleep(WINDOW_S)
        except asyncio.CancelledError:
            batch, self._waiting, self._round = self._waiting, {}, None
            for future in batch.values():
                future.cancel()
            raise
        batch, self._waiting, self._round = self._waiting, {}, None
        try:
            verdicts = await self.store.declare_lost_many(list(batch), RunnerLost().payload())
        except Exception as exc:
            for future in batch.values():
                future.set_exception(exc)
            return
        except asyncio.CancelledError:
            for future in batch.values():
                future.cancel()
            raise
        for future, verdict in zip(batch.values(), verdicts, strict=True):
            future.set_result(verdict)


def _retrieve(future: asyncio.Future[LeaseVerdict]) -> None:
    # A verdict whose stream was cancelled meanwhile must not be reported as never retrieved.
    if not future.cancelled():
        future.exception()
