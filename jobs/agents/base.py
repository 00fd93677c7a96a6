"""What an agent is, and what a model backend must do for it.

An **agent** owns a use case: its input model (validated at ``POST /jobs``), the request it
makes of a model, and how the model's full output becomes the ``complete`` event's result.
A **backend** talks to a model provider: it streams the output as text deltas and ends with a
:class:`Completion`. Agents never talk to providers and backends never know agents, so a new
provider is one new backend and a new use case is one new agent.
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationInfo,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

# The text rules, as regexes that mean the same in ECMA-262 (JSON Schema's dialect), Python's
# re and pydantic's Rust engine: character classes of \uXXXX escapes only, no \s or \d (whose
# meaning differs between them) and no anchors (Python's $ also matches before a final \n).

#: A control character (Unicode Cc), line breaks and tabs included: not in a one-line text.
LINE_CONTROL = r"[\u0000-\u001f\u007f-\u009f]"
#: A control character other than tab, line feed and carriage return: not in any text.
TEXT_CONTROL = r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]"
#: A character that is neither a control character nor whitespace (Unicode White_Space, all
#: of which Python's str.strip removes): a required text must hold one.
VISIBLE = r"[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


@dataclass(frozen=True, slots=True)
class TextRules:
    """``Annotated`` metadata for a text field: no character that ``control`` matches, and when
    ``visible``, at least one ``VISIBLE`` character. The JSON Schema says the same, as
    ``"not": {"pattern": control}`` and ``"pattern": VISIBLE``, so that the published schema
    and the validation agree (``tests/jobs/test_agent_schemas.py`` checks both ways)."""

    control: str
    visible: bool = False

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        has_control = re.compile(self.control).search
        has_visible = re.compile(VISIBLE).search
        visible = self.visible

        def check(value: str) -> str:
            if has_control(value):
                raise ValueError("must not contain control characters")
            if visible and not has_visible(value):
                raise ValueError("must contain a character that is not whitespace")
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        if self.visible:
            json_schema["pattern"] = VISIBLE
        json_schema["not"] = {"pattern": self.control}
        return json_schema


#: Surrounding whitespace is dropped after validation, so a length is checked as sent (as the
#: schema's ``maxLength`` says) and the model still gets the text without it.
STRIP = AfterValidator(str.strip)


class AgentInput(BaseModel):
    """Base of agent inputs: camelCase fields as in the API, unknown fields rejected, and
    strict types: an integer field takes a JSON integer, not ``true``, ``1.0`` or ``"5"``.

    Text fields say what they accept in their schema (see :class:`TextRules`):
    what the published JSON Schema accepts, the model accepts, and the other way round.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


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
