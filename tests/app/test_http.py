"""The request/response endpoints over a real socket: start, status, agents, health, errors."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
import redis

from auth import mint_token
from jobs.redis.keys import Keys
from tests.conftest import SECRET, StartLive, token
from tests.support.redis_server import free_port

KEYS = Keys("jobs")

pytestmark = pytest.mark.anyio

BODY = {
    "agent": "feature-suggestion",
    "input": {"pageOrComponent": "settings", "featureType": "integration", "priorityLevel": "low"},
}


def bearer(sub: str = "alice") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(sub)}"}


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert problem["code"] == code
    assert problem["title"]
    assert problem["detail"]
    assert "Traceback" not in response.text
    return problem


async def test_create_answers_201_and_stores_a_ttl_bound_job(
    live: StartLive, client: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    server = live(job_ttl_s=120)
    before = int(time.time() * 1000)
    response = await client.post(f"{server.url}/jobs", json=BODY, headers=bearer())
    assert response.status_code == 201
    created = response.json()
    assert set(created) == {
        "jobId", "status", "agent", "createdAt", "expiresAt", "streamUrl", "streamTicket",
    }  # fmt: skip
    job_id = created["jobId"]
    assert created["status"] == "pending"
    assert created["agent"] == "feature-suggestion"
    assert before <= created["createdAt"] <= int(time.time() * 1000)
    assert created["expiresAt"] == created["createdAt"] + 120_000
    assert created["streamUrl"] == f"/jobs/{job_id}/stream"
    assert response.headers["location"] == f"/jobs/{job_id}"

    key = KEYS.job(job_id)
    assert redis_client.type(key) == "hash"
    stored = redis_client.hgetall(key)
    assert stored["owner"] == "alice"
    assert stored["status"] == "pending"
    assert 0 < redis_client.ttl(key) <= 120
    assert [k for k in redis_client.scan_iter("*") if redis_client.ttl(k) < 0] == []

    status = await client.get(f"{server.url}/jobs/{job_id}", headers=bearer())
    assert status.status_code == 200
    assert status.json()["status"] == "pending"
    assert status.json()["agent"] == "feature-suggestion"
    assert_problem(
        await client.get(f"{server.url}/jobs/{job_id}", headers=bearer("bob")), 403, "NOT_OWNER"
    )
    assert_problem(
        await client.get(f"{server.url}/jobs/{'a' * 32}", headers=bearer()), 404, "JOB_NOT_FOUND"
    )
    assert_problem(
        await client.get(f"{server.url}/jobs/XYZ", headers=bearer()), 400, "INVALID_JOB_ID"
    )


@pytest.mark.parametrize(
    ("headers", "description"),
    [
        ({}, "a bearer token is required"),
        ({"Authorization": "Basic YWxpY2U6cHc="}, "Bearer"),
        ({"Authorization": "Bearer"}, "empty"),
        ({"Authorization": "Bearer not.a.jwt"}, "malformed"),
        ({"Authorization": f"Bearer {mint_token(SECRET, 'alice', ttl_s=-120)}"}, "expired"),
        (
            {"Authorization": f"Bearer {mint_token('another-secret-' + 'x' * 32, 'alice')}"},
            "signature",
        ),
    ],
)
async def test_create_requires_a_valid_bearer_token(
    live: StartLive, client: httpx.AsyncClient, headers: dict[str, str], description: str
) -> None:
    server = live()
    response = await client.post(f"{server.url}/jobs", json=BODY, headers=headers)
    problem = assert_problem(response, 401, "UNAUTHORIZED")
    assert description in problem["detail"]
    assert response.headers["www-authenticate"].startswith("Bearer")
    token_part = headers.get("Authorization", "").partition(" ")[2]
    if len(token_part) > 10:
        assert token_part not in response.text, "the token is never echoed"


async def test_create_rejects_bad_bodies(live: StartLive, client: httpx.AsyncClient) -> None:
    server = live(max_body_bytes=2048)
    url = f"{server.url}/jobs"
    assert_problem(
        await client.post(url, content=b"{}", headers=bearer() | {"Content-Type": "text/plain"}),
        415, "UNSUPPORTED_MEDIA_TYPE",
    )  # fmt: skip
    json_headers = bearer() | {"Content-Type": "application/json"}
    assert_problem(
        await client.post(url, content=b"{nope", headers=json_headers), 400, "MALFORMED_JSON"
    )
    big = {"agent": "chat", "input": {"prompt": "x" * 4096}}
    problem = assert_problem(
        await client.post(url, json=big, headers=bearer()), 413, "BODY_TOO_LARGE"
    )
    assert "2048" in problem["detail"]

    async def chunked() -> Any:
        for _ in range(8):
            yield b" " * 512

    streamed = await client.post(
        url, content=chunked(), headers=bearer() | {"Content-Type": "application/json"}
    )
    assert "content-length" not in streamed.request.headers
    assert_problem(streamed, 413, "BODY_TOO_LARGE")

    problem = assert_problem(
        await client.post(url, json=[1], headers=bearer()), 422, "INPUT_INVALID"
    )
    problem = assert_problem(
        await client.post(url, json={"agent": "chat", "input": {}, "extra": 1}, headers=bearer()),
        422, "INPUT_INVALID",
    )  # fmt: skip
    assert {e["field"] for e in problem["errors"]} == {"extra"}

    problem = assert_problem(
        await client.post(url, json={"agent": "nope", "input": {}}, headers=bearer()),
        422, "UNKNOWN_AGENT",
    )  # fmt: skip
    assert "feature-suggestion" in problem["detail"]

    bad_input = {
        "agent": "feature-suggestion",
        "input": {
            "pageOrComponent": "p" * 201,
            "featureType": "rewrite",
            "priorityLevel": "high",
            "additionalContext": "c" * 1001,
            "customModel": "very-expensive-model",
            "surprise": True,
        },
    }
    problem = assert_problem(
        await client.post(url, json=bad_input, headers=bearer()), 422, "INPUT_INVALID"
    )
    assert {e["field"] for e in problem["errors"]} == {
        "input.pageOrComponent",
        "input.featureType",
        "input.additionalContext",
        "input.customModel",
        "input.surprise",
    }


async def test_allowed_models_are_accepted_and_listed(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    server = live(allowed_models="model-a,model-b")
    body = {"agent": "chat", "input": {"prompt": "hi", "model": "model-b", "maxTokens": 10}}
    assert (await client.post(f"{server.url}/jobs", json=body, headers=bearer())).status_code == 201

    agents = (await client.get(f"{server.url}/agents")).json()["agents"]
    by_name = {agent["name"]: agent for agent in agents}
    assert set(by_name) == {"feature-suggestion", "chat"}
    schema = by_name["feature-suggestion"]["inputSchema"]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"pageOrComponent", "featureType", "priorityLevel"}
    for agent, field in (("feature-suggestion", "customModel"), ("chat", "model")):
        choices = by_name[agent]["inputSchema"]["properties"][field]["anyOf"]
        assert {"type": "string", "enum": ["model-a", "model-b"]} in choices
        assert {"type": "null"} in choices


async def test_health_and_readiness(live: StartLive, client: httpx.AsyncClient) -> None:
    server = live()
    assert (await client.get(f"{server.url}/healthz")).json() == {"status": "ok"}
    ready = (await client.get(f"{server.url}/readyz")).json()
    assert ready["status"] == "ready"
    assert (ready["activeRuns"], ready["openStreams"]) == (0, 0)
    assert_problem(await client.get(f"{server.url}/nowhere"), 404, "NOT_FOUND")
    assert_problem(await client.delete(f"{server.url}/agents"), 405, "METHOD_NOT_ALLOWED")


async def test_redis_down_gives_503_problems_and_health_stays_up(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    server = live(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    assert (await client.get(f"{server.url}/healthz")).status_code == 200
    ready = await client.get(f"{server.url}/readyz")
    assert_problem(ready, 503, "STORE_UNAVAILABLE")
    created = await client.post(f"{server.url}/jobs", json=BODY, headers=bearer())
    assert_problem(created, 503, "STORE_UNAVAILABLE")
    assert created.headers["retry-after"]
    attach = await client.get(f"{server.url}/jobs/{'b' * 32}/stream", headers=bearer())
    assert_problem(attach, 503, "STORE_UNAVAILABLE")


def test_job_answers_are_encoded_as_starlette_would_and_big_integers_survive() -> None:
    from starlette.responses import JSONResponse

    from app.routes import JobJSON

    body = {"jobId": "x", "status": "pending", "createdAt": 1_795_249_621_319, "note": "é ✓"}
    assert JobJSON(body).body == JSONResponse(body).body
    huge = {"result": {"count": 2**70}}  # orjson refuses integers beyond 64 bits
    assert JobJSON(huge).body == b'{"result":{"count":1180591620717411303424}}'
