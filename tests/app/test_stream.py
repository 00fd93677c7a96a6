"""The event stream end to end: uvicorn on a free port, a real Redis, a real SSE client."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import redis

from jobs.errors import UpstreamOverloaded
from jobs.redis.keys import Keys
from jobs.tools import Workspace
from tests.conftest import StartLive, token
from tests.support.backends import ScriptedBackend
from tests.support.demo import DemoRun, demo_run
from tests.support.sse import read_stream

KEYS = Keys("jobs")

pytestmark = pytest.mark.anyio

FEATURE_INPUT = {
    "pageOrComponent": "checkout page",
    "featureType": "enhancement",
    "priorityLevel": "high",
}


def expected_demo_run(raw: dict[str, Any]) -> DemoRun:
    """The demo's run on the sample workspace (the live server's default workspace)."""
    with Workspace.open(None) as workspace:
        return demo_run("feature-suggestion", raw, workspace)


async def create(
    client: httpx.AsyncClient, base: str, *, sub: str = "alice", body: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await client.post(
        f"{base}/jobs",
        json=body or {"agent": "feature-suggestion", "input": FEATURE_INPUT},
        headers={"Authorization": f"Bearer {token(sub)}"},
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_the_full_contract(
    live: StartLive, client: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    server = live()
    job = await create(client, server.url)
    stream = await read_stream(client, server.url + job["streamUrl"], token=token())

    assert stream.status_code == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert stream.headers["cache-control"] == "no-cache, no-transform"
    assert stream.headers["x-accel-buffering"] == "no"

    connected, *stored = stream.events
    assert connected.event == "connected"
    assert connected.data["jobId"] == job["jobId"]
    assert connected.data["status"] == "running"
    assert connected.data["resumed"] is False
    assert isinstance(connected.data["timestamp"], int)

    *steps, complete = stored
    deltas = [e for e in steps if e.event == "delta"]
    tools = [e for e in steps if e.event == "tool"]
    assert len(deltas) + len(tools) == len(steps), "only delta and tool events before the end"
    assert complete.event == "complete"
    ids = [e.id for e in stored]
    assert all(ids)
    assert len(set(ids)) == len(ids), "every stored event has its own id"

    run = expected_demo_run(FEATURE_INPUT)
    expected = run.text
    assert stream.text == expected, "lossless: the deltas are the agent's whole output"
    calls = [(e.data["name"], e.data["input"]) for e in tools if e.data["phase"] == "call"]
    assert calls == list(run.calls), "the demo's tool calls, run on the real workspace"
    assert [e.data["ok"] for e in tools if e.data["phase"] == "result"] == [True] * len(calls)
    running = 0
    for delta in deltas:
        running += len(delta.data["text"])
        assert delta.data["totalLength"] == running
    assert complete.data["totalLength"] == len(expected)
    context = list(run.files_read)
    assert "src/pages/checkout.tsx" in context, "the demo read the checkout page"
    assert complete.data["result"] == json.loads(run.answer) | {"context": context}
    assert expected.endswith(run.answer)
    assert len(complete.data["result"]["suggestions"]) >= 3
    assert set(complete.data["tokenUsage"]) >= {"inputTokens", "outputTokens"}
    assert complete.data["model"] == "demo"
    assert complete.data["executionTimeMs"] >= 0

    # Finished: a compact record stays RESULT_TTL_S, the events for the resume grace only.
    assert "input" not in redis_client.hgetall(KEYS.job(job["jobId"]))
    assert 0 < redis_client.ttl(KEYS.job(job["jobId"])) <= 3600
    assert 0 < redis_client.ttl(KEYS.events(job["jobId"])) <= 60


async def test_wire_format_connected_first_with_retry_and_no_id(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    server = live()
    job = await create(client, server.url)
    headers = {"Authorization": f"Bearer {token()}"}
    async with client.stream("GET", server.url + job["streamUrl"], headers=headers) as response:
        raw = (await response.aread()).decode()
    first, second = raw.split("\n\n")[:2]
    assert first.startswith("event: connected\n")
    assert "\nretry: " in first
    assert "id:" not in first
    assert second.startswith("id: ")
    assert "\nevent: delta\n" in second


async def test_two_simultaneous_attaches_run_once_and_see_the_same_events(
    live: StartLive, client: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    backend = ScriptedBackend(chunks=[f"w{n} " for n in range(30)], interval_s=0.005)
    server = live(backend=backend)
    job = await create(client, server.url, body={"agent": "chat", "input": {"prompt": "hi"}})
    url = server.url + job["streamUrl"]
    first, second = await asyncio.gather(
        read_stream(client, url, token=token()), read_stream(client, url, token=token())
    )
    assert backend.started == 1, "the agent ran once"
    assert [e for e in first.events if e.event != "connected"] == [
        e for e in second.events if e.event != "connected"
    ]
    assert first.text == backend.text


async def test_disconnect_then_resume_with_last_event_id(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    backend = ScriptedBackend(chunks=[f"w{n} " for n in range(60)], interval_s=0.004)
    server = live(backend=backend)
    job = await create(client, server.url, body={"agent": "chat", "input": {"prompt": "hi"}})
    url = server.url + job["streamUrl"]
    head = await read_stream(client, url, token=token(), stop_after=3)
    assert len(head.of("delta")) == 3
    await asyncio.sleep(0.05)  # the run goes on without a client
    tail = await read_stream(client, url, token=token(), headers={"Last-Event-ID": head.last_id})
    assert tail.events[0].data["resumed"] is True
    assert head.text + tail.text == backend.text, "no gap and no duplicate"
    assert tail.events[-1].event == "complete"
    assert backend.started == 1


async def test_resume_with_the_query_parameter_on_another_instance(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    backend = ScriptedBackend(chunks=[f"w{n} " for n in range(60)], interval_s=0.004)
    first = live(backend=backend)
    second = live()  # no run here: it reads the Redis Stream
    job = await create(client, first.url, body={"agent": "chat", "input": {"prompt": "hi"}})
    head = await read_stream(client, first.url + job["streamUrl"], token=token(), stop_after=2)
    tail = await read_stream(
        client,
        second.url + job["streamUrl"],
        token=token(),
        params={"lastEventId": head.last_id},
    )
    assert head.text + tail.text == backend.text
    assert tail.events[-1].event == "complete"


async def test_after_the_end_terminal_id_is_204_and_no_id_is_410(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    server = live()
    job = await create(client, server.url, body={"agent": "chat", "input": {"prompt": "hi"}})
    url = server.url + job["streamUrl"]
    full = await read_stream(client, url, token=token())
    auth = {"Authorization": f"Bearer {token()}"}

    done = await client.get(url, headers=auth | {"Last-Event-ID": full.last_id})
    assert done.status_code == 204

    gone = await client.get(url, headers=auth)
    assert gone.status_code == 410
    assert gone.headers["content-type"] == "application/problem+json"
    assert gone.json()["code"] == "JOB_FINISHED"

    # A late resume from the middle replays the rest, terminal included.
    middle = full.of("delta")[0].id
    replay = await read_stream(client, url, token=token(), headers={"Last-Event-ID": middle})
    assert full.of("delta")[0].data["text"] + replay.text == full.text
    assert replay.events[-1].event == "complete"

    other = await client.get(
        url, headers={"Authorization": f"Bearer {token('bob')}", "Last-Event-ID": middle}
    )
    assert other.status_code == 403

    status = await client.get(server.url + f"/jobs/{job['jobId']}", headers=auth)
    assert status.json()["status"] == "completed"


async def test_a_failed_run_ends_with_error_and_stays_failed(
    live: StartLive, client: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    backend = ScriptedBackend(fail_with=UpstreamOverloaded("the provider is overloaded"))
    server = live(backend=backend)
    job = await create(client, server.url, body={"agent": "chat", "input": {"prompt": "hi"}})
    stream = await read_stream(client, server.url + job["streamUrl"], token=token())
    error = stream.events[-1]
    assert error.event == "error"
    assert error.data["code"] == "UPSTREAM_OVERLOADED"
    assert error.data["retryable"] is True
    assert isinstance(error.data["timestamp"], int)
    assert stream.text == backend.text, "partial output was delivered before the error"

    status = await client.get(
        server.url + f"/jobs/{job['jobId']}", headers={"Authorization": f"Bearer {token()}"}
    )
    assert status.status_code == 200
    assert status.json()["status"] == "failed"
    assert status.json()["error"]["code"] == "UPSTREAM_OVERLOADED"
    key = KEYS.job(job["jobId"])
    assert 60 < redis_client.ttl(key) <= 3600
    gone = await client.get(
        server.url + job["streamUrl"], headers={"Authorization": f"Bearer {token()}"}
    )
    assert gone.status_code == 410


async def test_run_timeout_reaches_the_client(live: StartLive, client: httpx.AsyncClient) -> None:
    server = live(backend=ScriptedBackend(hang=True), run_timeout_s=0.3)
    job = await create(client, server.url, body={"agent": "chat", "input": {"prompt": "hi"}})
    stream = await read_stream(client, server.url + job["streamUrl"], token=token())
    assert stream.events[-1].data["code"] == "TIMEOUT"


async def test_stream_ticket_authenticates_the_stream_only(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    server = live()
    job = await create(client, server.url, body={"agent": "chat", "input": {"prompt": "hi"}})
    ticketed = await read_stream(
        client, server.url + job["streamUrl"], params={"ticket": job["streamTicket"]}
    )
    assert ticketed.status_code == 200
    assert ticketed.events[-1].event == "complete"

    other = await create(client, server.url, body={"agent": "chat", "input": {"prompt": "yo"}})
    wrong_job = await client.get(
        server.url + other["streamUrl"], params={"ticket": job["streamTicket"]}
    )
    assert wrong_job.status_code == 401
    as_bearer = await client.get(
        server.url + f"/jobs/{job['jobId']}",
        headers={"Authorization": f"Bearer {job['streamTicket']}"},
    )
    assert as_bearer.status_code == 401

    fresh = await client.post(
        server.url + f"/jobs/{other['jobId']}/ticket",
        headers={"Authorization": f"Bearer {token()}"},
    )
    assert fresh.status_code == 200
    renewed = await read_stream(
        client, server.url + other["streamUrl"], params={"ticket": fresh.json()["streamTicket"]}
    )
    assert renewed.events[-1].event == "complete"


async def test_attach_errors(live: StartLive, client: httpx.AsyncClient) -> None:
    server = live()
    job = await create(client, server.url, body={"agent": "chat", "input": {"prompt": "hi"}})
    auth = {"Authorization": f"Bearer {token()}"}

    cases = {
        "/jobs/not-a-job/stream": (auth, 400, "INVALID_JOB_ID"),
        f"/jobs/{'0' * 32}/stream": (auth, 404, "JOB_NOT_FOUND"),
        job["streamUrl"]: ({"Authorization": f"Bearer {token('bob')}"}, 403, "NOT_OWNER"),
    }
    for path, (headers, expected, code) in cases.items():
        response = await client.get(server.url + path, headers=headers)
        assert response.status_code == expected, path
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == code

    bad_id = await client.get(server.url + job["streamUrl"], headers=auth | {"Last-Event-ID": "x"})
    assert bad_id.status_code == 400
    assert bad_id.json()["code"] == "INVALID_EVENT_ID"

    anonymous = await client.get(server.url + job["streamUrl"])
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")

    # None of the refused attaches started the run.
    status = await client.get(server.url + f"/jobs/{job['jobId']}", headers=auth)
    assert status.json()["status"] == "pending"


async def test_idle_streams_get_ping_comments(live: StartLive, client: httpx.AsyncClient) -> None:
    backend = ScriptedBackend(chunks=["slow"], interval_s=1.2)
    server = live(backend=backend, stream_ping_s=0.3)
    job = await create(client, server.url, body={"agent": "chat", "input": {"prompt": "hi"}})
    headers = {"Authorization": f"Bearer {token()}"}
    async with client.stream("GET", server.url + job["streamUrl"], headers=headers) as response:
        raw = (await response.aread()).decode()
    assert ": ping\n\n" in raw
    assert "event: complete\n" in raw, "pings do not disturb the stream"
