"""A fake Anthropic Messages API: a small Starlette app on a free port, in a thread.

The service under test talks to it with the real ``anthropic`` SDK (``ANTHROPIC_BASE_URL``),
so it must speak the real wire format, checked against the SDK's own decoder and its streaming
fixtures (``tests/lib/streaming/fixtures/*.txt`` in anthropic-sdk-python):

- ``POST /v1/messages`` with ``"stream": true`` answers ``text/event-stream`` frames
  ``event: <type>\\ndata: <json>\\n\\n``: ``message_start`` (usage with input and cache
  tokens), ``content_block_start`` (a ``text`` block), ``ping``, ``content_block_delta``
  (``text_delta``)…, ``content_block_stop``, ``message_delta`` (stop reason, cumulative
  usage), ``message_stop``; or, mid-stream, an ``error`` event;
- failures before the stream are HTTP errors with the body
  ``{"type": "error", "error": {"type", "message"}, "request_id"}``, a ``request-id`` header
  on every answer, and ``retry-after`` where a :class:`Reply` sets it.

Each request takes the next scripted :class:`Reply` (the last one repeats). The fake records
every request (headers and JSON body) and how each answer ended, so tests can prove that the
client hung up (:meth:`Seen.wait_hung_up`) when a run was cancelled.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from tests.support.live import LiveServer

API_KEY = "sk-ant-fake-0123456789-do-not-leak"

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 21
    output_tokens: int = 9
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None

    def to_event(self) -> dict[str, int]:
        """What the service's ``complete.tokenUsage`` must say (written out independently)."""
        usage = {"inputTokens": self.input_tokens, "outputTokens": self.output_tokens}
        if self.cache_read_input_tokens is not None:
            usage["cacheReadInputTokens"] = self.cache_read_input_tokens
        if self.cache_creation_input_tokens is not None:
            usage["cacheCreationInputTokens"] = self.cache_creation_input_tokens
        return usage


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    ``status`` other than 200 answers an HTTP error of ``error_type`` at once. Otherwise the
    text streams in ``chunks`` (default: ``text`` cut into 1-7 character pieces),
    ``interval_s`` apart; with ``fail_after`` set, after that many chunks the stream fails as
    ``failure`` says: an in-stream ``error`` event of ``error_type``, an abrupt connection
    ``drop``, a ``stall`` (silence, connection open), or a clean ``end`` of the body before
    ``message_stop``.
    """

    text: str = "Hello from the fake Claude."
    chunks: Sequence[str] | None = None
    interval_s: float = 0.0
    usage: Usage = field(default_factory=Usage)
    stop_reason: str = "end_turn"
    model: str | None = None  # default: the model the request asked for
    status: int = 200
    error_type: str | None = None
    error_message: str = "scripted failure"
    headers: dict[str, str] = field(default_factory=dict)
    fail_after: int | None = None
    failure: Literal["error", "drop", "stall", "end"] = "error"

    def pieces(self) -> list[str]:
        if self.chunks is not None:
            return list(self.chunks)
        sizes = itertools.cycle((1, 4, 2, 7, 3, 5, 6))
        out, at = [], 0
        while at < len(self.text):
            size = next(sizes)
            out.append(self.text[at : at + size])
            at += size
        return out


@dataclass
class Seen:
    """One request as the fake received it, and how its answer ended."""

    headers: dict[str, str]
    body: dict[str, Any]
    request_id: str
    ended: str = "pending"
    chunks_sent: int = 0
    hung_up: threading.Event = field(default_factory=threading.Event)

    async def wait_hung_up(self, timeout_s: float = 10.0) -> bool:
        """Wait until the client hung up on this answer while it was still streaming."""
        return await anyio.to_thread.run_sync(self.hung_up.wait, timeout_s)


def frame(event: str, data: dict[str, Any]) -> bytes:
    """One SSE frame, as the API writes it."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def error_body(error_type: str, message: str, request_id: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": error_type, "message": message},
        "request_id": request_id,
    }


class FakeAnthropic:
    """The fake API. ``script`` the replies, ``start`` it, point the SDK at ``url``."""

    def __init__(self, *replies: Reply, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.replies: list[Reply] = list(replies) or [Reply()]
        self.requests: list[Seen] = []
        self.app = Starlette(routes=[Route("/v1/messages", self._messages, methods=["POST"])])
        self.server: LiveServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None, "start() the fake first"
        return self.server.url

    def script(self, *replies: Reply) -> None:
        self.replies = list(replies)

    def start(self) -> FakeAnthropic:
        self.server = LiveServer(self.app).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def reset(self) -> None:
        """Forget the requests and go back to the default reply (between tests)."""
        self.replies = [Reply()]
        self.requests = []

    def _next_reply(self) -> Reply:
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    async def _messages(self, request: Request) -> Response:
        seen = Seen(
            headers=dict(request.headers),
            body=await request.json(),
            request_id=f"req_fake{len(self.requests) + 1:04d}",
        )
        self.requests.append(seen)
        if not self._authorized(seen.headers):
            seen.ended = "401"
            return self._error(seen, 401, "authentication_error", "invalid x-api-key")
        if "anthropic-version" not in seen.headers:
            seen.ended = "400"
            return self._error(seen, 400, "invalid_request_error", "anthropic-version missing")
        if seen.body.get("stream") is not True:
            seen.ended = "400"
            return self._error(seen, 400, "invalid_request_error", "this fake only streams")
        reply = self._next_reply()
        if reply.status != 200:
            seen.ended = str(reply.status)
            return self._error(
                seen, reply.status, reply.error_type or "api_error", reply.error_message, reply
            )
        return _EventStream(seen, reply)

    def _authorized(self, headers: dict[str, str]) -> bool:
        return headers.get("x-api-key") == self.api_key or (
            headers.get("authorization") == f"Bearer {self.api_key}"
        )

    def _error(
        self, seen: Seen, status: int, error_type: str, message: str, reply: Reply | None = None
    ) -> Response:
        headers = {"request-id": seen.request_id} | (reply.headers if reply else {})
        return JSONResponse(error_body(error_type, message, seen.request_id), status, headers)


class _EventStream(Response):
    """The streamed answer: a pure ASGI response, so that it can also misbehave on purpose
    (drop the connection, go silent) and notice the client hanging up."""

    def __init__(self, seen: Seen, reply: Reply) -> None:
        # Not Response.__init__: it would add "content-length: 0" to a body of unknown length.
        headers = {
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
            "request-id": seen.request_id,
        } | reply.headers
        self.raw_headers = [(k.encode(), v.encode()) for k, v in headers.items()]
        self.status_code = 200
        self.background = None
        self.seen, self.reply = seen, reply

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        complete = False
        async with anyio.create_task_group() as group:

            async def watch() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                self.seen.ended = "client disconnected"
                self.seen.hung_up.set()
                group.cancel_scope.cancel()

            group.start_soon(watch)
            complete = await self._write(send)
            group.cancel_scope.cancel()
        if complete:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        # Otherwise return with the body unfinished: uvicorn then closes the connection
        # mid-chunk, which the client sees as a lost connection.

    async def _write(self, send: Send) -> bool:
        reply, seen = self.reply, self.seen

        async def emit(event: str, data: dict[str, Any]) -> None:
            await send(
                {"type": "http.response.body", "body": frame(event, data), "more_body": True}
            )

        usage = reply.usage
        start_usage: dict[str, Any] = {"input_tokens": usage.input_tokens, "output_tokens": 1}
        if usage.cache_read_input_tokens is not None:
            start_usage["cache_read_input_tokens"] = usage.cache_read_input_tokens
        if usage.cache_creation_input_tokens is not None:
            start_usage["cache_creation_input_tokens"] = usage.cache_creation_input_tokens
        await emit(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": f"msg_{seen.request_id}",
                    "type": "message",
                    "role": "assistant",
                    "model": reply.model or seen.body.get("model"),
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": start_usage,
                },
            },
        )
        await emit(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        )
        await emit("ping", {"type": "ping"})
        for index, piece in enumerate(reply.pieces()):
            if reply.fail_after is not None and index == reply.fail_after:
                return await self._fail(emit)
            if reply.interval_s:
                await anyio.sleep(reply.interval_s)
            await emit(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": piece},
                },
            )
            seen.chunks_sent += 1
        if reply.fail_after is not None and reply.fail_after >= seen.chunks_sent:
            return await self._fail(emit)
        await emit("content_block_stop", {"type": "content_block_stop", "index": 0})
        # The API's message_delta usage is cumulative: output tokens, and again the input and
        # cache counts (the SDK keeps message_start's values when these are omitted).
        await emit(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": reply.stop_reason, "stop_sequence": None},
                "usage": start_usage | {"output_tokens": usage.output_tokens},
            },
        )
        await emit("message_stop", {"type": "message_stop"})
        seen.ended = "completed"
        return True

    async def _fail(self, emit: Emit) -> bool:
        reply, seen = self.reply, self.seen
        if reply.failure == "drop":
            seen.ended = "dropped"
            return False
        if reply.failure == "stall":
            seen.ended = "stalled"
            await anyio.sleep_forever()
        if reply.failure == "end":
            seen.ended = "ended early"
            return True
        seen.ended = f"error {reply.error_type}"
        await emit(
            "error",
            error_body(reply.error_type or "api_error", reply.error_message, seen.request_id),
        )
        return True
