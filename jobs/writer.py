"""Batched storage of the events of every run on this instance.

Each run queues its events here instead of awaiting a Redis round trip per event; one task
stores everything queued in one pipelined round trip, then publishes each stored event (now
with its stream id) to its run's in-memory channel, in order. While one batch is in flight the
next one gathers, so batches grow with load and latency stays at about one round trip: with a
thousand live runs this is a few round trips per window instead of a thousand.

A run that needs its events stored (before its terminal event, which must come after them)
awaits the future of the last batch its events joined; a failed batch fails that future with
``StoreUnavailable``, which is how a run learns that Redis is gone.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from jobs.channel import RunChannel
from jobs.errors import StoreUnavailable
from jobs.eventlog import EventLog
from jobs.events import StoredEvent

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _Queued:
    job_id: str
    event: str
    data: str
    first: bool
    channel: RunChannel


class EventWriter:
    def __init__(self, events: EventLog) -> None:
        self.events = events
        self._queue: list[_Queued] = []
        self._batch: asyncio.Future[None] | None = None
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def open(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-writer")

    async def aclose(self) -> None:
        """Store what is queued, then stop."""
        if self._task is None:
            return
        if self._queue:
            await asyncio.wait([self.submit_done()], timeout=5)
        self._task.cancel()
        await asyncio.wait([self._task], timeout=5)

    def submit(
        self, job_id: str, event: str, data: str, *, first: bool, channel: RunChannel
    ) -> asyncio.Future[None]:
        """Queue one event; returns the future of the batch that will store it."""
        self._queue.append(_Queued(job_id, event, data, first, channel))
        self._wakeup.set()
        return self.submit_done()

    def submit_done(self) -> asyncio.Future[None]:
        """The future of the batch now gathering (done once it is stored, or failed)."""
        if self._batch is None:
            self._batch = asyncio.get_running_loop().create_future()
            # A failed batch nobody awaits must not be reported as "never retrieved".
            self._batch.add_done_callback(_retrieve)
        return self._batch

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            # One turn of the loop: every run that is ready joins this batch.
            await asyncio.sleep(0)
            queued, self._queue = self._queue, []
            batch, self._batch = self._batch, None
            if not queued or batch is None:
                continue
            try:
                ids = await self.events.append_many(
                    [(q.job_id, q.event, q.data, q.first) for q in queued]
                )
            except StoreUnavailable as exc:
                batch.set_exception(exc)
                continue
            except Exception as exc:
                logger.exception("storing events failed")
                batch.set_exception(exc)
                continue
            for item, entry_id in zip(queued, ids, strict=True):
                item.channel.publish(StoredEvent(entry_id, item.event, item.data))
            batch.set_result(None)


def _retrieve(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()
