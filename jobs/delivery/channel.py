"""In-memory fan-out of a run's events to readers attached to the same process.

The runner stores every event in Redis first (durability, other instances) and then publishes
it here with its stream id. Readers on this process follow the channel instead of polling
Redis, so the common case (the client that started the run, plus any resume that lands on the
same instance) costs no Redis reads at all. A channel holds the whole run, so any resume point
inside the run can be served from memory.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from collections.abc import AsyncGenerator

from jobs.events import StoredEvent, event_id_key


class RunChannel:
    """The events of one run on this process, in order; many readers, one writer."""

    __slots__ = ("_events", "_wakeup", "job_id")

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self._events: list[StoredEvent] = []
        self._wakeup = asyncio.Event()

    @property
    def finished(self) -> bool:
        return bool(self._events) and self._events[-1].terminal

    def publish(self, event: StoredEvent) -> None:
        """Append one event and wake every reader."""
        if self.finished:
            raise RuntimeError("a channel takes nothing after its terminal event")
        self._events.append(event)
        self.wake()

    def wake(self) -> None:
        """Wake every reader without an event: each gets a None (time to check on shutdown)."""
        wakeup, self._wakeup = self._wakeup, asyncio.Event()
        wakeup.set()

    async def follow(self, after_id: str) -> AsyncGenerator[StoredEvent | None, None]:
        """Yield the events after ``after_id``, live, through the terminal one; a None when
        :meth:`wake` woke the reader with nothing new.

        Waiting costs nothing per event: no timer, no task (readers of a quiet run are kept
        alive by pings, which sse-starlette sends on its own).
        """
        index = bisect_right(self._events, event_id_key(after_id), key=_position)
        woken = False
        while True:
            news = index < len(self._events)
            while index < len(self._events):
                event = self._events[index]
                index += 1
                yield event
                if event.terminal:
                    return
            if woken and not news:
                woken = False
                yield None
                continue  # what was published while the reader was away is read first
            await self._wakeup.wait()
            woken = True


#: Only a terminal event can lack an id (it could not be stored); it comes last, so it sorts
#: after every stored one.
_UNSTORED = (2**64, 0)


def _position(event: StoredEvent) -> tuple[int, int]:
    return event_id_key(event.id) if event.id is not None else _UNSTORED
