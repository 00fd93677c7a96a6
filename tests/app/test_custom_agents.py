"""Per-user custom agents: the API, its validation, ownership, and the snapshot a job takes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, get_args, get_type_hints

import httpx
import pytest
import redis
from anthropic.types import OutputConfigParam

from jobs.record.custom_agents import Effort
from jobs.redis.keys import Keys
from tests.conftest import StartLive, token
from tests.support.backends import ScriptedBackend
from tests.support.fake_anthropic import API_KEY, FakeAnthropic, Reply
from tests.support.sse import read_stream

pytestmark = pytest.mark.anyio

MINE = {
    "name": "Checkout critic",
    "role": "a conversion-focused product manager",
    "focus": "mobile checkout friction",
    "systemPrompt": "Always mention the payment step.",
    "temperature": 0.3,
    "effort": "high",
    "tools": ["Grep", "Read"],
    "isActive": True,
}
FEATURE = {"pageOrComponent": "checkout", "featureType": "enhancement", "priorityLevel": "low"}


def auth(sub: str = "alice") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(sub)}"}


def test_effort_levels_are_the_sdks() -> None:
    hints = get_type_hints(OutputConfigParam)
    (sdk_literal,) = [arg for arg in get_args(hints["effort"]) if get_args(arg)]
    assert set(get_args(sdk_literal)) == set(get_args(Effort))


async def test_put_get_delete_and_versions(
    live: StartLive, client: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    server = live()
    url = f"{server.url}/me/agents/feature-suggestion"
    assert (await client.get(url, headers=auth())).status_code == 404
    first = await client.put(url, json=MINE, headers=auth())
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 1
    assert {k: first.json()[k] for k in MINE} == MINE
    second = await client.put(url, json=MINE | {"focus": "guest checkout"}, headers=auth())
    assert second.json()["version"] == 2
    shown = await client.get(url, headers=auth())
    assert shown.json()["focus"] == "guest checkout"
    assert shown.json()["version"] == 2
    key = Keys("jobs").custom_agent("alice", "feature-suggestion")
    assert redis_client.ttl(key) == -1, "configuration: the one key family without a TTL"
    assert (await client.delete(url, headers=auth())).status_code == 204
    assert (await client.get(url, headers=auth())).status_code == 404
    assert (await client.delete(url, headers=auth())).status_code == 204, "idempotent"
    assert not redis_client.exists(key)


async def test_another_user_never_sees_or_touches_it(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    server = live()
    url = f"{server.url}/me/agents/feature-suggestion"
    assert (await client.put(url, json=MINE, headers=auth("alice"))).status_code == 200
    assert (await client.get(url, headers=auth("bob"))).status_code == 404
    assert (await client.delete(url, headers=auth("bob"))).status_code == 204
    assert (await client.get(url, headers=auth("alice"))).json()["name"] == MINE["name"]
    assert (await client.get(url)).status_code == 401


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"temperature": 1.5}, "temperature"),
        ({"temperature": "0.5"}, "temperature"),
        ({"effort": "extreme"}, "effort"),
        ({"tools": ["Bash"]}, "tools"),
        ({"tools": ["Read", "Read"]}, "tools"),
        ({"model": "not-an-allowed-model"}, "model"),
        ({"name": ""}, "name"),
        ({"name": "x" * 81}, "name"),
        ({"systemPrompt": "x" * 8001}, "systemPrompt"),
        ({"isActive": "yes"}, "isActive"),
        ({"color": "blue"}, "color"),
    ],
)
async def test_invalid_fields_are_named(
    live: StartLive, client: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    server = live()
    answer = await client.put(
        f"{server.url}/me/agents/feature-suggestion", json=MINE | change, headers=auth()
    )
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert [error["field"] for error in answer.json()["errors"]] == [field]


async def test_chat_offers_no_tools_and_unknown_agents_are_refused(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    server = live()
    chat = await client.put(
        f"{server.url}/me/agents/chat", json=MINE | {"tools": ["Read"]}, headers=auth()
    )
    assert chat.status_code == 422
    assert "none" in chat.json()["errors"][0]["message"]
    unknown = await client.put(f"{server.url}/me/agents/nope", json=MINE, headers=auth())
    assert unknown.status_code == 422
    assert unknown.json()["code"] == "UNKNOWN_AGENT"


async def test_a_job_runs_the_snapshot_taken_at_creation(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    backend = ScriptedBackend(chunks=["Hello"])
    server = live(backend=backend)
    url = f"{server.url}/me/agents/chat"
    mine = MINE | {"tools": [], "systemPrompt": "Version one."}
    assert (await client.put(url, json=mine, headers=auth())).status_code == 200
    created = await client.post(
        f"{server.url}/jobs", json={"agent": "chat", "input": {"prompt": "hi"}}, headers=auth()
    )
    job = created.json()
    # Edited before the run starts: the job keeps the version it was created with.
    edited = mine | {"systemPrompt": "Version two."}
    assert (await client.put(url, json=edited, headers=auth())).json()["version"] == 2
    stream = await read_stream(client, server.url + job["streamUrl"], token=token())
    (request,) = backend.requests
    assert "Version one." in request.system
    assert "Version two." not in request.system
    assert "You are Checkout critic, a conversion-focused product manager." in request.system
    assert request.effort == "high"
    complete = stream.of("complete")[0].data
    assert complete["customAgent"] == {"name": "Checkout critic", "version": 1}
    # Finished (its record kept, compact), the job still says which custom agent ran.
    state = (await client.get(f"{server.url}/jobs/{job['jobId']}", headers=auth())).json()
    assert state["status"] == "completed"
    assert state["customAgent"] == {"name": "Checkout critic", "version": 1}


async def test_an_inactive_custom_agent_is_not_used(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    backend = ScriptedBackend(chunks=["Hello"])
    server = live(backend=backend)
    off = MINE | {"tools": [], "isActive": False, "systemPrompt": "Never seen."}
    await client.put(f"{server.url}/me/agents/chat", json=off, headers=auth())
    created = await client.post(
        f"{server.url}/jobs", json={"agent": "chat", "input": {"prompt": "hi"}}, headers=auth()
    )
    job = created.json()
    state = await client.get(f"{server.url}/jobs/{job['jobId']}", headers=auth())
    assert "customAgent" not in state.json()
    await read_stream(client, server.url + job["streamUrl"], token=token())
    assert "Never seen." not in backend.requests[0].system


async def test_effort_and_model_reach_the_messages_api(
    live: StartLive, client: httpx.AsyncClient, fake_anthropic: FakeAnthropic
) -> None:
    server = live(
        agent_backend="anthropic",
        anthropic_base_url=fake_anthropic.url,
        anthropic_api_key=API_KEY,
        anthropic_max_retries=0,
        allowed_models="claude-a,claude-b",
        anthropic_model="claude-a",
    )
    fake_anthropic.script(Reply(text="Hi there"))
    mine = MINE | {"tools": [], "model": "claude-b", "effort": "low"}
    assert (await client.put(f"{server.url}/me/agents/chat", json=mine, headers=auth())).is_success
    created = await client.post(
        f"{server.url}/jobs", json={"agent": "chat", "input": {"prompt": "hi"}}, headers=auth()
    )
    job = created.json()
    state = await client.get(f"{server.url}/jobs/{job['jobId']}", headers=auth())
    assert state.json()["customAgent"] == {"name": "Checkout critic", "version": 1}
    await read_stream(client, server.url + job["streamUrl"], token=token())
    body = fake_anthropic.requests[0].body
    assert body["model"] == "claude-b"
    assert body["output_config"] == {"effort": "low"}
    assert "temperature" not in body, "the Messages API as the SDK exposes it takes none"
    assert "Always mention the payment step." in json.dumps(body["system"])


def test_the_cli_shows_sets_and_deletes_a_custom_agent(live: StartLive, redis_url: str) -> None:
    server = live()
    env = {**os.environ, "JOBS_URL": server.url, "JOBS_TOKEN": token()}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "jobs", "agents", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)

    missing = cli("show", "chat")
    assert missing.returncode == 6, missing.stderr  # NOT_FOUND
    stored = cli("set", "chat", "--input", json.dumps(MINE | {"tools": []}))
    assert stored.returncode == 0, stored.stderr
    assert json.loads(stored.stdout)["version"] == 1
    shown = json.loads(cli("show", "chat").stdout)
    assert shown["systemPrompt"] == MINE["systemPrompt"]
    ops = [sys.executable, "-m", "jobs", "ops", "stats", "--json"]
    stats = subprocess.run(
        ops, env=env | {"REDIS_URL": redis_url}, capture_output=True, text=True, timeout=30
    )
    assert json.loads(stats.stdout)["customAgents"] == 1, stats.stderr
    bad = cli("set", "chat", "--input", json.dumps(MINE | {"effort": "extreme"}))
    assert bad.returncode == 8, bad.stderr  # REJECTED: 422
    assert "effort" in bad.stderr
    assert cli("delete", "chat").returncode == 0
    assert cli("show", "chat").returncode == 6
    assert cli("set", "--input", "{}").returncode == 2, "usage: no agent named"


async def test_the_embedded_store_takes_the_snapshot_too(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    """Without REDIS_URL (fakeredis, its Lua and cjson), the create script takes it."""
    backend = ScriptedBackend(chunks=["Hello"])
    server = live(backend=backend, redis_url=None)
    url = f"{server.url}/me/agents/chat"
    mine = MINE | {"tools": [], "systemPrompt": "Ünïcödé — 日本語 😀"}
    assert (await client.put(url, json=mine, headers=auth())).status_code == 200
    chat = {"agent": "chat", "input": {"prompt": "hi"}}
    job = (await client.post(f"{server.url}/jobs", json=chat, headers=auth())).json()
    state = await client.get(f"{server.url}/jobs/{job['jobId']}", headers=auth())
    assert state.json()["customAgent"] == {"name": "Checkout critic", "version": 1}
    stream = await read_stream(client, server.url + job["streamUrl"], token=token())
    assert stream.of("complete")[0].data["customAgent"] == {"name": "Checkout critic", "version": 1}
    assert "Ünïcödé — 日本語 😀" in backend.requests[0].system

    assert (await client.put(url, json=mine | {"isActive": False}, headers=auth())).is_success
    job = (await client.post(f"{server.url}/jobs", json=chat, headers=auth())).json()
    state = await client.get(f"{server.url}/jobs/{job['jobId']}", headers=auth())
    assert "customAgent" not in state.json()
