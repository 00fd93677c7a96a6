"""``chat``: one prompt in, the model's text out."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Annotated, Any, ClassVar

from pydantic import Field

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


class ChatAgent:
    name: ClassVar[str] = "chat"
    description: ClassVar[str] = "Answers one prompt; the result is the model's full text."
    input_model: ClassVar[type[AgentInput]] = ChatInput
    tools: ClassVar[tuple[str, ...]] = ()

    def request(self, agent_input: Any, *, default_model: str) -> ModelRequest:
        assert isinstance(agent_input, ChatInput)
        return ModelRequest(
            model=agent_input.model or default_model,
            system=agent_input.system or DEFAULT_SYSTEM,
            prompt=agent_input.prompt,
            max_tokens=agent_input.max_tokens,
            offline_reply=_offline_reply(agent_input),
        )

    def result(self, output: str, *, files_read: Sequence[str] = ()) -> dict[str, Any]:
        return {"text": output}


_SENTENCES = [
    "This answer comes from the offline demo backend, so it is the same for the same prompt.",
    "Set ANTHROPIC_API_KEY to have Claude answer instead.",
    "The text streams in throttled deltas, and every character of it reaches you.",
    "Disconnect and reconnect with Last-Event-ID, and the stream resumes where it stopped.",
    "Each job runs once, however many clients attach to it.",
]


def _offline_reply(value: ChatInput) -> str:
    seed = int.from_bytes(hashlib.sha256(value.prompt.encode()).digest()[:4], "big")
    excerpt = value.prompt if len(value.prompt) <= 80 else value.prompt[:77] + "..."
    ordered = _SENTENCES[seed % len(_SENTENCES) :] + _SENTENCES[: seed % len(_SENTENCES)]
    reply = f'You asked: "{excerpt}"\n\n' + " ".join(ordered)
    # The demo honours max_tokens roughly as a real model would: ~4 characters per token.
    return reply[: value.max_tokens * 4]
