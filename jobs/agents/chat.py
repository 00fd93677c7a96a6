"""``chat``: one prompt in, the model's text out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, Field

from jobs.agents.base import STRIP, TEXT_CONTROL, AgentInput, ModelChoice, TextRules
from jobs.backends import ModelRequest

DEFAULT_SYSTEM = "You are a helpful, precise assistant."


class ChatInput(AgentInput):
    prompt: Annotated[
        str, Field(min_length=1, max_length=20_000), TextRules(TEXT_CONTROL, visible=True), STRIP
    ]
    system: Annotated[str, Field(max_length=20_000), TextRules(TEXT_CONTROL), STRIP] | None = None
    model: ModelChoice = None
    max_tokens: Annotated[int, Field(ge=1, le=8192)] = 1024


class ChatResult(BaseModel):
    """The job's result: the model's full text."""

    text: str


class ChatAgent:
    name: ClassVar[str] = "chat"
    description: ClassVar[str] = "Answers one prompt; the result is the model's full text."
    input_model: ClassVar[type[AgentInput]] = ChatInput
    result_model: ClassVar[type[BaseModel]] = ChatResult
    tools: ClassVar[tuple[str, ...]] = ()

    def request(self, agent_input: Any, *, default_model: str) -> ModelRequest:
        assert isinstance(agent_input, ChatInput)
        return ModelRequest(
            model=agent_input.model or default_model,
            system=agent_input.system or DEFAULT_SYSTEM,
            prompt=agent_input.prompt,
            max_tokens=agent_input.max_tokens,
        )

    def result(self, output: str, *, files_read: Sequence[str] = ()) -> dict[str, Any]:
        return {"text": output}
