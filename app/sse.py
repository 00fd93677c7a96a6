"""Server-Sent Events framing for an attachment (sse-starlette does the wire protocol).

A stream is: ``connected`` (per connection, no id, carrying ``retry:``), then the stored
events each with its ``id:``, ending after ``complete`` or ``error``; ``: ping`` comments keep
idle connections open through proxies. Should Redis fail mid-stream, the stream ends with a
retryable ``error`` event that has no id, so a client's ``Last-Event-ID`` still points at the
last event it really has and a reconnect resumes from there.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator
from typing import Any

import anyio
from sse_starlette import EventSourceResponse, ServerSentEvent
from sse_starlette.sse import SendTimeoutError
from starlette.types import Message, Receive, Scope, Send

from jobs import metrics
from jobs.errors import StoreUnavailable
from jobs.events import ErrorCode, EventName, StoredEvent, connected_payload, dumps, error_payload
from jobs.service import Attachment

logger = logging.getLogger(__name__)

SEP = "\n"
#: How long a browser's EventSource waits before reconnecting.
RETRY_MS = 1000
HEADERS = {"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"}
#: How long a stream may take to end cleanly at shutdown before it is cut (sse-starlette's
#: grace period for one response; the runs' own grace is the SHUTDOWN_GRACE_S setting).
STREAM_CLOSE_GRACE_S = 3.0


def _ping() -> ServerSentEvent:
    return ServerSentEvent(comment="ping", sep=SEP)


def frame(event: StoredEvent) -> bytes | ServerSentEvent:
    """One event's frame. The data of our events is compact JSON on one line, so the frame is
    written directly (the hot path: every event, every reader); anything else goes through
    sse-starlette's general encoder."""
    if "\n" in event.data or "\r" in event.data:
        return ServerSentEvent(event.data, event=event.event, id=event.id, sep=SEP)
    id_line = f"id: {event.id}\n" if event.id is not None else ""
    return f"{id_line}event: {event.event}\ndata: {event.data}\n\n".encode()


async def _frames(
    attachment: Attachment, shutdown: anyio.Event
) -> AsyncIterator[bytes | ServerSentEvent]:
    connected = connected_payload(
        attachment.job_id, attachment.status.value, resumed=attachment.resumed
    )
    yield ServerSentEvent(dumps(connected), event=EventName.CONNECTED, retry=RETRY_MS, sep=SEP)
    metrics.event_sent(EventName.CONNECTED)
    # Time to first delta is measured for fresh streams only: a resume replays at once.
    started = None if attachment.resumed else time.monotonic()
    try:
        async for event in attachment.events:
            if event is not None:
                yield frame(event)
                metrics.event_sent(event.event)
                if started is not None and event.event == EventName.DELTA:
                    metrics.first_delta(time.monotonic() - started)
                    started = None
            if shutdown.is_set():
                # End cleanly (not with a reset connection): the client reconnects with its
                # Last-Event-ID, to another instance, and resumes. Quiet streams notice too:
                # local ones are woken at shutdown, Redis-tailing ones tick every second.
                return
    except StoreUnavailable as exc:
        logger.warning("stream ended: %s", exc, extra={"job_id": attachment.job_id})
        lost = error_payload(ErrorCode.STORE_UNAVAILABLE, str(exc), retryable=True)
        yield ServerSentEvent(dumps(lost), event=EventName.ERROR, sep=SEP)
        metrics.event_sent(EventName.ERROR)


class SendWatch:
    """One timer per event loop bounds the sends of every stream on it.

    A stream notes when each of its sends began (its events and its pings are sent by two
    tasks); every ``period_s`` the watch cancels each send that has lasted ``send_timeout``
    (so a send ends between ``send_timeout`` and ``send_timeout + period_s`` after it began).
    A timeout per send (anyio's cancel scope, or ``asyncio.timeout``) costs a timer armed and
    cancelled for every event of every reader, for the rare send that blocks: the socket's
    buffers are full because the client stopped reading. The watch runs only while streams
    are open, and holds no reference to its loop (the loop's entry goes with the loop).
    """

    __slots__ = ("__weakref__", "_timer", "period_s", "streams")

    def __init__(self, period_s: float = 1.0) -> None:
        self.period_s = period_s
        self.streams: set[JobEventStream] = set()
        self._timer: asyncio.TimerHandle | None = None

    @classmethod
    def of_running_loop(cls) -> SendWatch:
        loop = asyncio.get_running_loop()
        watch = _WATCHES.get(loop)
        if watch is None:
            watch = _WATCHES[loop] = cls()
        return watch

    def add(self, stream: JobEventStream) -> None:
        self.streams.add(stream)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.period_s, self._check)

    def discard(self, stream: JobEventStream) -> None:
        self.streams.discard(stream)

    def _check(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        for stream in self.streams:
            stream.cancel_sends_older_than(now)
        if self.streams:
            self._timer = loop.call_later(self.period_s, self._check)


_WATCHES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SendWatch] = (
    weakref.WeakKeyDictionary()
)


class JobEventStream(EventSourceResponse):
    """sse-starlette's response with a cheaper bounded send: the library bounds each send with
    an anyio cancel scope, which costs more than the rest of sending an event; here one
    :class:`SendWatch` per process bounds them all, and a send it cuts short raises the same
    ``SendTimeoutError``. This overrides one private method of sse-starlette (and keeps its
    ``_send_interrupted`` bookkeeping).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The sends under way, by task (events and pings), with when each began.
        self._sending: dict[asyncio.Task[Any], float] = {}
        #: The tasks whose send the watch cut short.
        self._cut: set[asyncio.Task[Any]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.send_timeout is None:
            await super().__call__(scope, receive, send)
            return
        watch = SendWatch.of_running_loop()
        watch.add(self)
        try:
            await super().__call__(scope, receive, send)
        finally:
            watch.discard(self)

    def cancel_sends_older_than(self, now: float) -> None:
        """Cut short each send that began ``send_timeout`` or more before ``now``."""
        timeout = self.send_timeout
        if timeout is None:
            return
        for task, began in self._sending.items():
            if now - began >= timeout and task not in self._cut:
                self._cut.add(task)
                task.cancel()

    async def _send_with_timeout(self, send: Send, message: Message) -> None:
        task = asyncio.current_task()
        if self.send_timeout is None or task is None:
            await send(message)
            return
        self._sending[task] = asyncio.get_running_loop().time()
        try:
            await send(message)
        except asyncio.CancelledError:
            self._send_interrupted = True
            if task in self._cut:  # the watch's cancel, not another's
                self._cut.discard(task)
                task.uncancel()
                raise SendTimeoutError() from None
            raise
        except BaseException:
            self._send_interrupted = True
            raise
        finally:
            self._sending.pop(task, None)


def event_stream(
    attachment: Attachment, *, ping_s: float, send_timeout_s: float, shutdown: anyio.Event
) -> JobEventStream:
    """The ``text/event-stream`` response for ``attachment``.

    A client that stops reading cannot make the server buffer without bound: events are read
    from the run's own log as the client takes them (nothing queues per client), and a send
    that blocks for ``send_timeout_s`` (the socket's buffers are full) ends the stream.
    At shutdown every stream ends cleanly within about a second; clients reconnect, to another
    instance, with ``Last-Event-ID``.
    """
    return JobEventStream(
        _frames(attachment, shutdown),
        headers=HEADERS,
        ping=ping_s,
        ping_message_factory=_ping,
        sep=SEP,
        send_timeout=send_timeout_s,
        shutdown_event=shutdown,
        shutdown_grace_period=STREAM_CLOSE_GRACE_S,
    )
