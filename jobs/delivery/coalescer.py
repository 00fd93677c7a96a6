"""Lossless throttling of text deltas.

The model produces many small deltas; clients want a few larger ones. The coalescer merges
deltas into windows of ``window_s`` without ever dropping text (the fault of the design this
service replaces, whose throttle discarded what fell inside the window):

- the first delta after a quiet period (at least one window since the last flush) goes out
  at once, so the first token reaches the client with no added delay;
- later deltas inside the window are buffered and flushed together when the window ends;
- whatever is buffered when the source ends, or fails, is flushed before the terminal event.

Hence: the concatenation of the flushes equals the concatenation of the input; flushes are
at least one window apart, except the final drain; no delta waits longer than one window.

:class:`Coalescer` is the pure state machine, driven by explicit timestamps (tests feed it a
simulated clock); :class:`Throttle` drives it on the event loop's clock with a timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Coalescer:
    """The throttle's state. All times are seconds on one monotonic clock."""

    __slots__ = ("_buffer", "_last_flush_at", "window_s")

    def __init__(self, window_s: float) -> None:
        if window_s < 0:
            raise ValueError("window_s must be >= 0")
        self.window_s = window_s
        self._buffer: list[str] = []
        self._last_flush_at: float | None = None

    def add(self, text: str, now: float) -> str | None:
        """Take a delta at ``now``; return the text to send at once, or None if it was buffered."""
        if not text:
            return None
        if not self._buffer and (
            self._last_flush_at is None or now - self._last_flush_at >= self.window_s
        ):
            self._last_flush_at = now
            return text
        self._buffer.append(text)
        return None

    @property
    def deadline(self) -> float | None:
        """When the buffered text is due, or None when nothing is buffered."""
        if not self._buffer:
            return None
        assert self._last_flush_at is not None  # a buffer only forms after a flush
        return self._last_flush_at + self.window_s

    def due(self, now: float) -> str | None:
        """Return the buffered text if its window has ended at ``now``."""
        deadline = self.deadline
        if deadline is None or now < deadline:
            return None
        self._last_flush_at = now
        return self._take()

    def end_window(self, now: float) -> str | None:
        """Return the buffered text at the end of its window: for a timer armed at
        :attr:`deadline`, which may fire a little before it (uvloop's timers have millisecond
        resolution: one due in 0.4 ms fires at once). The window counts from its deadline, or
        from ``now`` if that is later."""
        deadline = self.deadline
        if deadline is None:
            return None
        self._last_flush_at = max(now, deadline)
        return self._take()

    def drain(self) -> str | None:
        """Return whatever is buffered (the final flush), ignoring the window."""
        return self._take() if self._buffer else None

    def _take(self) -> str:
        text = "".join(self._buffer)
        self._buffer.clear()
        return text


class Throttle:
    """Drives a :class:`Coalescer` on the event loop's clock.

    ``add`` takes each delta as the backend produces it; flushes go to ``emit`` (a plain
    function: the caller queues them for storage), either at once or from a timer at the end
    of the window. ``close`` flushes whatever is left — call it on every exit path, failures
    included, so that a client keeps every character produced before an error.

    No task or future is created per delta: one timer per window at most.
    """

    __slots__ = ("_emit", "_loop", "_state", "_timer")

    def __init__(
        self,
        window_s: float,
        emit: Callable[[str], None],
        *,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self._state = Coalescer(window_s)
        self._emit = emit
        self._loop = loop or asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None

    def add(self, text: str) -> None:
        out = self._state.add(text, self._loop.time())
        if out is not None:
            self._emit(out)
        elif self._timer is None:
            self._arm()

    def flush(self) -> None:
        """Send whatever is buffered now (before an event that must come after it)."""
        self.close()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        rest = self._state.drain()
        if rest is not None:
            self._emit(rest)

    def _arm(self) -> None:
        deadline = self._state.deadline
        if deadline is not None:
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        # The window has ended even if the clock reads a hair before its deadline: asking
        # ``due`` here would re-arm a timer that fires at once, again and again, until the
        # clock catches up (uvloop: about 190 times per window, most of a run's CPU).
        self._timer = None
        out = self._state.end_window(self._loop.time())
        if out is not None:
            self._emit(out)
