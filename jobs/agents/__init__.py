"""Agents (use cases), and the registry that holds them with the backend they run on."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from jobs.agents.base import Agent, AgentInput, ModelChoice
from jobs.agents.chat import ChatAgent
from jobs.agents.feature_suggestion import FeatureSuggestionAgent
from jobs.backends import Backend, ModelRequest
from jobs.errors import InputInvalid, UnknownAgent
from jobs.running.loop import Toolbox

__all__ = ["Agent", "AgentInput", "AgentRegistry", "ModelChoice", "default_agents"]


def default_agents() -> list[Agent]:
    return [FeatureSuggestionAgent(), ChatAgent()]


class AgentRegistry:
    """The agents this service offers, the backend they run on, the tools they may use (the
    workspace; None: agents run without tools), and the models callers may pick."""

    def __init__(
        self,
        agents: list[Agent],
        backend: Backend,
        *,
        allowed_models: list[str] | None = None,
        toolbox: Toolbox | None = None,
    ) -> None:
        self._agents = {agent.name: agent for agent in agents}
        self.backend = backend
        self.toolbox = toolbox
        self.default_model = backend.default_model
        #: ``ALLOWED_MODELS``; by default only the backend's default model.
        self.allowed_models = allowed_models or [backend.default_model]

    @property
    def agents(self) -> list[Agent]:
        return list(self._agents.values())

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
            raise InputInvalid(exc, prefix=("input",)) from None

    def schemas(self) -> list[dict[str, Any]]:
        """Each agent's name, description and input JSON Schema (model fields list the allowed
        models as an ``enum``, so a form can offer exactly those)."""
        return [
            {
                "name": agent.name,
                "description": agent.description,
                "inputSchema": self._schema(agent.input_model),
            }
            for agent in self._agents.values()
        ]

    def request(
        self, name: str, agent_input: AgentInput, custom: dict[str, Any] | None = None
    ) -> ModelRequest:
        """The model request for one run of agent ``name``, shaped by the caller's custom agent
        (its snapshot, see :mod:`jobs.record.custom_agents`) when the job has one.

        The custom agent adds to the agent's system prompt (it does not replace it: the agent's
        own instructions, such as "answer with JSON of this schema", must hold), picks the
        model unless the input named one, and sets the effort.
        """
        request = self.get(name).request(agent_input, default_model=self.default_model)
        if custom is None:
            return request
        lines = [f"You are {custom['name']}" + (f", {custom['role']}." if custom["role"] else ".")]
        if custom["focus"]:
            lines.append(f"Focus on: {custom['focus']}")
        if custom["systemPrompt"]:
            lines.append(custom["systemPrompt"])
        model = agent_input.chosen_model() or custom.get("model") or request.model
        return replace(
            request,
            system=request.system + "\n\n" + "\n".join(lines),
            model=model,
            effort=custom.get("effort"),
        )

    def tools(self, name: str, custom: dict[str, Any] | None = None) -> tuple[str, ...]:
        """The tools a run of agent ``name`` may use: the agent's, narrowed by the custom
        agent's ``tools`` when it names some."""
        offered = self.get(name).tools
        chosen = custom.get("tools") if custom is not None else None
        return offered if chosen is None else tuple(t for t in offered if t in chosen)

    def restore(self, name: str, stored_input: dict[str, Any]) -> AgentInput:
        """Rebuild a stored, already validated input (skipping the model allow-list, which may
        have changed since the job was created)."""
        model = self.get(name).input_model
        chosen = [stored_input.get(alias) for alias in model.model_choice_aliases()]
        return model.model_validate(stored_input, context={"allowed_models": chosen})

    def _schema(self, model: type[AgentInput]) -> dict[str, Any]:
        """The input's JSON Schema; a model choice is optional and nullable, as the input
        accepts: one of the allowed models, or null (so a form can offer exactly those)."""
        schema = model.model_json_schema(by_alias=True)
        allowed = [{"type": "string", "enum": list(self.allowed_models)}, {"type": "null"}]
        for alias in model.model_choice_aliases():
            schema["properties"][alias]["anyOf"] = allowed
        return schema
