"""A rolling restart (real processes on one real Redis): two instances with 50 runs in flight
and clients attached to both are restarted one after the other (``SIGTERM``, its drain, a new
process in its place). Every run completes; every client's text, each ``rewind`` applied, is
its run's output; no client sees an event id twice; no tool call with a stored result runs
again."""

from __future__ import annotations

import asyncio
import json
import signal
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import redis
from httpx_sse import aconnect_sse

from jobs.agents import default_agents
from jobs.client.resume import TYPES, Output
from jobs.tools import Workspace
from tests.app.test_instances import KEYS, delta_text, entries
from tests.conftest import SECRET, token
from tests.support.demo import demo_run
from tests.support.process import ServiceProcess, StartInstance, instance_group
from tests.support.sse import Event

pytestmark = pytest.mark.anyio

RUNS = 50
LEASE_TTL_S = 2
FEATURE = {"pageOrComponent": "checkout page", "featureType": "enhancement", "priorityLevel": "low"}
PLAN = {"agent": "feature-suggestion", "input": FEATURE}
#: Each run takes about fifteen seconds: long enough to be in flight through both restarts.
TOKENS_PER_SECOND = "16"


@pytest.fixture
def instances(redis_url: str) -> Iterator[StartInstance]:
    with instance_group(
        REDIS_URL=redis_url,
        AUTH_JWT_SECRET=SECRET,
        DEMO_TOKENS_PER_SECOND=TOKENS_PER_SECOND,
        STREAM_THROTTLE_MS="50",
        LEASE_TTL_S=str(LEASE_TTL_S),
        SHUTDOWN_DRAIN_S="1",  # shorter than the runs: the restart hands them over
        RATE_LIMIT_CREATE_PER_MIN="1000",
        MAX_STREAMS_PER_USER="100",
    ) as start:
        yield start


@dataclass
class Client:
    """One client of one job: it reads the stream from an instance that is up, and resumes
    with ``Last-Event-ID`` wherever one is up whenever its stream ends before the run does."""

    job_id: str
    home: int
    events: list[Event] = field(default_factory=list)
    connections: int = 0

    @property
    def ended(self) -> bool:
        return bool(self.events) and self.events[-1].event in ("complete", "error")

    @property
    def text(self) -> str:
        output = Output()
        for event in self.events:
            data = event.data | ({"id": event.id} if event.event != "tool" else {})
            output.apply(TYPES[event.event].model_validate(data))
        return output.text

    async def follow(self, http: httpx.AsyncClient, up: list[ServiceProcess]) -> None:
        while not self.ended:
            base = up[(self.home + self.connections) % len(up)].url
            self.connections += 1
            headers = {"Authorization": f"Bearer {token()}"}
            if self.events:
                headers["Last-Event-ID"] = self.events[-1].id
            url = f"{base}/jobs/{self.job_id}/stream"
            try:
                async with aconnect_sse(http, "GET", url, headers=headers) as source:
                    assert source.response.status_code == 200, source.response.status_code
                    async for sse in source.aiter_sse():
                        if sse.event not in ("connected", "message") and sse.id:
                            self.events.append(Event(sse.event, sse.id, json.loads(sse.data)))
            except httpx.TransportError:  # the instance went away under the stream
                await asyncio.sleep(0.2)


async def restart(instances: StartInstance, up: list[ServiceProcess], index: int) -> ServiceProcess:
    """SIGTERM the instance at ``up[index]``, wait for it to exit, start a new one there."""
    old = up[index]
    assert old.process is not None
    up.remove(old)  # clients go elsewhere from now on, as a load balancer sends them
    old.process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(old.process.wait, 30) in (0, -signal.SIGTERM)
    new = await asyncio.to_thread(instances)
    up.insert(index, new)
    return old


@pytest.mark.timeout(180)
async def test_a_rolling_restart_of_two_instances_completes_every_run_in_flight(
    instances: StartInstance, http: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    up = [instances(), instances()]
    created = [
        await http.post(f"{up[n % 2].url}/jobs", json=PLAN, headers=auth()) for n in range(RUNS)
    ]
    assert all(r.status_code == 201 for r in created), [r.text for r in created]
    clients = [Client(r.json()["jobId"], n % 2) for n, r in enumerate(created)]
    following = [asyncio.create_task(c.follow(http, up)) for c in clients]

    # Every run is in flight (its client has text) on one of the two instances.
    for _ in range(600):
        if all(any(e.event == "delta" for e in c.events) for c in clients):
            break
        await asyncio.sleep(0.05)
    in_flight = [c for c in clients if not c.ended]
    assert len(in_flight) == RUNS, "every run was in flight when the restart began"
    runners = Counter(redis_client.hget(KEYS.job(c.job_id), "runner") for c in clients)
    assert len(runners) == 2, f"runs on both instances: {runners}"

    stopped = [await restart(instances, up, 0), await restart(instances, up, 1)]
    await asyncio.wait_for(asyncio.gather(*following), 90)

    with Workspace.open(None) as workspace:
        uninterrupted = demo_run("feature-suggestion", FEATURE, workspace)
    plan = uninterrupted.text
    agent = next(a for a in default_agents() if a.name == "feature-suggestion")
    result = agent.result(uninterrupted.answer, files_read=uninterrupted.files_read)
    takeovers = rewinds = 0
    for client in clients:
        complete = client.events[-1]
        assert complete.event == "complete", (client.job_id, complete.data)
        assert client.text == plan, client.job_id
        assert complete.data["totalLength"] == len(plan)
        assert complete.data["result"] == result, "the result an uninterrupted run makes"
        ids = [e.id for e in client.events]
        assert len(ids) == len(set(ids)), f"an event id repeats for {client.job_id}"
        stored: Any = redis_client.xrange(KEYS.events(client.job_id))
        assert ids == [entry_id for entry_id, _ in stored], (
            "the client saw every stored event, once, in order"
        )
        assert_no_tool_call_ran_again(entries(redis_client, client.job_id))
        takeovers += complete.data["takeovers"]
        cuts = [e for e in client.events if e.event == "rewind"]
        rewinds += len(cuts)
        if not cuts:
            assert delta_text(redis_client, client.job_id) == plan
    handed_over = sum(s.log().count("run handed over") for s in stopped)
    print(
        f"rolling restart: {RUNS} runs, {takeovers} takeovers "
        f"({handed_over} handed over by a drain), {rewinds} rewinds"
    )
    assert takeovers > 0, "the restarts handed runs over"
    assert handed_over > 0


def assert_no_tool_call_ran_again(fields: list[dict[str, str]]) -> None:
    """No ``call`` of a tool id after its stored ``result``, and one result per id."""
    with_result: set[str] = set()
    for f in fields:
        if f["event"] != "tool":
            continue
        data: dict[str, Any] = json.loads(f["data"])
        assert data["id"] not in with_result, f"tool call {data['id']} ran again: {data}"
        if data["phase"] == "result":
            with_result.add(data["id"])


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {token()}"}
