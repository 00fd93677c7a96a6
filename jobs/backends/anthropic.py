"""``anthropic``: Claude through the official SDK, streamed as it is generated.

One ``AsyncAnthropic`` client is built by the lifespan (``ANTHROPIC_API_KEY``,
``ANTHROPIC_BASE_URL``, ``ANTHROPIC_TIMEOUT_S``, ``ANTHROPIC_MAX_RETRIES``) and closed at
shutdown. Each run is one ``client.messages.stream(...)``; every text delta is yielded the
moment it arrives, and the accumulated message gives the model id, the usage (cache tokens
included) and the stop reason.

**Structured output.** A request with an ``output_schema`` (``feature-suggestion``) asks for
the API's structured outputs: ``output_config={"format": {"type": "json_schema", ...}}`` with
the schema made strict by the SDK's own ``transform_schema``. The answer is then one text block
holding the JSON document, streamed token by token as ``text_delta`` like any text, so the
client watches the document grow and the runner validates the concatenation with the agent's
pydantic model. Two alternatives were rejected:

- the SDK's ``output_format=Model`` shortcut parses the text inside the stream, at
  ``content_block_stop``, and raises before ``message_delta`` arrives: a ``max_tokens``
  truncation would surface as a bare pydantic error with no stop reason and no usage;
- a forced tool (``tool_choice`` + ``input_schema``) streams ``input_json_delta`` in coarse
  chunks (the API buffers tool input unless a beta is enabled) and adds a tool round-trip
  shape the agent does not need.

Constraints the API's grammar cannot enforce (3-5 items) travel in the schema's descriptions;
the agent's model still enforces them, so output that slips through ends as ``OUTPUT_INVALID``.

**Tools.** A request with ``tools`` sends them as the API's ``tools``; its ``turns`` become
the conversation after the prompt: an assistant message with the model's text and
``tool_use`` blocks as it wrote them, then a user message of ``tool_result`` blocks
(``is_error`` when the tool refused). A tool call streams as ``content_block_start`` (a
``tool_use`` block with an empty input), ``input_json_delta`` pieces and
``content_block_stop``; the SDK accumulates the pieces, and the complete block (at its
``content_block_stop``) is yielded as one :class:`ToolUse`. Structured output and tools go
together in one request (the API allows both): the grammar constrains the model's text, not
its tool calls, so a structured agent's final, tool-free answer is the JSON document.

**Prompt caching.** Every request sets the top-level ``cache_control`` (ephemeral, the API's
default 5 minutes): the API marks the last cacheable block of the request, so the system
prompt, the tool definitions and every earlier turn are written to the cache once and read
from it by the run's next step, which sends them again (a five-step run no longer pays full
price for its first turns five times). The usage of each call says what was read and written
(``cache_read_input_tokens``, ``cache_creation_input_tokens``); a prefix shorter than the
model's minimum is simply not cached.

**Failures** become :class:`~jobs.errors.RunError` codes (the SDK retries the initial request
itself, ``ANTHROPIC_MAX_RETRIES`` times, honouring ``retry-after``):

==============================================  =======================================
upstream                                        ``error`` event
==============================================  =======================================
429 / ``rate_limit_error``                      ``UPSTREAM_RATE_LIMITED``, retryable,
                                                ``retryAfterMs`` when the API said
529 / in-stream ``overloaded_error``            ``UPSTREAM_OVERLOADED``, retryable
5xx / ``api_error``, connection refused,        ``UPSTREAM_UNAVAILABLE``, retryable
connection lost or read timeout mid-stream,     (deltas already sent are kept)
a stream that ends before ``message_stop``
401 / 403                                       ``AGENT_ERROR``: names the configuration
                                                problem, never the key
other 4xx (bad request, unknown model...)       ``AGENT_ERROR`` with the API's message
==============================================  =======================================

**Cancellation.** The stream is read inside ``async with``: closing this generator (the runner
does on cancellation, timeout and shutdown) closes the HTTP response at once, so the API stops
generating tokens nobody will read.
"""

from __future__ import annotations

import email.utils
import functools
import logging
import re
import time
from collections.abc import AsyncGenerator, Mapping
from typing import Any, cast

import anthropic
import httpx2
from anthropic.types import (
    CacheControlEphemeralParam,
    MessageParam,
    OutputConfigParam,
    TextBlockParam,
    ToolParam,
    ToolResultBlockParam,
    ToolUseBlockParam,
    Usage,
)
from pydantic import BaseModel

from jobs import tracing
from jobs.backends.base import (
    AssistantTurn,
    BackendEvent,
    Completion,
    ModelRequest,
    TextBlock,
    TextDelta,
    TokenUsage,
    ToolResultBlock,
    ToolUse,
)
from jobs.errors import (
    AgentFailed,
    RunError,
    UpstreamOverloaded,
    UpstreamRateLimited,
    UpstreamUnavailable,
)

logger = logging.getLogger(__name__)

#: Stop reasons that end the output before the model finished it (``max_tokens`` truncates).
CUT_SHORT = frozenset({"max_tokens", "refusal", "model_context_window_exceeded"})


class AnthropicBackend:
    """Streams Claude's answers with the official SDK (see the module docstring)."""

    name = "anthropic"

    def __init__(
        self,
        *,
        api_key: str,
        default_model: str,
        base_url: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 2,
        prompt_cache: bool = True,
    ) -> None:
        if not api_key:
            raise ValueError("the anthropic backend needs an API key (ANTHROPIC_API_KEY)")
        self._api_key = api_key
        self.default_model = default_model
        # Off only to measure what caching saves (bench.caching).
        self._cache_control: CacheControlEphemeralParam | anthropic.Omit = (
            _CACHE_PREFIX if prompt_cache else anthropic.omit
        )
        # At debug level the SDK logs whole request bodies (the job's input): never below info.
        sdk_logger = logging.getLogger("anthropic")
        if sdk_logger.getEffectiveLevel() < logging.INFO:
            sdk_logger.setLevel(logging.INFO)
        # base_url=None lets the SDK use its default; the SDK would also read
        # ANTHROPIC_BASE_URL itself, but Settings already did, once.
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=base_url,
            timeout=timeout_s,
            max_retries=max_retries,
        )

    def continues(self, model: str) -> bool:
        """Whether ``model`` continues a partial answer (an assistant prefill): Claude models
        before 4.6 do; 4.6 and later answer a prefill with a 400, as do names this cannot
        read (the runner then cuts the interrupted step with a ``rewind`` instead)."""
        return accepts_prefill(model)

    async def stream(self, request: ModelRequest) -> AsyncGenerator[BackendEvent, None]:
        sent = 0  # characters yielded, to say how much output a failure left behind
        opened = stopped = False  # the answer's stream began; it ended with message_stop
        # The API refuses a prefill that ends with whitespace: send it without, and drop that
        # whitespace from the start of the continuation if the model writes it again.
        pending = request.prefill[len(request.prefill.rstrip()) :]
        try:
            async with self._client.messages.stream(
                model=request.model,
                max_tokens=request.max_tokens,
                system=request.system,
                messages=_messages(request),
                tools=_tools(request),
                output_config=_output_config(request.output_schema, request.effort),
                extra_headers=tracing.headers(),
                cache_control=self._cache_control,
            ) as stream:
                opened = True
                async for event in stream:
                    if event.type == "text" and event.text:
                        text = event.text
                        if pending:
                            text, pending = _without_prefix(text, pending)
                            if not text:
                                continue
                        sent += len(text)
                        yield TextDelta(text)
                    elif event.type == "content_block_stop":
                        block = event.content_block
                        if block.type == "tool_use":
                            yield ToolUse(block.id, block.name, dict(block.input))
                    elif event.type == "message_stop":
                        stopped = True
                if not stopped:
                    raise self._unavailable("the Anthropic API's stream ended early", sent)
                message = stream.current_message_snapshot
                request_id = stream.request_id
        except anthropic.APIStatusError as exc:
            raise self._status_error(exc, sent) from exc
        except (anthropic.APIConnectionError, httpx2.TransportError) as exc:
            # Which class the SDK raises for a lost connection or a read timeout has changed
            # between its releases (httpx's error mid-stream, its own wrapper before the body
            # or, lately, both); what the client is told depends on what happened instead.
            raise self._connection_failed(exc, opened, sent) from exc
        except ValueError as exc:
            # The SDK could not parse a tool call's input as JSON: the model's fault.
            raise AgentFailed(
                f"the model wrote a tool call that is not valid JSON{_after(sent)}"
            ) from exc
        yield Completion(
            model=message.model,
            usage=_usage(message.usage),
            stop_reason=message.stop_reason,
            cut_short=message.stop_reason in CUT_SHORT,
            request_id=request_id,
        )

    async def aclose(self) -> None:
        await self._client.close()

    def _status_error(self, exc: anthropic.APIStatusError, sent: int) -> RunError:
        """Map an HTTP error answer, or an in-stream ``error`` event (status 200), to a code."""
        status, kind = exc.status_code, exc.type or "error"
        label = f"{status} {kind}" if status != 200 else f"in-stream {kind}"
        ref = f" (request-id {exc.request_id})" if exc.request_id else ""
        logger.warning(
            "anthropic request failed: %s",
            label,
            extra={"upstream_status": status, "upstream_type": kind, "request_id": exc.request_id},
        )
        if status == 429 or kind == "rate_limit_error":
            wait_ms = retry_after_ms(exc.response.headers) if status == 429 else None
            wait = f"; retry after {wait_ms / 1000:g} s" if wait_ms is not None else ""
            return UpstreamRateLimited(
                f"the Anthropic API rate limit was reached{_after(sent)}{wait}{ref}",
                retry_after_ms=wait_ms,
            )
        if status == 529 or kind == "overloaded_error":
            return UpstreamOverloaded(f"the Anthropic API is overloaded{_after(sent)}{ref}")
        if status == 401 or kind == "authentication_error":
            # Never the key, and not the upstream's message either: a proxy might echo it.
            return AgentFailed(
                f"the Anthropic API rejected the service's credentials ({label}): "
                f"ANTHROPIC_API_KEY is missing, invalid or revoked{ref}"
            )
        if status == 403 or kind == "permission_error":
            return AgentFailed(
                f"the Anthropic API refused this request ({label}): ANTHROPIC_API_KEY is not "
                f"allowed to use this model or feature{ref}"
            )
        if status >= 500 or kind == "api_error":
            return self._unavailable(f"the Anthropic API failed ({label})", sent, ref)
        detail = self._redact(exc.api_message or "no detail")
        hint = ""
        if status == 404 or kind == "not_found_error":
            hint = " (check ANTHROPIC_MODEL and ALLOWED_MODELS)"
        return AgentFailed(f"the Anthropic API refused the request ({label}): {detail}{hint}{ref}")

    def _connection_failed(self, exc: Exception, opened: bool, sent: int) -> UpstreamUnavailable:
        """Before the answer began: unreachable or no answer in time (after the SDK's retries).
        After: the connection was lost, or the stream went silent for ANTHROPIC_TIMEOUT_S
        (pings included)."""
        timed_out = isinstance(exc, anthropic.APITimeoutError | httpx2.TimeoutException)
        if opened:
            what = (
                "the Anthropic API stopped sending"
                if timed_out
                else "the connection to the Anthropic API was lost"
            )
        else:
            what = (
                "the Anthropic API did not answer in time"
                if timed_out
                else "the Anthropic API could not be reached"
            )
        return self._unavailable(what, sent)

    def _unavailable(self, what: str, sent: int, ref: str = "") -> UpstreamUnavailable:
        return UpstreamUnavailable(f"{what}{_after(sent)}{ref}")

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "[redacted]")


def retry_after_ms(headers: Mapping[str, str]) -> int | None:
    """How long the API asked us to wait, from ``retry-after-ms`` or ``retry-after`` (seconds or
    an HTTP date), as the SDK reads them; None when it did not say."""
    for name, scale in (("retry-after-ms", 1.0), ("retry-after", 1000.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            wait_ms = float(value) * scale
        except ValueError:
            parsed = email.utils.parsedate_tz(value)
            if parsed is None:
                continue
            wait_ms = (email.utils.mktime_tz(parsed) - time.time()) * 1000
        return max(0, round(wait_ms))
    return None


def _after(sent: int) -> str:
    return f" after {sent} characters of output" if sent else ""


def _usage(usage: Usage) -> TokenUsage:
    return TokenUsage(
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_input_tokens=usage.cache_read_input_tokens,
        cache_creation_input_tokens=usage.cache_creation_input_tokens,
    )


def _messages(request: ModelRequest) -> list[MessageParam]:
    """The prompt, then each earlier step: the model's turn and the tool results; then the
    prefill (the interrupted step's text, for a model that continues it) as the last turn."""
    messages: list[MessageParam] = [{"role": "user", "content": request.prompt}]
    for turn in request.turns:
        if isinstance(turn, AssistantTurn):
            content = [_block(block) for block in turn.content if not _empty(block)]
            messages.append({"role": "assistant", "content": content})
        else:
            results = [_result(result) for result in turn.results]
            messages.append({"role": "user", "content": results})
    if request.prefill.rstrip():
        messages.append({"role": "assistant", "content": request.prefill.rstrip()})
    return messages


def _without_prefix(text: str, pending: str) -> tuple[str, str]:
    """``text`` without the start it shares with ``pending`` (whitespace a prefill left out),
    and what of ``pending`` may still come (only if all of ``text`` matched)."""
    shared = 0
    while shared < min(len(text), len(pending)) and text[shared] == pending[shared]:
        shared += 1
    rest = pending[shared:] if shared == len(text) else ""
    return text[shared:], rest


#: A Claude model name's version: ``claude-sonnet-4-5``, ``claude-opus-4-1-20250805``,
#: ``claude-3-7-sonnet-latest``, ``claude-sonnet-4-20250514`` (a date, not a minor version).
_VERSION_RE = re.compile(r"^claude-(?:(?:opus|sonnet|haiku)-)?(\d{1,2})(?:[-.](\d{1,2})(?!\d))?")


def accepts_prefill(model: str) -> bool:
    """Whether the API takes an assistant prefill for ``model``: Claude models before 4.6 do;
    Anthropic's migration guide says 4.6 and later refuse it with a 400. A name this cannot
    read counts as refusing (a ``rewind`` is always correct, a refused prefill fails)."""
    match = _VERSION_RE.match(model)
    if match is None:
        return False
    major, minor = int(match[1]), int(match[2] or 0)
    return (major, minor) < (4, 6)


def _empty(block: TextBlock | ToolUse) -> bool:
    # The API refuses empty text blocks.
    return isinstance(block, TextBlock) and not block.text


def _block(block: TextBlock | ToolUse) -> TextBlockParam | ToolUseBlockParam:
    if isinstance(block, TextBlock):
        return {"type": "text", "text": block.text}
    return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}


def _result(result: ToolResultBlock) -> ToolResultBlockParam:
    param: ToolResultBlockParam = {
        "type": "tool_result",
        "tool_use_id": result.tool_use_id,
        "content": result.content,
    }
    if result.is_error:
        param["is_error"] = True
    return param


def _tools(request: ModelRequest) -> list[ToolParam] | anthropic.Omit:
    # The entries are the Messages API's own shape (name, description, input_schema).
    return [cast(ToolParam, tool) for tool in request.tools] if request.tools else anthropic.omit


def _output_config(
    schema: type[BaseModel] | None, effort: str | None
) -> OutputConfigParam | anthropic.Omit:
    config: dict[str, Any] = {}
    if schema is not None:
        config["format"] = {"type": "json_schema", "schema": _strict_schema(schema)}
    if effort is not None:
        config["effort"] = effort
    return cast(OutputConfigParam, config) if config else anthropic.omit


_CACHE_PREFIX: CacheControlEphemeralParam = {"type": "ephemeral"}


@functools.cache
def _strict_schema(schema: type[BaseModel]) -> dict[str, Any]:
    # by_alias: the API must produce the field names the agent's model validates.
    return anthropic.transform_schema(schema.model_json_schema(by_alias=True))
