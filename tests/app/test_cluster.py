"""The core flow on a three-master Redis Cluster started by a fixture.

Every multi-key operation of the service stays inside one job's hash tag, so scripts, the
claim, cancel and resume all work when the job's keys live on any of the three masters.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from jobs.redis.keys import Keys
from tests.conftest import StartLive, token
from tests.support.backends import ScriptedBackend
from tests.support.process import ROOT
from tests.support.redis_server import RedisServer, free_port, require
from tests.support.sse import read_stream

KEYS = Keys("jobs")

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": f"Bearer {token()}"}


@pytest.fixture(scope="module")
def cluster() -> Iterator[list[RedisServer]]:
    cli = require("redis-cli")
    # Redis 7.0 wants port + 10000 (its cluster bus port) to be a valid port.
    nodes = [
        RedisServer(
            "--cluster-enabled",
            "yes",
            "--cluster-node-timeout",
            "2000",
            port=free_port(below=55536),
        )
        for _ in range(3)
    ]
    try:
        for node in nodes:
            node.start()
        subprocess.run(
            [cli, "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in nodes),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while True:
            info = redis.Redis(port=nodes[0].port, decode_responses=True).cluster("info")
            if info["cluster_state"] == "ok":
                break
            assert time.monotonic() < deadline, f"the cluster never came up: {info}"
            time.sleep(0.1)
        yield nodes
    finally:
        for node in nodes:
            node.close()


async def test_the_core_flow_on_a_cluster(
    cluster: list[RedisServer], live: StartLive, client: httpx.AsyncClient
) -> None:
    url = f"redis://127.0.0.1:{cluster[0].port}/0"
    unlimited: dict[str, Any] = {"rate_limit_create_per_min": 0, "lease_ttl_s": 1.5}
    a = live(redis_url=url, redis_cluster=True, **unlimited)
    # B runs the jobs (it attaches first), slowly enough to renew its leases meanwhile.
    b = live(
        redis_url=url.replace("redis://", "redis+cluster://"),
        demo_tokens_per_second=100,
        **unlimited,
    )
    masters: set[int] = set()
    for n in range(6):  # enough jobs to land on every master
        created = await client.post(
            f"{a.url}/jobs", json={"agent": "chat", "input": {"prompt": f"hi {n}"}}, headers=AUTH
        )
        assert created.status_code == 201
        job = created.json()
        head = await read_stream(client, b.url + job["streamUrl"], token=token(), stop_after=1)
        tail = await read_stream(
            client, a.url + job["streamUrl"], token=token(), headers={"Last-Event-ID": head.last_id}
        )
        assert tail.events[-1].event == "complete"
        assert head.text + tail.text == tail.events[-1].data["result"]["text"]
        slot = redis.Redis(port=cluster[0].port).cluster("keyslot", KEYS.job(job["jobId"]))
        masters.add(int(slot) * 3 // 16384)

        pending = (
            await client.post(
                f"{b.url}/jobs", json={"agent": "chat", "input": {"prompt": "x"}}, headers=AUTH
            )
        ).json()
        assert (
            await client.delete(f"{a.url}/jobs/{pending['jobId']}", headers=AUTH)
        ).status_code == 204
        assert (await client.get(b.url + pending["streamUrl"], headers=AUTH)).status_code == 410
    assert len(masters) > 1, "the jobs were spread over several masters"

    # Cancel a running job from the instance that does not run it (C, whose run never ends).
    c = live(redis_url=url, redis_cluster=True, backend=ScriptedBackend(hang=True), **unlimited)
    running = (
        await client.post(
            f"{a.url}/jobs", json={"agent": "chat", "input": {"prompt": "y"}}, headers=AUTH
        )
    ).json()
    head = await read_stream(client, c.url + running["streamUrl"], token=token(), stop_after=1)
    assert (
        await client.delete(f"{a.url}/jobs/{running['jobId']}", headers=AUTH)
    ).status_code == 204
    tail = await read_stream(
        client, a.url + running["streamUrl"], token=token(), headers={"Last-Event-ID": head.last_id}
    )
    assert tail.events[-1].data["code"] == "CANCELLED"
    for server in (a, b, c):
        assert (await client.get(f"{server.url}/readyz")).status_code == 200


async def test_pending_jobs_are_counted_on_a_cluster(
    cluster: list[RedisServer], live: StartLive, client: httpx.AsyncClient
) -> None:
    """The pending-jobs index is in another slot than the jobs' keys: kept by commands of its
    own (the other tests of this module leave pending jobs behind: count from here)."""
    url = f"redis+cluster://127.0.0.1:{cluster[0].port}/0"
    a, b = live(redis_url=url, rate_limit_create_per_min=0), live(redis_url=url)
    owner = {"Authorization": f"Bearer {token('pending-user')}"}

    async def pending() -> float:
        scraped = await client.get(f"{b.url}/metrics")
        assert scraped.status_code == 200
        (value,) = [
            sample.value
            for family in text_string_to_metric_families(scraped.text)
            for sample in family.samples
            if sample.name == "jobs_pending"
        ]
        return value

    before = await pending()
    chat = {"agent": "chat", "input": {"prompt": "pending"}}
    jobs = [(await client.post(f"{a.url}/jobs", json=chat, headers=owner)).json() for _ in range(4)]
    assert await pending() == before + 4
    done = await read_stream(client, b.url + jobs[0]["streamUrl"], token=token("pending-user"))
    assert done.events[-1].event == "complete"
    assert await pending() == before + 3
    cancelled = await client.delete(f"{b.url}/jobs/{jobs[1]['jobId']}", headers=owner)
    assert cancelled.status_code == 204
    assert await pending() == before + 2
    purge = ["purge", "--status", "pending", "--owner", "pending-user", "--yes"]
    ops(url, *purge)
    assert await pending() == before


def ops(url: str, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "jobs", "ops", *args],
        cwd=ROOT, env={"PATH": os.environ["PATH"], "REDIS_URL": url}, capture_output=True,
        timeout=30, check=True,
    )  # fmt: skip


def test_ops_commands_scan_every_master(cluster: list[RedisServer], live: StartLive) -> None:
    url = f"redis+cluster://127.0.0.1:{cluster[0].port}/0"
    server = live(redis_url=url, rate_limit_create_per_min=0)
    created = {
        httpx.post(
            f"{server.url}/jobs",
            json={"agent": "chat", "input": {"prompt": f"ops {n}"}},
            headers={"Authorization": f"Bearer {token('ops-user')}"},
        ).json()["jobId"]
        for n in range(6)
    }
    slots = {redis.Redis(port=cluster[0].port).cluster("keyslot", KEYS.job(j)) for j in created}
    assert len({int(slot) * 3 // 16384 for slot in slots}) > 1, "on several masters"
    env = {"PATH": os.environ["PATH"], "REDIS_URL": url}
    listed = subprocess.run(
        [sys.executable, "-m", "jobs", "ops", "list", "--owner", "ops-user", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    assert {job["jobId"] for job in json.loads(listed.stdout)} == created
    stats = subprocess.run(
        [sys.executable, "-m", "jobs", "ops", "stats", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    assert json.loads(stats.stdout)["byStatus"]["pending"] >= len(created)


async def test_a_custom_agent_is_read_first_on_a_cluster(
    cluster: list[RedisServer], live: StartLive, client: httpx.AsyncClient
) -> None:
    """Its key and the job's are in different slots: one script cannot read both (CROSSSLOT),
    so the service reads the custom agent, then creates the job with its snapshot."""
    server = live(redis_url=f"redis+cluster://127.0.0.1:{cluster[0].port}/0")
    nodes = redis.RedisCluster(host="127.0.0.1", port=cluster[0].port, decode_responses=True)
    one = redis.Redis(port=cluster[0].port)
    mine = {
        "name": "Critique ✓",
        "systemPrompt": "Ünïcödé — 日本語 😀",
        "temperature": 0.7,
        "tools": [],
        "isActive": True,
    }
    agent_url = f"{server.url}/me/agents/chat"
    try:
        assert (await client.put(agent_url, json=mine, headers=AUTH)).status_code == 200
        stored: dict[str, str] = nodes.hgetall(KEYS.custom_agent("alice", "chat"))  # type: ignore[assignment]
        snapshot = json.loads(stored["config"]) | {
            "version": int(stored["version"]),
            "updatedAt": int(stored["updatedAt"]),
        }
        chat = {"agent": "chat", "input": {"prompt": "hi"}}
        slots = set()
        for _ in range(3):  # jobs on several slots, none of them the custom agent's
            created = await client.post(f"{server.url}/jobs", json=chat, headers=AUTH)
            assert created.status_code == 201, created.text
            job_id = created.json()["jobId"]
            record = nodes.hget(KEYS.job(job_id), "customAgent")
            assert record == json.dumps(snapshot, separators=(",", ":")), "as before"
            state = await client.get(f"{server.url}/jobs/{job_id}", headers=AUTH)
            assert state.json()["customAgent"] == {"name": "Critique ✓", "version": 1}
            slots.add(one.cluster("keyslot", KEYS.job(job_id)))
        slots.add(one.cluster("keyslot", KEYS.custom_agent("alice", "chat")))
        assert len(slots) > 1

        off = mine | {"isActive": False}
        assert (await client.put(agent_url, json=off, headers=AUTH)).status_code == 200
        created = await client.post(f"{server.url}/jobs", json=chat, headers=AUTH)
        assert created.status_code == 201, created.text
        assert not nodes.hexists(KEYS.job(created.json()["jobId"]), "customAgent")
    finally:
        nodes.delete(KEYS.custom_agent("alice", "chat"))
        nodes.close()
        one.close()
