"""Each agent's published input schema (``GET /agents``, the OpenAPI document) and its input
model agree: what the schema accepts (jsonschema, draft 2020-12), the model accepts, and what
the model refuses, the schema refuses. Hypothesis builds whole inputs field by field from the
schema's own properties, with odd text, odd types and missing or unknown fields."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from jobs.agents import AgentRegistry, default_agents
from jobs.backends.demo import DemoBackend
from jobs.errors import InputInvalid

ALLOWED = ["model-a", "model-b"]
AGENTS = AgentRegistry(default_agents(), DemoBackend(tokens_per_second=1), allowed_models=ALLOWED)
SCHEMAS = {entry["name"]: entry["inputSchema"] for entry in AGENTS.schemas()}
VALID = {
    "chat": {"prompt": "hi"},
    "feature-suggestion": {
        "pageOrComponent": "checkout",
        "featureType": "enhancement",
        "priorityLevel": "high",
    },
}
#: Characters where the dialects and Python's str methods disagree on what is whitespace or
#: a control character, and ordinary ones.
ODD = st.sampled_from(
    list("\x00\t\n\r\x0b\x0c\x1c\x1f \x7f\x85\x9f\xa0\u1680\u2000\u2028\u2029\u200b\u3000\ufeffaé")
)


def accepts(agent: str, value: dict[str, Any]) -> bool:
    try:
        AGENTS.validate(agent, value)
    except InputInvalid:
        return False
    return True


def schema_accepts(agent: str, value: dict[str, Any]) -> bool:
    return bool(Draft202012Validator(SCHEMAS[agent]).is_valid(value))


def field_values(prop: dict[str, Any]) -> st.SearchStrategy[object]:
    """Values for one property: what its schema names (enum members, bounds) and odd ones.
    No integral float: the one deliberate difference (see the integer test below)."""
    named: list[object] = [None, True, 1.5, "5", 0, -1]
    for branch in [prop, *prop.get("anyOf", [])]:
        named += branch.get("enum", [])
        for bound in ("minimum", "maximum"):
            if bound in branch:
                named += [branch[bound], branch[bound] - 1, branch[bound] + 1]
        if "maxLength" in branch:
            named += ["x" * branch["maxLength"], "x" * (branch["maxLength"] + 1)]
            named += [" " + "x" * (branch["maxLength"] - 1) + " "]
    return st.sampled_from(named) | st.text(ODD, max_size=4) | st.text(max_size=4)


@st.composite
def inputs(draw: st.DrawFn, agent: str) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for name, prop in SCHEMAS[agent]["properties"].items():
        choice = draw(st.sampled_from(["valid", "valid", "missing", "other"]))
        if choice == "valid" and name in VALID[agent]:
            value[name] = VALID[agent][name]
        elif choice != "missing":
            value[name] = draw(field_values(prop))
    if draw(st.booleans()) and draw(st.booleans()):
        value["unknownField"] = "x"
    return value


@pytest.mark.parametrize("agent", sorted(SCHEMAS))
def test_whole_inputs_are_accepted_by_the_schema_exactly_when_by_the_model(agent: str) -> None:
    Draft202012Validator.check_schema(SCHEMAS[agent])
    accepted = 0

    @settings(max_examples=400, deadline=None)
    @given(inputs(agent))
    def check(value: dict[str, Any]) -> None:
        nonlocal accepted
        model_says = accepts(agent, value)
        assert model_says == schema_accepts(agent, value), value
        accepted += model_says

    check()
    assert accepted > 0, "no generated input was valid: the test would prove nothing"


def text_fields(agent: str) -> list[str]:
    return [
        name
        for name, prop in SCHEMAS[agent]["properties"].items()
        if "string" in {prop.get("type"), *(b.get("type") for b in prop.get("anyOf", []))}
        and name not in ("model", "customModel")
    ]


@pytest.mark.parametrize(
    ("agent", "field"),
    [(agent, field) for agent in sorted(SCHEMAS) for field in text_fields(agent)],
)
def test_text_the_model_refuses_the_schema_refuses(agent: str, field: str) -> None:
    @settings(max_examples=300, deadline=None)
    @given(st.text(ODD, max_size=6) | st.text(max_size=6))
    def check(text: str) -> None:
        value = {**VALID[agent], field: text}
        assert accepts(agent, value) == schema_accepts(agent, value), repr(text)

    check()


@pytest.mark.parametrize(
    "text",
    ["\x85", " ", "\u3000", "\u2028", "a\x00b", "a\x7fb"],
)
def test_blank_or_control_text_is_refused_by_both(text: str) -> None:
    value = {**VALID["feature-suggestion"], "pageOrComponent": text}
    assert not accepts("feature-suggestion", value)
    assert not schema_accepts("feature-suggestion", value)


def test_multi_line_text_keeps_its_line_breaks_and_one_line_text_has_none() -> None:
    assert accepts("chat", {"prompt": "line one\r\n\tline two"})
    assert schema_accepts("chat", {"prompt": "line one\r\n\tline two"})
    one_line = {**VALID["feature-suggestion"], "pageOrComponent": "a\nb"}
    assert not accepts("feature-suggestion", one_line)
    assert not schema_accepts("feature-suggestion", one_line)


def test_surrounding_whitespace_is_dropped_after_validation() -> None:
    value = AGENTS.validate("chat", {"prompt": "\u3000 hi \n"})
    assert value.model_dump()["prompt"] == "hi"


@pytest.mark.parametrize("value", [True, False, 1.0, 5.5, "5", None, [5], {"n": 5}])
def test_an_integer_field_takes_only_a_json_integer(value: object) -> None:
    # JSON Schema 2020-12 counts 1.0 as an integer; the service does not (a client that sends
    # a float for a token count has a bug worth hearing about), so floats are refused.
    assert not accepts("chat", {"prompt": "hi", "maxTokens": value})
    assert accepts("chat", {"prompt": "hi", "maxTokens": 5})


@given(st.one_of(st.booleans(), st.text(max_size=3), st.none(), st.integers()))
def test_integer_fields_agree_with_the_schema(value: object) -> None:
    raw = {"prompt": "hi", "maxTokens": value}
    assert accepts("chat", raw) == schema_accepts("chat", raw)
