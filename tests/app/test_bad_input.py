"""Bad input over a real socket: each gets a 4xx problem document naming the problem, before
any stream starts; never a 500 or a broken stream."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import StartLive, token

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": f"Bearer {token()}"}
JSON = AUTH | {"Content-Type": "application/json"}


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["code"] == code
    assert "Traceback" not in response.text
    return problem


@pytest.mark.parametrize("depth", [1_000, 1_025, 100_000])
async def test_deeply_nested_json_is_refused_as_json_or_as_input(
    live: StartLive, client: httpx.AsyncClient, depth: int
) -> None:
    server = live(max_body_bytes=1_000_000)
    body = b'{"agent": "chat", "input": ' + b"[" * depth + b"]" * depth + b"}"
    response = await client.post(f"{server.url}/jobs", content=body, headers=JSON)
    if depth > 1024:  # past the parser's depth limit
        problem = assert_problem(response, 400, "MALFORMED_JSON")
        assert "depth" in problem["detail"]
    else:
        problem = assert_problem(response, 422, "INPUT_INVALID")
        assert [e["field"] for e in problem["errors"]] == ["input"]


async def test_text_that_is_not_unicode_is_malformed_json(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    server = live()
    body = b'{"agent": "chat", "input": {"prompt": "\\ud800"}}'  # a lone surrogate
    response = await client.post(f"{server.url}/jobs", content=body, headers=JSON)
    assert_problem(response, 400, "MALFORMED_JSON")


@pytest.mark.parametrize("max_tokens", [b"true", b"1.0", b'"5"'])
async def test_an_integer_field_takes_only_an_integer(
    live: StartLive, client: httpx.AsyncClient, max_tokens: bytes
) -> None:
    server = live()
    body = b'{"agent": "chat", "input": {"prompt": "hi", "maxTokens": ' + max_tokens + b"}}"
    response = await client.post(f"{server.url}/jobs", content=body, headers=JSON)
    problem = assert_problem(response, 422, "INPUT_INVALID")
    assert [e["field"] for e in problem["errors"]] == ["input.maxTokens"]


@pytest.mark.parametrize("text", ["\u0085", " \u3000 ", "two\nlines", "nul\u0000"])
async def test_text_the_schema_refuses_is_refused(
    live: StartLive, client: httpx.AsyncClient, text: str
) -> None:
    server = live()
    body = {
        "agent": "feature-suggestion",
        "input": {"pageOrComponent": text, "featureType": "enhancement", "priorityLevel": "high"},
    }
    response = await client.post(f"{server.url}/jobs", json=body, headers=AUTH)
    problem = assert_problem(response, 422, "INPUT_INVALID")
    assert [e["field"] for e in problem["errors"]] == ["input.pageOrComponent"]


# Arabic-Indic and fullwidth digits: Python's \d and int() take them, Redis does not.
@pytest.mark.parametrize("event_id", ["\u0661\u0662-\u0660", "1700000000000-\u0660", "\uff11-1"])
async def test_an_event_id_of_non_ascii_digits_is_refused_before_the_stream(
    live: StartLive, client: httpx.AsyncClient, event_id: str
) -> None:
    server = live()  # on the real Redis, which refuses such an id mid-stream
    created = await client.post(
        f"{server.url}/jobs", json={"agent": "chat", "input": {"prompt": "hi"}}, headers=AUTH
    )
    assert created.status_code == 201, created.text
    stream_url = server.url + created.json()["streamUrl"]
    response = await client.get(stream_url, params={"lastEventId": event_id}, headers=AUTH)
    assert_problem(response, 400, "INVALID_EVENT_ID")
