"""Server-Sent Events framing for an attachment (sse-starlette does the wire protocol).

A stream is: ``connected`` (per connection, no id, carrying ``retry:``), then the stored
events each with its ``id:``, ending after ``complete`` or ``error``; ``: ping`` comments keep
idle connections open through proxies. Should Redis fail mid-stream, the stream ends with a
retryable ``error`` event that has no id, so a client's ``Last-Event-ID`` still points at the
last event it really has and a reconnect resumes from there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

import anyio
from sse_starlette import EventSourceResponse, ServerSentEvent

from jobs import metrics
from jobs.errors import StoreUnavailable
from jobs.events import CONNECTED, DELTA, ERROR, connected_payload, dumps, error_payload
from jobs.service import Attachment

logger = logging.getLogger(__name__)

SEP = "\n"
#: How long a browser's EventSource waits before reconnecting.
RETRY_MS = 1000
HEADERS = {"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"}
#: How long a stream may take to end cleanly at shutdown before it is cut.
SHUTDOWN_GRACE_S = 3.0


def _ping() -> ServerSentEvent:
    return ServerSentEvent(comment="ping", sep=SEP)


async def _frames(attachment: Attachment, shutdown: anyio.Event) -> AsyncIterator[ServerSentEvent]:
    connected = connected_payload(
        attachment.job_id, attachment.status.value, resumed=attachment.resumed
    )
    yield ServerSentEvent(dumps(connected), event=CONNECTED, retry=RETRY_MS, sep=SEP)
    metrics.event_sent(CONNECTED)
    # Time to first delta is measured for fresh streams only: a resume replays at once.
    started = None if attachment.resumed else time.monotonic()
    try:
        async for event in attachment.events:
            if event is not None:
                yield ServerSentEvent(event.data, event=event.event, id=event.id, sep=SEP)
                metrics.event_sent(event.event)
                if started is not None and event.event == DELTA:
                    metrics.first_delta(time.monotonic() - started)
                    started = None
            if shutdown.is_set():
                # End cleanly (not with a reset connection): the client reconnects with its
                # Last-Event-ID, to another instance, and resumes. Idle ticks (at most a
                # second apart) make sure a quiet stream notices too.
                return
    except StoreUnavailable as exc:
        logger.warning("stream ended: %s", exc, extra={"job_id": attachment.job_id})
        lost = error_payload("STORE_UNAVAILABLE", str(exc), retryable=True)
        yield ServerSentEvent(dumps(lost), event=ERROR, sep=SEP)
        metrics.event_sent(ERROR)


def event_stream(
    attachment: Attachment, *, ping_s: float, send_timeout_s: float
) -> EventSourceResponse:
    """The ``text/event-stream`` response for ``attachment``.

    A client that stops reading cannot make the server buffer without bound: events are read
    from the run's own log as the client takes them (nothing queues per client), and a send
    that blocks for ``send_timeout_s`` (the socket's buffers are full) ends the stream.
    At shutdown every stream ends cleanly within about a second; clients reconnect, to another
    instance, with ``Last-Event-ID``.
    """
    shutdown = anyio.Event()
    return EventSourceResponse(
        _frames(attachment, shutdown),
        headers=HEADERS,
        ping=ping_s,
        ping_message_factory=_ping,
        sep=SEP,
        send_timeout=send_timeout_s,
        shutdown_event=shutdown,
        shutdown_grace_period=SHUTDOWN_GRACE_S,
    )
