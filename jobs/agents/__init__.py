"""Agents (use cases) and backends (model providers), and the registry that holds them."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from jobs.agents.base import Agent, AgentInput, Backend, Completion, ModelRequest, TokenUsage
from jobs.agents.chat import ChatAgent
from jobs.agents.demo import DemoBackend
from jobs.agents.feature_suggestion import FeatureSuggestionAgent
from jobs.errors import InputInvalid, UnknownAgent

__all__ = [
    "Agent",
    "AgentInput",
    "AgentRegistry",
    "Backend",
    "Completion",
    "DemoBackend",
    "ModelRequest",
    "TokenUsage",
    "default_agents",
]


def default_agents() -> list[Agent]:
    return [FeatureSuggestionAgent(), ChatAgent()]


class AgentRegistry:
    """The agents this service offers, the backend they run on, and the models callers may pick."""

    def __init__(
        self,
        agents: list[Agent],
        backend: Backend,
        *,
        default_model: str,
        allowed_models: list[str],
    ) -> None:
        self._agents = {agent.name: agent for agent in agents}
        self.backend = backend
        self.default_model = default_model
        self.allowed_models = allowed_models

    @property
    def names(self) -> list[str]:
        return list(self._agents)

    def get(self, name: str) -> Agent:
        try:
            return self._agents[name]
        except KeyError:
            raise UnknownAgent(name, self.names) from None

    def validate(self, name: str, raw_input: Any) -> AgentInput:
        """Validate ``raw_input`` against agent ``name``'s input model.

        Field errors are reported with their location under ``input``, as the client sent it.
        """
        agent = self.get(name)
        try:
            return agent.input_model.model_validate(
                raw_input, context={"allowed_models": self.allowed_models}
            )
        except ValidationError as exc:
            raise InputInvalid(field_errors(exc, prefix=("input",))) from None

    def schemas(self) -> list[dict[str, Any]]:
        """Each agent's name, description and input JSON Schema (model fields list the allowed
        models as an ``enum``, so a form can offer exactly those)."""
        return [
            {
                "name": agent.name,
                "description": agent.description,
                "inputSchema": _with_model_enum(
                    agent.input_model.model_json_schema(by_alias=True), self.allowed_models
                ),
            }
            for agent in self._agents.values()
        ]

    def restore(self, name: str, stored_input: dict[str, Any]) -> AgentInput:
        """Rebuild a stored, already validated input (skipping the model allow-list, which may
        have changed since the job was created)."""
        return self.get(name).input_model.model_validate(
            stored_input, context={"allowed_models": [_model_of(stored_input)]}
        )


def field_errors(exc: ValidationError, prefix: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Pydantic's errors as the problem document lists them: where, what, and the rule's type."""
    return [
        {
            "loc": [*prefix, *(str(part) for part in error["loc"])],
            "field": ".".join([*prefix, *(str(part) for part in error["loc"])]),
            "message": error["msg"],
            "type": error["type"],
        }
        for error in exc.errors(include_url=False, include_input=False)
    ]


_MODEL_FIELDS = ("customModel", "model")


def _model_of(stored_input: dict[str, Any]) -> str | None:
    for name in _MODEL_FIELDS:
        value = stored_input.get(name)
        if isinstance(value, str):
            return value
    return None


def _with_model_enum(schema: dict[str, Any], allowed: list[str]) -> dict[str, Any]:
    for name in _MODEL_FIELDS:
        prop = schema.get("properties", {}).get(name)
        if prop is not None:
            # Optional and nullable, as the model accepts: one of the allowed models, or null.
            prop["anyOf"] = [{"type": "string", "enum": list(allowed)}, {"type": "null"}]
    return schema
