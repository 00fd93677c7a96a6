"""What an agent is, and what a model backend must do for it.

An **agent** owns a use case: its input model (validated at ``POST /jobs``), the request it
makes of a model, and how the model's full output becomes the ``complete`` event's result.
A **backend** talks to a model provider: it streams the output as text deltas and ends with a
:class:`Completion`. Agents never talk to providers and backends never know agents, so a new
provider is one new backend and a new use case is one new agent.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, ValidationInfo


class AgentInput(BaseModel):
    """Base of agent inputs: camelCase fields as in the API, unknown fields rejected."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


def check_allowed_model(value: str | None, info: ValidationInfo) -> str | None:
    """A field validator: the model must be one ``ALLOWED_MODELS`` names.

    The allow-list arrives as validation context (``{"allowed_models": [...]}``): a caller
    must not be able to pick an arbitrary, costly model.
    """
    if value is None:
        return None
    allowed: Sequence[str] = (info.context or {}).get("allowed_models", ())
    if value not in allowed:
        raise ValueError(f"model must be one of: {', '.join(allowed) or '(none allowed)'}")
    return value


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """One request to a model. ``output_schema`` asks for JSON that validates against it.

    ``offline_reply`` is the agent's deterministic stand-in answer: what the offline ``demo``
    backend streams. Real backends ignore it.
    """

    model: str
    system: str
    prompt: str
    max_tokens: int
    offline_reply: str
    output_schema: type[BaseModel] | None = None


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
class Completion:
    """How a model's output ended. The text itself is what the deltas carried."""

    model: str
    usage: TokenUsage
    stop_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    """A model provider.

    ``stream`` yields the output as text deltas and then exactly one :class:`Completion`.
    Closing the iterator early (``aclose``) must close the upstream stream promptly, so that
    nobody pays for tokens no one reads. Failures are raised as ``jobs.errors.RunError``.
    """

    name: str

    def stream(self, request: ModelRequest) -> AsyncGenerator[str | Completion, None]: ...

    async def aclose(self) -> None: ...


class Agent(Protocol):
    """A use case. ``result`` raises ``OutputInvalid`` when the output does not validate."""

    name: ClassVar[str]
    description: ClassVar[str]
    input_model: ClassVar[type[AgentInput]]

    def request(self, agent_input: Any, *, default_model: str) -> ModelRequest: ...

    def result(self, output: str) -> dict[str, Any]: ...
