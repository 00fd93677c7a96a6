"""Runs that outlive their process (real processes on one real Redis): a runner killed with
``kill -9`` in a model call or in a tool call is taken over by a live instance, which goes on
from the run's journal: no text repeated or lost, no tool call with a stored result run again,
``complete`` says how many takeovers there were, and the instance that took over logs it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from jobs.tools import Workspace
from tests.app.test_instances import assert_nothing_leaked, create, delta_text, entries
from tests.conftest import SECRET, token
from tests.support.demo import demo_run
from tests.support.process import StartInstance, instance_group
from tests.support.sse import Stream, read_stream

pytestmark = pytest.mark.anyio

LEASE_TTL_S = 2
PROMPT = "Tell me about resumable streams."
CHAT = {"agent": "chat", "input": {"prompt": PROMPT}}
FEATURE = {"pageOrComponent": "checkout page", "featureType": "enhancement", "priorityLevel": "low"}
PLAN = {"agent": "feature-suggestion", "input": FEATURE}


@pytest.fixture
def instances(redis_url: str) -> Iterator[StartInstance]:
    with instance_group(
        REDIS_URL=redis_url,
        AUTH_JWT_SECRET=SECRET,
        DEMO_TOKENS_PER_SECOND="20",
        STREAM_THROTTLE_MS="50",
        LEASE_TTL_S=str(LEASE_TTL_S),
    ) as start:
        yield start


def assert_one_history(head: Stream, tail: Stream, redis_client: redis.Redis, job_id: str) -> None:
    """The client's events are the stored ones, each once, in order."""
    ids = [e.id for e in head.events + tail.events if e.event != "connected"]
    assert len(ids) == len(set(ids)), "no event id repeats"
    stored = redis_client.xrange(f"jobs:{{{job_id}}}:events")
    assert ids == [entry_id for entry_id, _ in stored]  # type: ignore[union-attr]


async def kill_then_follow(
    http: httpx.AsyncClient, instances: StartInstance, body: dict[str, Any], stop_at: str
) -> tuple[str, Stream, Stream, float]:
    """Start a job on A; read there up to its first ``stop_at`` event; kill A; follow the job
    on B to its end. Returns the job id, both streams and the seconds from the kill to the
    first delta the new runner stored (its own timestamp: same machine, same clock)."""
    a, b = instances(), instances()
    job_id = await create(http, a.url, body)
    path = f"/jobs/{job_id}/stream"
    head = await read_stream(http, a.url + path, token=token(), stop_at=stop_at)
    a.kill()
    killed_at_ms = time.time() * 1000

    async def follow() -> Stream:
        tail = Stream(200, httpx.Headers())
        last = head.last_id
        while True:  # an unstored STORE_UNAVAILABLE means "resume": as every client does
            part = await read_stream(
                http, b.url + path, token=token(), headers={"Last-Event-ID": last}
            )
            tail.events.extend(e for e in part.events if e.event != "connected")
            if (
                tail.events
                and tail.events[-1].event in ("complete", "error")
                and tail.events[-1].id
            ):
                return tail
            last = tail.last_id if tail.events else last

    tail = await asyncio.wait_for(follow(), LEASE_TTL_S + 30)
    first_ms = min(
        e.data["timestamp"] for e in tail.of("delta") if e.data["timestamp"] > killed_at_ms
    )
    latency_s = (first_ms - killed_at_ms) / 1000
    assert "run taken over" in b.log()
    logged = [json.loads(line) for line in b.log().splitlines() if "run taken over" in line]
    assert logged[0]["job_id"] == job_id
    assert logged[0]["reason"] == "lease-lapsed"
    assert logged[0]["old_runner"] != logged[0]["runner"]
    metrics = (await http.get(f"{b.url}/metrics")).text
    assert 'jobs_takeovers_total{reason="lease-lapsed"} 1.0' in metrics
    return job_id, head, tail, latency_s


async def test_a_run_killed_in_a_model_call_is_taken_over_without_repeating_text(
    instances: StartInstance, http: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    job_id, head, tail, latency_s = await kill_then_follow(http, instances, CHAT, stop_at="delta")
    print(f"takeover: first delta from the new runner {latency_s:.2f} s after kill -9")
    complete = tail.events[-1]
    assert complete.event == "complete"
    assert complete.data["takeovers"] == 1
    expected = demo_run("chat", {"prompt": PROMPT}).text
    assert not tail.of("rewind"), "the demo continues the interrupted step"
    assert head.text + tail.text == expected == delta_text(redis_client, job_id)
    assert complete.data["totalLength"] == len(expected)
    assert complete.data["result"] == {"text": expected}
    assert_one_history(head, tail, redis_client, job_id)


async def test_a_run_killed_in_its_tool_calls_runs_only_the_calls_without_a_result(
    instances: StartInstance, http: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    # Killed right after its first tool event: the step's calls are in flight or done.
    job_id, head, tail, _ = await kill_then_follow(http, instances, PLAN, stop_at="tool")
    assert head.events[-1].event == "tool"
    complete = tail.events[-1]
    assert complete.event == "complete", complete.data
    assert complete.data["takeovers"] == 1
    fields = entries(redis_client, job_id)
    results = Counter(
        json.loads(f["data"])["id"]
        for f in fields
        if f["event"] == "tool" and json.loads(f["data"])["phase"] == "result"
    )
    assert results, "the run used tools"
    assert max(results.values()) == 1, "no tool call with a stored result ran again"
    with Workspace.open(None) as workspace:
        expected = demo_run("feature-suggestion", FEATURE, workspace)
    assert head.text + tail.text == expected.text == delta_text(redis_client, job_id)
    assert complete.data["toolCalls"] == len(results)
    assert_one_history(head, tail, redis_client, job_id)


async def test_with_no_instance_alive_the_next_one_to_start_takes_the_run_over(
    instances: StartInstance, http: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    a = instances()
    job_id = await create(http, a.url)
    path = f"/jobs/{job_id}/stream"
    head = await read_stream(http, a.url + path, token=token(), stop_after=2)
    a.kill()
    await asyncio.sleep(LEASE_TTL_S)
    b = instances()
    tail = await read_stream(
        http, b.url + path, token=token(), headers={"Last-Event-ID": head.last_id}
    )
    while tail.events[-1].event not in ("complete", "error"):
        more = await read_stream(
            http, b.url + path, token=token(), headers={"Last-Event-ID": tail.last_id}
        )
        tail.events.extend(e for e in more.events if e.event != "connected")
    assert tail.events[-1].event == "complete"
    assert head.text + tail.text == delta_text(redis_client, job_id)
    await assert_nothing_leaked(http, redis_client, b)


async def test_a_frozen_runner_is_taken_over_and_stores_nothing_when_it_wakes(
    instances: StartInstance, http: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    a, b = instances(), instances()
    job_id = await create(http, a.url)
    path = f"/jobs/{job_id}/stream"
    head = await read_stream(http, a.url + path, token=token(), stop_at="delta")
    assert a.process is not None
    os.killpg(a.process.pid, signal.SIGSTOP)
    try:
        tail = Stream(200, httpx.Headers())
        last = head.last_id
        while not tail.events or tail.events[-1].event not in ("complete", "error"):
            part = await asyncio.wait_for(
                read_stream(http, b.url + path, token=token(), headers={"Last-Event-ID": last}),
                LEASE_TTL_S + 30,
            )
            tail.events.extend(e for e in part.events if e.event != "connected" and e.id)
            last = tail.last_id if tail.events else last
    finally:
        os.killpg(a.process.pid, signal.SIGCONT)
    assert tail.events[-1].event == "complete"
    assert tail.events[-1].data["takeovers"] == 1
    stored_before = redis_client.xlen(f"jobs:{{{job_id}}}:events")
    await asyncio.sleep(LEASE_TTL_S)  # whatever the woken runner still had would land now
    assert redis_client.xlen(f"jobs:{{{job_id}}}:events") == stored_before, "A stored nothing"
    assert head.text + tail.text == delta_text(redis_client, job_id)
    assert_one_history(head, tail, redis_client, job_id)
    await assert_nothing_leaked(http, redis_client, a, b)
