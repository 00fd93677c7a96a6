"""The offline demo backend: it loses no text, answers deterministically, and differently
for different inputs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobs.agents import AgentRegistry, default_agents
from jobs.backends import Completion, TextDelta
from jobs.backends.demo import DemoBackend, split_tokens

pytestmark = pytest.mark.anyio

FEATURE = {
    "pageOrComponent": "search bar",
    "featureType": "optimization",
    "priorityLevel": "critical",
}


def registry() -> AgentRegistry:
    backend = DemoBackend(tokens_per_second=10_000)
    return AgentRegistry(default_agents(), backend, allowed_models=["demo"])


@given(st.text(max_size=300))
def test_split_tokens_loses_nothing(text: str) -> None:
    assert "".join(split_tokens(text)) == text


async def test_demo_is_deterministic_and_yields_a_valid_result() -> None:
    agents = registry()
    agent = agents.get("feature-suggestion")
    value = agents.validate("feature-suggestion", FEATURE)
    request = agent.request(value, default_model="m1")
    assert request == agent.request(
        agents.validate("feature-suggestion", FEATURE), default_model="m1"
    )
    items = [item async for item in agents.backend.stream(request)]
    *texts, completion = items
    assert isinstance(completion, Completion)
    assert all(isinstance(t, TextDelta) for t in texts)
    output = "".join(t.text for t in texts if isinstance(t, TextDelta))
    assert output == request.offline_reply
    assert completion.usage.output_tokens == len(texts)
    result = agent.result(output)
    assert 3 <= len(result["suggestions"]) <= 5
    assert len(result["suggestions"]) == 5, "critical priority asks for the most"
    first = result["suggestions"][0]
    assert set(first) == {"title", "rationale", "description", "implementationConsiderations"}
    assert "search bar" in first["title"]


async def test_different_inputs_give_different_demo_answers() -> None:
    agents = registry()
    agent = agents.get("feature-suggestion")
    one = agent.request(agents.validate("feature-suggestion", FEATURE), default_model="m1")
    other = agent.request(
        agents.validate("feature-suggestion", FEATURE | {"pageOrComponent": "footer"}),
        default_model="m1",
    )
    assert one.offline_reply != other.offline_reply
