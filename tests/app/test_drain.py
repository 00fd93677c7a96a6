"""``SIGTERM`` drains (real processes on one real Redis): the instance answers ``/readyz`` with
503, starts no runs, ends its open streams cleanly, and lets its runs go on for up to
``SHUTDOWN_DRAIN_S``; a second signal stops it at once."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator

import httpx
import pytest
import redis

from tests.app.test_instances import LEASE_TTL_S, assert_nothing_leaked, create, delta_text
from tests.conftest import SECRET, token
from tests.support.demo import demo_text
from tests.support.process import ServiceProcess, StartInstance, instance_group
from tests.support.sse import Stream, read_stream

pytestmark = pytest.mark.anyio

PROMPT = "Tell me about resumable streams."


@pytest.fixture
def instances(redis_url: str) -> Iterator[StartInstance]:
    with instance_group(
        REDIS_URL=redis_url,
        AUTH_JWT_SECRET=SECRET,
        STREAM_THROTTLE_MS="50",
        LEASE_TTL_S=str(LEASE_TTL_S),
    ) as start:
        yield start


async def until_draining(http: httpx.AsyncClient, service: ServiceProcess) -> None:
    """Poll ``/readyz`` until it answers 503 ``DRAINING``."""
    for _ in range(200):
        response = await http.get(f"{service.url}/readyz")
        if response.status_code == 503:
            assert response.json()["code"] == "DRAINING"
            return
        assert response.status_code == 200
        await asyncio.sleep(0.05)
    raise AssertionError("the instance never started draining")


def signal_(service: ServiceProcess, sig: signal.Signals = signal.SIGTERM) -> None:
    assert service.process is not None
    service.process.send_signal(sig)


async def head_then_sigterm(http: httpx.AsyncClient, a: ServiceProcess, job_id: str) -> Stream:
    """Open a stream of the job on A (A claims and runs it), SIGTERM A once text flows; the
    stream, which A ends cleanly when the drain starts."""
    reading = asyncio.create_task(read_stream(http, f"{a.url}/jobs/{job_id}/stream", token=token()))
    for _ in range(200):
        status = (await http.get(f"{a.url}/jobs/{job_id}", headers=auth())).json()
        if status["status"] == "running":
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    signal_(a)
    await until_draining(http, a)
    return await asyncio.wait_for(reading, 10)


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {token()}"}


async def test_a_drain_long_enough_lets_the_run_finish_and_starts_none(
    instances: StartInstance, http: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    a = instances(DEMO_TOKENS_PER_SECOND="20", SHUTDOWN_DRAIN_S="30")
    b = instances(DEMO_TOKENS_PER_SECOND="40")
    job_id = await create(http, a.url)
    head = await head_then_sigterm(http, a, job_id)
    assert head.of("delta"), "the stream was open before the drain"
    assert not head.of("complete"), "ended cleanly: the run goes on"
    assert not head.of("error"), "ended cleanly, not with an error"

    # While draining, A still serves: a job is created, but a stream of it starts no run here.
    other = await create(http, a.url)
    idle = await read_stream(http, f"{a.url}/jobs/{other}/stream", token=token())
    assert [e.event for e in idle.events] == ["connected"]
    assert idle.events[0].data["status"] == "pending"
    moved = await read_stream(http, f"{b.url}/jobs/{other}/stream", token=token())
    assert moved.of("complete"), "B runs the job A would not start"
    assert moved.text == demo_text("chat", {"prompt": PROMPT})

    # The run goes on at A and completes there; a client resumes it on B.
    path = f"/jobs/{job_id}/stream"
    tail = await read_stream(
        http, b.url + path, token=token(), headers={"Last-Event-ID": head.last_id}
    )
    assert tail.events[-1].event == "complete"
    assert head.text + tail.text == delta_text(redis_client, job_id)
    assert head.text + tail.text == demo_text("chat", {"prompt": PROMPT})
    assert await asyncio.to_thread(a.process.wait, 30) in (0, -signal.SIGTERM)  # type: ignore[union-attr]
    assert "drain over: 0 runs still going" in a.log()
    await assert_nothing_leaked(http, redis_client, b)


async def test_a_drain_too_short_hands_the_run_over_and_a_second_signal_stops_at_once(
    instances: StartInstance, http: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    # A slow run (about 13 s) and a drain far longer than this test waits for the process.
    a = instances(DEMO_TOKENS_PER_SECOND="5", SHUTDOWN_DRAIN_S="120")
    b = instances()
    expected = demo_text("chat", {"prompt": PROMPT})
    job_id = await create(http, a.url)
    head = await head_then_sigterm(http, a, job_id)
    signal_(a)  # the second signal: stop now, not after the drain (the run is handed over)
    assert await asyncio.to_thread(a.process.wait, 20) in (0, -signal.SIGTERM)  # type: ignore[union-attr]
    assert "run handed over" in a.log()
    tail = await follow(http, b.url, job_id, head.last_id)
    assert tail.events[-1].event == "complete"
    assert tail.events[-1].data["takeovers"] == 1
    assert head.text + tail.text == delta_text(redis_client, job_id) == expected
    assert "reason handover" in b.log()

    c = instances(DEMO_TOKENS_PER_SECOND="5", SHUTDOWN_DRAIN_S="1")
    job_id = await create(http, c.url)
    head = await head_then_sigterm(http, c, job_id)
    assert await asyncio.to_thread(c.process.wait, 20) in (0, -signal.SIGTERM)  # type: ignore[union-attr]
    assert "drain over: 1 runs still going" in c.log()
    tail = await follow(http, b.url, job_id, head.last_id)
    assert tail.events[-1].event == "complete"
    assert tail.events[-1].data["takeovers"] == 1
    assert head.text + tail.text == delta_text(redis_client, job_id) == expected
    await assert_nothing_leaked(http, redis_client, b)


async def follow(http: httpx.AsyncClient, base: str, job_id: str, last_id: str) -> Stream:
    """The job's events after ``last_id`` to its stored end, resuming as clients do."""
    tail = Stream(200, httpx.Headers())
    path = f"{base}/jobs/{job_id}/stream"
    while not tail.events or tail.events[-1].event not in ("complete", "error"):
        part = await read_stream(http, path, token=token(), headers={"Last-Event-ID": last_id})
        tail.events.extend(e for e in part.events if e.event != "connected" and e.id)
        last_id = tail.last_id if tail.events else last_id
    return tail
