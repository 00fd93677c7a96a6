"""Agents, their inputs and results, and the offline demo backend."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from jobs.agents import AgentRegistry, default_agents
from jobs.backends.demo import DemoBackend
from jobs.errors import InputInvalid, OutputInvalid, UnknownAgent
from tests.support.demo import demo_run

pytestmark = pytest.mark.anyio

FEATURE = {
    "pageOrComponent": "search bar",
    "featureType": "optimization",
    "priorityLevel": "critical",
}


def registry(allowed: list[str] | None = None) -> AgentRegistry:
    backend = DemoBackend(tokens_per_second=10_000)
    return AgentRegistry(default_agents(), backend, allowed_models=allowed or ["demo"])


def test_feature_suggestion_result_must_validate() -> None:
    agent = registry().get("feature-suggestion")
    with pytest.raises(OutputInvalid):
        agent.result("not json")
    with pytest.raises(OutputInvalid):
        agent.result(json.dumps({"suggestions": []}))
    two = {
        "title": "t",
        "rationale": "r",
        "description": "d",
        "implementationConsiderations": ["c"],
    }
    with pytest.raises(OutputInvalid):
        agent.result(json.dumps({"suggestions": [two, two]}))
    assert len(agent.result(json.dumps({"suggestions": [two, two, two]}))["suggestions"]) == 3


def test_models_must_be_allowed() -> None:
    agents = registry(["m1", "m2"])
    chosen = agents.validate("chat", {"prompt": "hi", "model": "m2"})
    assert agents.get("chat").request(chosen, default_model="m1").model == "m2"
    with pytest.raises(InputInvalid) as caught:
        agents.validate("chat", {"prompt": "hi", "model": "claude-opus-5"})
    assert caught.value.errors[0]["field"] == "input.model"


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"prompt": ""}, "input.prompt"),
        ({"prompt": "x" * 20_001}, "input.prompt"),
        ({"prompt": "hi", "maxTokens": 0}, "input.maxTokens"),
        ({"prompt": "hi", "maxTokens": 8193}, "input.maxTokens"),
        ({"prompt": "hi", "max_tokens": 5}, "input.max_tokens"),
    ],
)
def test_chat_input_limits(raw: dict[str, object], field: str) -> None:
    with pytest.raises(InputInvalid) as caught:
        registry().validate("chat", raw)
    assert field in {e["field"] for e in caught.value.errors}


def test_unknown_agent() -> None:
    with pytest.raises(UnknownAgent):
        registry().get("summarize")


def test_stored_input_is_restored_even_if_the_allow_list_changed() -> None:
    stored = {"prompt": "hi", "model": "m2", "maxTokens": 5}
    value = registry(["m1"]).restore("chat", stored)
    assert value.model_dump(by_alias=True, exclude_none=True) == stored


@pytest.mark.parametrize(
    ("name", "raw"), [("feature-suggestion", FEATURE), ("chat", {"prompt": "hello"})]
)
def test_each_agents_result_model_describes_its_result(name: str, raw: dict[str, object]) -> None:
    """``result_model`` is what ``/openapi.json`` publishes as ``Result-<agent>`` (and clients
    type ``complete.result`` with): the result a run really makes must validate against it,
    and the model must refuse what the result is not."""
    agent = registry().get(name)
    run = demo_run(name, raw)
    result = agent.result(run.answer, files_read=("src/app.tsx",))
    agent.result_model.model_validate(result)
    with pytest.raises(ValidationError):
        agent.result_model.model_validate({"unexpected": True})
