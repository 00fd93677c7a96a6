"""What an agent is: a use case with an input model, a request to a model, and a result.

An **agent** owns a use case: its input model (validated at ``POST /jobs``), the request it
makes of a model (:class:`~jobs.backends.ModelRequest`), and how the model's full output
becomes the ``complete`` event's result. Agents never talk to providers; the backend is
chosen by the service (``jobs.backends``). A new use case is one module here plus its line in
``jobs.agents.default_agents``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Protocol

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo
from pydantic.alias_generators import to_camel

from jobs.backends import ModelRequest


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
    fields rejected, strings stripped."""

    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, frozen=True, alias_generator=to_camel
    )

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
    tools: ClassVar[tuple[str, ...]]

    def request(self, agent_input: Any, *, default_model: str) -> ModelRequest: ...

    def result(self, output: str, *, files_read: Sequence[str] = ()) -> dict[str, Any]: ...


__all__ = ["Agent", "AgentInput", "ModelChoice", "check_allowed_model"]
