"""What a model backend must do, and the typed events it yields.

A **backend** talks to a model provider. Given a :class:`ModelRequest` it yields the output as
typed events: :class:`TextDelta` for each piece of text as it arrives, then exactly one
:class:`Completion` that says how the output ended. Backends never know agents (the use cases
in ``jobs.agents``): a new provider is one module here plus its line in
``jobs.backends.BACKENDS``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Protocol

from pydantic import BaseModel


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """One request to a model. ``output_schema`` asks for JSON that validates against it.

    ``offline_reply`` is the agent's deterministic stand-in answer, what the offline ``demo``
    backend streams; real backends ignore it.
    """

    model: str
    system: str
    prompt: str
    max_tokens: int
    offline_reply: str
    output_schema: type[BaseModel] | None = None
    #: ``output_config.effort`` (``low`` … ``max``), when someone chose one.
    effort: str | None = None


@dataclass(frozen=True, slots=True)
class TokenUsage:
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None

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


BackendEvent = TextDelta | Completion


class Backend(Protocol):
    """A model provider.

    ``stream`` yields :class:`TextDelta` events and then exactly one :class:`Completion`.
    Closing the iterator early (``aclose``) must close the upstream stream promptly, so that
    nobody pays for tokens no one reads. Failures are raised as ``jobs.errors.RunError``.
    ``default_model`` is what a request names when the caller chose no model.
    """

    name: str
    default_model: str

    def stream(self, request: ModelRequest) -> AsyncGenerator[BackendEvent, None]: ...

    async def aclose(self) -> None: ...
