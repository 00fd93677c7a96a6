"""A fake Anthropic Messages API: a small Starlette app on a free port, in a thread.

The service under test talks to it with the real ``anthropic`` SDK (``ANTHROPIC_BASE_URL``),
so it must speak the real wire format, checked against the SDK's own decoder and its streaming
fixtures (``tests/lib/streaming/fixtures/*.txt`` in anthropic-sdk-python):

- ``POST /v1/messages`` with ``"stream": true`` answers ``text/event-stream`` frames
  ``event: <type>\\ndata: <json>\\n\\n``: ``message_start`` (usage with input and cache
  tokens), ``content_block_start`` (a ``text`` block), ``ping``, ``content_block_delta``
  (``text_delta``)…, ``content_block_stop``, ``message_delta`` (stop reason, cumulative
  usage), ``message_stop``; or, mid-stream, an ``error`` event;
- a reply with tool calls streams each as the API does: ``content_block_start`` with
  ``{"type": "tool_use", "id": "toolu_…", "name", "input": {}}``, ``content_block_delta``
  events of ``input_json_delta`` (an empty ``partial_json`` first, then the JSON in pieces),
  ``content_block_stop``; the message then stops with ``stop_reason`` ``tool_use``. A reply
  that is only tool calls has no text block, as when the model calls a tool at once;
- requests are checked as the API checks a conversation (400 ``invalid_request_error``):
  messages alternate from ``user``, every ``tool_use`` is answered by a ``tool_result`` in
  the next message (and no result answers a call that was not made), text blocks are not
  empty, a conversation with tool blocks defines ``tools``, and a conversation that ends with
  an assistant turn (a prefill) names a model that takes one (:data:`ACCEPTS_PREFILL`);
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
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
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
class ToolCall:
    """A tool call in a scripted reply; ``json_chunks`` cut its input's JSON (default: the
    compact JSON in 6-character pieces); ``id`` defaults to a fresh ``toolu_…`` id."""

    name: str
    input: dict[str, Any]
    id: str | None = None
    json_chunks: Sequence[str] | None = None

    def pieces(self) -> list[str]:
        if self.json_chunks is not None:
            return list(self.json_chunks)
        text = json.dumps(self.input, separators=(",", ":"), ensure_ascii=False)
        return [text[at : at + 6] for at in range(0, len(text), 6)]


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
    tool_calls: Sequence[ToolCall] = ()
    #: Default: ``tool_use`` when the reply calls tools, else ``end_turn``.
    stop_reason: str | None = None
    model: str | None = None  # default: the model the request asked for
    status: int = 200
    error_type: str | None = None
    error_message: str = "scripted failure"
    headers: dict[str, str] = field(default_factory=dict)
    fail_after: int | None = None
    failure: Literal["error", "drop", "stall", "end"] = "error"

    @property
    def stop(self) -> str:
        if self.stop_reason is not None:
            return self.stop_reason
        return "tool_use" if self.tool_calls else "end_turn"

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
    #: ``time.perf_counter()`` when the request arrived and when its answer's last event was
    #: sent (the fake runs in the caller's process, so a benchmark can compare them).
    received_at: float = field(default_factory=time.perf_counter)
    stopped_at: float | None = None
    #: The ``tool_use`` blocks this answer sent (``id``, ``name``, ``input``).
    tool_uses: list[dict[str, Any]] = field(default_factory=list)
    hung_up: threading.Event = field(default_factory=threading.Event)

    @property
    def messages(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.body["messages"]
        return messages

    def tool_results(self) -> list[dict[str, Any]]:
        """The ``tool_result`` blocks of this request's last message, in order."""
        content = self.messages[-1]["content"]
        if isinstance(content, str):
            return []
        return [block for block in content if block.get("type") == "tool_result"]

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


class TokenAccounting:
    """Usage counted from what a request sends, as the API bills it (about 4 characters a
    token). Without ``cache_control`` every input token is billed as input. With the
    top-level ``cache_control``, the longest prefix (system, tools, the first k messages)
    that an earlier request wrote is read from the cache, the rest of the request is written
    to it, and nothing is billed as plain input (the marker is on the last block)."""

    def __init__(self) -> None:
        self.cached: set[str] = set()

    def usage(self, body: dict[str, Any], output_tokens: int) -> Usage:
        head = json.dumps([body.get("system"), body.get("tools")], sort_keys=True)
        messages = body.get("messages") or []
        prefixes = [
            head + json.dumps(messages[:k], sort_keys=True) for k in range(len(messages) + 1)
        ]
        total = _tokens(prefixes[-1])
        if not body.get("cache_control"):
            return Usage(total, output_tokens)
        read = max((_tokens(p) for p in prefixes if p in self.cached), default=0)
        self.cached.add(prefixes[-1])
        return Usage(0, output_tokens, cache_read_input_tokens=read,
                     cache_creation_input_tokens=total - read)  # fmt: skip


def _tokens(text: str) -> int:
    return len(text) // 4 + 1


class FakeAnthropic:
    """The fake API. ``script`` the replies, ``start`` it, point the SDK at ``url``. With
    ``accounting`` set, each reply's usage is counted from its request instead of scripted."""

    def __init__(self, *replies: Reply, api_key: str = API_KEY) -> None:
        self.accounting: TokenAccounting | None = None
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
        self.accounting = None

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
        problem = check_conversation(seen.body)
        if problem is not None:
            seen.ended = "400"
            return self._error(seen, 400, "invalid_request_error", problem)
        reply = self._next_reply()
        if self.accounting is not None:
            usage = self.accounting.usage(seen.body, reply.usage.output_tokens)
            reply = replace(reply, usage=usage)
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


#: Models that take an assistant prefill (a conversation ending with an assistant turn, which
#: the model continues): Claude models before 4.6. Anthropic's migration guide: 4.6 and later
#: answer a prefill with a 400.
ACCEPTS_PREFILL = frozenset({"claude-sonnet-4-5", "claude-haiku-4-5", "claude-3-7-sonnet-latest"})


def check_conversation(body: dict[str, Any]) -> str | None:
    """What the API would refuse in this request's messages (its own wording), or None."""
    messages = body.get("messages") or []
    calls: set[str] = set()
    has_tool_blocks = False
    for n, message in enumerate(messages):
        role = message.get("role")
        if role != ("user" if n % 2 == 0 else "assistant"):
            return f"messages.{n}: roles must alternate between user and assistant"
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        results = [b["tool_use_id"] for b in blocks if b.get("type") == "tool_result"]
        if any(b.get("type") == "text" and not b.get("text") for b in blocks):
            return f"messages.{n}: text content blocks must be non-empty"
        if calls - set(results):
            missing = ", ".join(sorted(calls - set(results)))
            return (
                f"messages.{n}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {missing}. Each `tool_use` block must have a "
                "corresponding `tool_result` block in the next message."
            )
        if set(results) - calls:
            unexpected = ", ".join(sorted(set(results) - calls))
            return (
                f"messages.{n}.content: unexpected `tool_use_id` found in `tool_result` "
                f"blocks: {unexpected}. Each `tool_result` block must have a corresponding "
                "`tool_use` block in the previous message."
            )
        if results and any(b.get("type") != "tool_result" for b in blocks[: len(results)]):
            return f"messages.{n}: `tool_result` blocks must come first in the message"
        calls = {b["id"] for b in blocks if b.get("type") == "tool_use"}
        has_tool_blocks = has_tool_blocks or bool(calls or results)
    if calls:
        return "the last message has `tool_use` blocks: they need a user turn of results"
    if has_tool_blocks and not body.get("tools"):
        return "Requests which include `tool_use` or `tool_result` blocks must define tools."
    last = messages[-1] if messages else {}
    if last.get("role") == "assistant" and body.get("model") not in ACCEPTS_PREFILL:
        return "Prefilling assistant messages is not supported for this model."
    return None


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
        with_text = bool(reply.text or reply.chunks) or not reply.tool_calls
        if with_text:
            await emit(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            )
        await emit("ping", {"type": "ping"})
        for index, piece in enumerate(reply.pieces() if with_text else []):
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
        if with_text:
            await emit("content_block_stop", {"type": "content_block_stop", "index": 0})
        for index, call in enumerate(reply.tool_calls, start=int(with_text)):
            await self._tool_use(emit, index, call)
        # The API's message_delta usage is cumulative: output tokens, and again the input and
        # cache counts (the SDK keeps message_start's values when these are omitted).
        await emit(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": reply.stop, "stop_sequence": None},
                "usage": start_usage | {"output_tokens": usage.output_tokens},
            },
        )
        await emit("message_stop", {"type": "message_stop"})
        seen.stopped_at = time.perf_counter()
        seen.ended = "completed"
        return True

    async def _tool_use(self, emit: Emit, index: int, call: ToolCall) -> None:
        seen = self.seen
        number = len(seen.tool_uses) + 1
        tool_id = call.id or f"toolu_01Fake{seen.request_id[-4:]}{number:02d}{'x' * 10}"
        seen.tool_uses.append({"id": tool_id, "name": call.name, "input": call.input})
        block = {"type": "tool_use", "id": tool_id, "name": call.name, "input": {}}
        await emit(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": block},
        )
        for piece in ["", *call.pieces()]:
            if self.reply.interval_s:
                await anyio.sleep(self.reply.interval_s)
            await emit(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": piece},
                },
            )
        await emit("content_block_stop", {"type": "content_block_stop", "index": index})

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
