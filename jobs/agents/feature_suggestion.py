"""``feature-suggestion``: product feature ideas for a page or component, as structured cards."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from jobs.agents.base import (
    LINE_CONTROL,
    STRIP,
    TEXT_CONTROL,
    AgentInput,
    ModelChoice,
    TextRules,
)
from jobs.backends import ModelRequest
from jobs.errors import OutputInvalid

FeatureType = Literal[
    "enhancement", "new-capability", "optimization", "ui-improvement", "integration"
]
Priority = Literal["low", "medium", "high", "critical"]


class FeatureSuggestionInput(AgentInput):
    page_or_component: Annotated[
        str, Field(min_length=1, max_length=200), TextRules(LINE_CONTROL, visible=True), STRIP
    ]
    feature_type: FeatureType
    priority_level: Priority
    additional_context: (
        Annotated[str, Field(max_length=1000), TextRules(TEXT_CONTROL), STRIP] | None
    ) = None
    custom_model: ModelChoice = None


class Suggestion(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, extra="forbid")

    title: Annotated[str, Field(min_length=1, max_length=200)]
    rationale: Annotated[str, Field(min_length=1)]
    description: Annotated[str, Field(min_length=1)]
    implementation_considerations: Annotated[list[str], Field(min_length=1, max_length=10)]


class Suggestions(BaseModel):
    """The result: 3 to 5 suggestions."""

    model_config = ConfigDict(extra="forbid")

    suggestions: Annotated[list[Suggestion], Field(min_length=3, max_length=5)]


class FeatureSuggestionResult(Suggestions):
    """The job's result: the suggestions, and the workspace files the agent read for them."""

    context: list[str] = Field(description="the workspace files the agent read")


SYSTEM_PROMPT = (
    "You are a senior product engineer. You propose concrete, buildable product features. "
    "Each suggestion names the feature, says why it matters to users, describes what to "
    "build, and lists the implementation considerations an engineering team must weigh.\n\n"
    "When you have the Glob, Grep and Read tools, they read the product's source code. "
    "Before you suggest anything, find the named page or component in the source (Glob for "
    "file names, Grep for words in files) and Read the files that implement it, so that "
    "your suggestions fit what is really built; a few focused reads are enough. Without "
    "tools, work from the description you were given.\n\n"
    "Answer only with JSON that matches the requested schema."
)

#: The workspace tools this agent uses to look at the product's source.
TOOLS = ("Glob", "Grep", "Read")


class FeatureSuggestionAgent:
    name: ClassVar[str] = "feature-suggestion"
    description: ClassVar[str] = "Suggests 3-5 product features for a page or component."
    input_model: ClassVar[type[AgentInput]] = FeatureSuggestionInput
    result_model: ClassVar[type[BaseModel]] = FeatureSuggestionResult
    tools: ClassVar[tuple[str, ...]] = TOOLS

    def request(self, agent_input: Any, *, default_model: str) -> ModelRequest:
        assert isinstance(agent_input, FeatureSuggestionInput)
        return ModelRequest(
            model=agent_input.custom_model or default_model,
            system=SYSTEM_PROMPT,
            prompt=_prompt(agent_input),
            max_tokens=4096,
            output_schema=Suggestions,
        )

    def result(self, output: str, *, files_read: Sequence[str] = ()) -> dict[str, Any]:
        """The suggestions, and as ``context`` the workspace files the agent read for them
        (added here, not asked of the model: the tools know what was read)."""
        try:
            parsed = Suggestions.model_validate_json(output)
        except ValidationError as exc:
            raise OutputInvalid(
                f"the model's output is not a valid suggestion list ({exc.error_count()} errors)"
            ) from exc
        return parsed.model_dump(mode="json", by_alias=True) | {"context": list(files_read)}


def _prompt(value: FeatureSuggestionInput) -> str:
    lines = [
        f"Suggest 3 to 5 {value.feature_type.replace('-', ' ')} features for: "
        f"{value.page_or_component}.",
        f"Priority level: {value.priority_level}. Scale the ambition of each suggestion to it.",
    ]
    if value.additional_context:
        lines.append(f"Additional context from the team:\n{value.additional_context}")
    lines.append(
        "For each suggestion give a short title, the rationale (the user problem it solves), "
        "a description of what to build, and 2 to 5 implementation considerations."
    )
    return "\n\n".join(lines)
