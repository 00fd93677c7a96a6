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
simulated clock); :func:`coalesce` drives it over an async source with the event loop's clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable


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

    def drain(self) -> str | None:
        """Return whatever is buffered (the final flush), ignoring the window."""
        return self._take() if self._buffer else None

    def _take(self) -> str:
        text = "".join(self._buffer)
        self._buffer.clear()
        return text


async def coalesce(
    source: AsyncIterator[str],
    window_s: float,
    *,
    clock: Callable[[], float] | None = None,
) -> AsyncGenerator[str, None]:
    """Yield ``source``'s text coalesced into windows of ``window_s``.

    If ``source`` raises, the buffered text is yielded first and the error is raised after it,
    so a client keeps every character produced before a failure. ``clock`` defaults to the
    running loop's clock, which is also what the window timer sleeps on.
    """
    loop = asyncio.get_running_loop()
    now = clock or loop.time
    state = Coalescer(window_s)
    pending: asyncio.Future[str] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(source))
            deadline = state.deadline
            if deadline is None:
                await asyncio.wait((pending,))
            else:
                timeout = deadline - now()
                if timeout > 0:
                    await asyncio.wait((pending,), timeout=timeout)
            if pending.done():
                future, pending = pending, None
                try:
                    text = future.result()
                except StopAsyncIteration:
                    break
                except BaseException:
                    rest = state.drain()
                    if rest:
                        yield rest
                    raise
                out = state.add(text, now())
            else:
                out = state.due(now())
            if out:
                yield out
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            # Let the cancelled step unwind inside the source before the caller closes it.
            await asyncio.wait((pending,))
    rest = state.drain()
    if rest:
        yield rest
