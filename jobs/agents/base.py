"""What an agent is: a use case with an input model, a request to a model, and a result.

An **agent** owns a use case: its input model (validated at ``POST /jobs``), the request it
makes of a model (:class:`~jobs.backends.ModelRequest`), and how the model's full output
becomes the ``complete`` event's result. Agents never talk to providers; the backend is
chosen by the service (``jobs.backends``). A new use case is one module here plus its line in
``jobs.agents.default_agents``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Protocol

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationInfo,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from jobs.backends import ModelRequest

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


def check_allowed_model(value: str | None, info: ValidationInfo) -> str | None:
    """The model must be one ``ALLOWED_MODELS`` names.

    The allow-list arrives as validation context (``{"allowed_models": [...]}``): a caller
    must not be able to pick an arbitrary, costly model.
    """
    if value is None:
        return None
    allowed: Sequence[str] = (info.context or {}).get("allowed_models", ())
    if value not in allowed:
        raise ValueError(f"model must be one of: {', '.join(allowed) or '(none allowed)'}")
    return value


_MODEL_CHOICE = AfterValidator(check_allowed_model)

#: The type of an input field that picks the model: checked against ``ALLOWED_MODELS``, and
#: published in the agent's JSON Schema as an ``enum`` of them.
ModelChoice = Annotated[str | None, _MODEL_CHOICE]


class AgentInput(BaseModel):
    """Base of agent inputs: camelCase fields in the API (snake_case in Python), unknown
    fields rejected, and strict types: an integer field takes a JSON integer, not ``true``,
    ``1.0`` or ``"5"``.

    Text fields say what they accept in their schema (see :class:`TextRules`): what the
    published JSON Schema accepts, the model accepts, and the other way round.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, alias_generator=to_camel)

    @classmethod
    def model_choice_aliases(cls) -> list[str]:
        """The API names of the fields typed :data:`ModelChoice`."""
        return [
            field.alias or name
            for name, field in cls.model_fields.items()
            if _MODEL_CHOICE in field.metadata
        ]

    def chosen_model(self) -> str | None:
        """The model the caller picked, if any."""
        for name, field in type(self).model_fields.items():
            if _MODEL_CHOICE in field.metadata:
                value = getattr(self, name)
                if isinstance(value, str):
                    return value
        return None


class Agent(Protocol):
    """A use case.

    ``tools`` names the workspace tools the agent may use (``Glob``, ``Grep``, ``Read``); it
    gets them when the service has a workspace. ``result`` turns the model's answer (the
    text of the run's final step) into the ``complete`` event's result, given the workspace
    files the tools read; it raises ``OutputInvalid`` when the answer does not validate.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    input_model: ClassVar[type[AgentInput]]
    #: What ``result`` returns, as a model: it documents the ``complete`` event's ``result``
    #: (``Result-<agent>`` in ``/openapi.json``, from which clients generate their types).
    result_model: ClassVar[type[BaseModel]]
    #: The workspace tools the agent may use (a custom agent may narrow them).
    tools: ClassVar[tuple[str, ...]]

    def request(self, agent_input: Any, *, default_model: str) -> ModelRequest: ...

    def result(self, output: str, *, files_read: Sequence[str] = ()) -> dict[str, Any]: ...


__all__ = ["Agent", "AgentInput", "ModelChoice", "check_allowed_model"]
