"""What a model backend must do, and the typed events it yields.

A **backend** talks to a model provider. Given a :class:`ModelRequest` it yields the output as
typed events: :class:`TextDelta` for each piece of text as it arrives, a :class:`ToolUse` for
each tool call the model makes (once its input is complete), then exactly one
:class:`Completion` that says how the output ended (``stop_reason`` ``"tool_use"`` when the
model waits for tool results).

A request is one model call. A conversation with tools is the prompt plus ``turns``: each
:class:`AssistantTurn` (the model's text and tool calls, as it made them) followed by the
:class:`ToolResults` that answer its calls, in the order of the calls. Running the tools and
deciding when to call the model again is the agent loop's business (``jobs.running.loop``), not the
backend's. Backends never know agents (the use cases
in ``jobs.agents``): a new provider is one module here plus its line in
``jobs.backends.BACKENDS``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """One request to a model. ``output_schema`` asks for JSON that validates against it."""

    model: str
    system: str
    prompt: str
    max_tokens: int
    output_schema: type[BaseModel] | None = None
    #: ``output_config.effort`` (``low`` … ``max``), when someone chose one.
    effort: str | None = None
    #: The tools offered to the model: Messages API ``tools`` entries (name, description,
    #: input_schema). Empty: no tools.
    tools: tuple[dict[str, Any], ...] = ()
    #: The conversation after the prompt (earlier steps of the same run).
    turns: tuple[Turn, ...] = ()
    #: The start of this step's answer, already written (a run taken over mid-step): the
    #: model continues after it. Only for a backend whose ``continues(model)`` says it can.
    prefill: str = ""


@dataclass(frozen=True, slots=True)
class ToolUse:
    """A tool call the model made: ``id`` is the provider's (answered by the result with the
    same id), ``input`` what the model wrote (untrusted: the tool validates it)."""

    id: str
    name: str
    input: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TextBlock:
    text: str


@dataclass(frozen=True, slots=True)
class AssistantTurn:
    """What the model said in one step: its text and tool calls, in order."""

    content: tuple[TextBlock | ToolUse, ...]


@dataclass(frozen=True, slots=True)
class ToolResultBlock:
    """The answer to one tool call; ``is_error`` when the tool refused or failed."""

    tool_use_id: str
    content: str
    is_error: bool = False


@dataclass(frozen=True, slots=True)
class ToolResults:
    """The results of one step's tool calls, in the order of the calls."""

    results: tuple[ToolResultBlock, ...]


Turn = AssistantTurn | ToolResults


@dataclass(frozen=True, slots=True)
class TokenUsage:
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None

    def __add__(self, other: TokenUsage) -> TokenUsage:
        """The usage of two calls together (a cache count stays None if neither had one)."""
        return TokenUsage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_input_tokens=_add(
                self.cache_read_input_tokens, other.cache_read_input_tokens
            ),
            cache_creation_input_tokens=_add(
                self.cache_creation_input_tokens, other.cache_creation_input_tokens
            ),
        )

    def to_event(self) -> dict[str, int]:
        usage = {"inputTokens": self.input_tokens, "outputTokens": self.output_tokens}
        if self.cache_read_input_tokens is not None:
            usage["cacheReadInputTokens"] = self.cache_read_input_tokens
        if self.cache_creation_input_tokens is not None:
            usage["cacheCreationInputTokens"] = self.cache_creation_input_tokens
        return usage


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the model's text, in order."""

    text: str


@dataclass(frozen=True, slots=True)
class Completion:
    """How a model's output ended. The text itself is what the deltas carried.

    ``cut_short`` is the backend's verdict that the model stopped before it finished (a
    ``max_tokens`` stop, a refusal): the backend knows its provider's stop reasons, the runner
    only reports them. ``request_id`` is the provider's id of the request, for support.
    """

    model: str
    usage: TokenUsage
    stop_reason: str | None = None
    cut_short: bool = False
    request_id: str | None = None


BackendEvent = TextDelta | ToolUse | Completion


def _add(a: int | None, b: int | None) -> int | None:
    return None if a is None and b is None else (a or 0) + (b or 0)


class Backend(Protocol):
    """A model provider.

    ``stream`` yields :class:`TextDelta` and :class:`ToolUse` events in the order the model
    wrote them, and then exactly one :class:`Completion`. A backend that cannot use tools
    ignores ``tools`` and ``turns`` and never yields a :class:`ToolUse`.
    Closing the iterator early (``aclose``) must close the upstream stream promptly, so that
    nobody pays for tokens no one reads. Failures are raised as ``jobs.errors.RunError``.
    ``default_model`` is what a request names when the caller chose no model.
    A backend may also have ``continues(model) -> bool``: whether that model continues a
    partial answer (``ModelRequest.prefill``) exactly (see :func:`continues`).
    """

    name: str
    default_model: str

    def stream(self, request: ModelRequest) -> AsyncGenerator[BackendEvent, None]: ...

    async def aclose(self) -> None: ...


def continues(backend: Backend, model: str) -> bool:
    """Whether ``backend``'s ``model`` continues a partial answer, so that a run taken over
    mid-step repeats no text; a backend without a ``continues`` method cannot (the runner
    taking the run over then cuts the interrupted step's text and asks for the step again)."""
    method = getattr(backend, "continues", None)
    return bool(method(model)) if callable(method) else False
