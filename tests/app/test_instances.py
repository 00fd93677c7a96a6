"""Several real service processes on one real Redis: what production does to them.

Start on A, attach on B, resume anywhere, cancel from anywhere; kill -9 the runner; SIGTERM
with streams open; per-user limits across instances. After every scenario nothing leaks:
every key has a TTL and every instance is back to no open streams and no runs.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from jobs.redis.keys import Keys
from tests.conftest import SECRET, token
from tests.support.process import ServiceProcess, StartInstance, instance_group
from tests.support.sse import read_stream

KEYS = Keys("jobs")

pytestmark = pytest.mark.anyio

LEASE_TTL_S = 2
CHAT = {"agent": "chat", "input": {"prompt": "Tell me about resumable streams."}}
AUTH = {"Authorization": f"Bearer {token()}"}


@pytest.fixture
def instances(redis_url: str) -> Iterator[StartInstance]:
    with instance_group(
        REDIS_URL=redis_url,
        AUTH_JWT_SECRET=SECRET,
        DEMO_TOKENS_PER_SECOND="40",
        STREAM_THROTTLE_MS="50",
        LEASE_TTL_S=str(LEASE_TTL_S),
        SHUTDOWN_GRACE_S="1",
        SHUTDOWN_DRAIN_S="0",  # SIGTERM stops at once (tests/app/test_drain.py drains)
        MAX_TAKEOVERS="0",  # a lost runner ends its run (tests/app/test_takeover.py: takeovers)
    ) as start:
        yield start


async def create(http: httpx.AsyncClient, base: str, body: dict[str, Any] = CHAT) -> str:
    response = await http.post(f"{base}/jobs", json=body, headers=AUTH)
    assert response.status_code == 201, response.text
    job_id: str = response.json()["jobId"]
    return job_id


def entries(redis_client: redis.Redis, job_id: str) -> list[dict[str, str]]:
    """The fields of the job's stored events, oldest first."""
    stored: Any = redis_client.xrange(KEYS.events(job_id))
    return [fields for _, fields in stored]


def delta_text(redis_client: redis.Redis, job_id: str) -> str:
    """The text of every stored delta: what a lossless client must have received."""
    deltas = [f for f in entries(redis_client, job_id) if f["event"] == "delta"]
    return "".join(json.loads(f["data"])["text"] for f in deltas)


async def assert_nothing_leaked(
    http: httpx.AsyncClient, redis_client: redis.Redis, *services: ServiceProcess
) -> None:
    """Every key has a TTL; stream slots and presence are released; no runs, no streams."""
    deadline = time.monotonic() + 10
    while True:
        counts = [(await http.get(f"{s.url}/readyz")).json() for s in services]
        assert all("activeRuns" in c for c in counts), counts
        busy = [c for c in counts if c["activeRuns"] or c["openStreams"]]
        slots = [k for k in redis_client.scan_iter(KEYS.user_streams("*")) if redis_client.zcard(k)]
        if not busy and not slots:
            break
        assert time.monotonic() < deadline, f"still busy: {busy}, slots held: {slots}"
        await asyncio.sleep(0.1)
    without_ttl = [key for key in redis_client.scan_iter("*") if redis_client.ttl(key) < 0]
    assert without_ttl == []


async def test_start_attach_resume_and_cancel_across_instances(
    instances: StartInstance, http: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    a, b = instances(), instances()
    job_id = await create(http, a.url)
    stream_path = f"/jobs/{job_id}/stream"

    # Attach on B: B claims the job and runs it. Drop the connection after a few deltas.
    head = await read_stream(http, b.url + stream_path, token=token(), stop_after=3)
    assert redis_client.hget(KEYS.job(job_id), "runner") is not None

    async def cancel_soon() -> None:
        await asyncio.sleep(0.5)
        response = await http.delete(f"{a.url}/jobs/{job_id}", headers=AUTH)
        assert response.status_code == 204

    # Resume on A (which tails Redis) and cancel from A while B runs it.
    canceller = asyncio.create_task(cancel_soon())
    tail = await read_stream(
        http, a.url + stream_path, token=token(), headers={"Last-Event-ID": head.last_id}
    )
    await canceller
    assert tail.events[0].data["resumed"] is True
    error = tail.events[-1]
    assert error.event == "error"
    assert error.data["code"] == "CANCELLED"
    text = head.text + tail.text
    full = await http.get(f"{a.url}/jobs/{job_id}", headers=AUTH)
    assert full.json()["status"] == "cancelled"
    stored_text = delta_text(redis_client, job_id)
    assert text == stored_text, "no gap and no duplicate across the resume"
    assert len(text) > 0

    again = await http.delete(f"{b.url}/jobs/{job_id}", headers=AUTH)
    assert again.status_code == 204, "cancel is idempotent"
    other = await http.delete(
        f"{b.url}/jobs/{job_id}", headers={"Authorization": f"Bearer {token('bob')}"}
    )
    assert other.status_code == 403
    await assert_nothing_leaked(http, redis_client, a, b)


async def test_cancel_a_pending_job_means_it_never_runs(
    instances: StartInstance, http: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    a = instances()
    job_id = await create(http, a.url)
    assert (await http.delete(f"{a.url}/jobs/{job_id}", headers=AUTH)).status_code == 204
    attach = await http.get(f"{a.url}/jobs/{job_id}/stream", headers=AUTH)
    assert attach.status_code == 410
    assert not redis_client.exists(KEYS.lease(job_id))
    assert (await http.delete(f"{a.url}/jobs/{'c' * 32}", headers=AUTH)).status_code == 404
    await assert_nothing_leaked(http, redis_client, a)


async def test_a_killed_runner_is_noticed_by_readers_elsewhere(
    instances: StartInstance, http: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    a, b = instances(), instances()
    job_id = await create(http, a.url)
    path = f"/jobs/{job_id}/stream"
    head = await read_stream(http, a.url + path, token=token(), stop_after=2)  # A runs it

    async def kill_soon() -> float:
        await asyncio.sleep(0.3)
        a.kill()
        return time.monotonic()

    killer = asyncio.create_task(kill_soon())
    tail = await asyncio.wait_for(
        read_stream(http, b.url + path, token=token(), headers={"Last-Event-ID": head.last_id}),
        timeout=LEASE_TTL_S + 10,
    )
    killed_at = await killer
    print(f"RUNNER_LOST after {time.monotonic() - killed_at:.2f} s (lease {LEASE_TTL_S} s)")
    error = tail.events[-1]
    assert error.event == "error"
    assert error.data["code"] == "RUNNER_LOST"
    assert error.data["retryable"] is True
    terminals = [f for f in entries(redis_client, job_id) if f["event"] == "error"]
    assert len(terminals) == 1, "declared exactly once"
    status = await http.get(f"{b.url}/jobs/{job_id}", headers=AUTH)
    assert status.json()["status"] == "failed"
    await assert_nothing_leaked(http, redis_client, b)


async def test_sigterm_closes_streams_and_clients_resume_elsewhere(
    instances: StartInstance, http: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    # Slow enough that the run is still going when the grace period ends, even on a busy box.
    a, b = instances(DEMO_TOKENS_PER_SECOND="10"), instances()
    job_id = await create(http, a.url)
    path = f"/jobs/{job_id}/stream"

    async def terminate_soon() -> int:
        await asyncio.sleep(0.5)
        return await asyncio.to_thread(a.terminate, 20)

    stopper = asyncio.create_task(terminate_soon())
    head = await read_stream(http, a.url + path, token=token())  # ends when A shuts down
    assert head.events, "the stream was open before the shutdown"
    assert not [e for e in head.events if e.event in ("complete", "error")], "closed, not ended"
    tail = await read_stream(
        http, b.url + path, token=token(), headers={"Last-Event-ID": head.last_id}
    )
    # uvicorn re-raises the SIGTERM after its clean shutdown, so the exit status names it.
    assert await stopper in (0, -15)
    assert "Application shutdown complete" in a.log()
    error = tail.events[-1]
    assert error.data["code"] == "SHUTDOWN"
    assert error.data["retryable"] is True
    stored_text = delta_text(redis_client, job_id)
    assert head.text + tail.text == stored_text
    await assert_nothing_leaked(http, redis_client, b)


async def test_limits_hold_across_instances(
    instances: StartInstance, http: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    limits = {"RATE_LIMIT_CREATE_PER_MIN": "3", "MAX_STREAMS_PER_USER": "2"}
    a, b = instances(**limits), instances(**limits)
    jobs = [await create(http, a.url), await create(http, b.url), await create(http, a.url)]
    refused = await http.post(f"{b.url}/jobs", json=CHAT, headers=AUTH)
    assert refused.status_code == 429
    assert refused.json()["code"] == "RATE_LIMITED"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    other_user = await http.post(
        f"{b.url}/jobs", json=CHAT, headers={"Authorization": f"Bearer {token('bob')}"}
    )
    assert other_user.status_code == 201, "limits are per user"

    async with http.stream("GET", f"{a.url}/jobs/{jobs[0]}/stream", headers=AUTH) as first:
        assert first.status_code == 200
        async with http.stream("GET", f"{b.url}/jobs/{jobs[1]}/stream", headers=AUTH) as second:
            assert second.status_code == 200
            third = await http.get(f"{a.url}/jobs/{jobs[2]}/stream", headers=AUTH)
            assert third.status_code == 429
            assert third.json()["code"] == "TOO_MANY_STREAMS"
            assert third.headers["retry-after"]
            refused = await http.get(f"{a.url}/jobs/{jobs[2]}", headers=AUTH)
            assert refused.json()["status"] == "pending", "a refused attach starts nothing"
        # The second stream's slot is released when its connection ends.
        deadline = time.monotonic() + 5
        while True:
            retry = await http.get(
                f"{a.url}/jobs/{jobs[2]}/stream", headers=AUTH | {"Last-Event-ID": "0-0"}
            )
            if retry.status_code != 429:
                break
            assert time.monotonic() < deadline, "the slot was never released"
            await asyncio.sleep(0.1)
        assert retry.status_code == 200
    for job_id in jobs:
        await http.delete(f"{a.url}/jobs/{job_id}", headers=AUTH)
    await assert_nothing_leaked(http, redis_client, a, b)
