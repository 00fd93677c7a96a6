"""``python -m jobs ops`` against a real Redis holding jobs in every status, made by live
service instances the way production makes them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis

from jobs.errors import UpstreamOverloaded
from jobs.exits import Exit
from jobs.redis.keys import Keys
from tests.conftest import StartLive, token
from tests.support.backends import GatedBackend, ScriptedBackend
from tests.support.live import LiveServer
from tests.support.process import ROOT
from tests.support.sse import read_stream

pytestmark = pytest.mark.anyio

KEYS = Keys("jobs")


def ops(redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env["REDIS_URL"] = redis_url
    return subprocess.run(
        [sys.executable, "-m", "jobs", "ops", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def listed(redis_url: str, *args: str) -> dict[str, dict[str, Any]]:
    done = ops(redis_url, "list", "--json", *args)
    assert done.returncode == Exit.OK, done.stderr
    return {job["jobId"]: job for job in json.loads(done.stdout)}


@dataclass
class Fleet:
    """Jobs in every status, by status; ``gated`` holds the running one mid-run."""

    jobs: dict[str, str]
    gated: GatedBackend
    running_server: LiveServer


async def create(client: httpx.AsyncClient, base: str, sub: str = "alice") -> dict[str, Any]:
    response = await client.post(
        f"{base}/jobs",
        json={"agent": "chat", "input": {"prompt": "ops"}},
        headers={"Authorization": f"Bearer {token(sub)}"},
    )
    assert response.status_code == 201
    job: dict[str, Any] = response.json()
    return job


@pytest.fixture
async def fleet(live: StartLive, client: httpx.AsyncClient) -> AsyncIterator[Fleet]:
    healthy = live()
    failing = live(backend=ScriptedBackend(fail_with=UpstreamOverloaded("busy")))
    gated = GatedBackend()
    slow = live(backend=gated, shutdown_grace_s=1)

    pending = await create(client, healthy.url, sub="bob")
    completed = await create(client, healthy.url)
    assert (await read_stream(client, healthy.url + completed["streamUrl"], token=token())).events[
        -1
    ].event == "complete"
    failed = await create(client, failing.url)
    assert (await read_stream(client, failing.url + failed["streamUrl"], token=token())).events[
        -1
    ].event == "error"
    cancelled = await create(client, healthy.url)
    headers = {"Authorization": f"Bearer {token()}"}
    assert (
        await client.delete(f"{healthy.url}/jobs/{cancelled['jobId']}", headers=headers)
    ).status_code == 204
    running = await create(client, slow.url)
    await read_stream(client, slow.url + running["streamUrl"], token=token(), stop_after=1)
    jobs = {
        "pending": pending["jobId"],
        "running": running["jobId"],
        "completed": completed["jobId"],
        "failed": failed["jobId"],
        "cancelled": cancelled["jobId"],
    }
    try:
        yield Fleet(jobs, gated, slow)
    finally:
        gated.release.set()  # let the running job end before its server stops


async def test_list_shows_every_status_with_scan_only(
    fleet: Fleet, redis_url: str, redis_client: redis.Redis
) -> None:
    redis_client.config_resetstat()
    jobs = listed(redis_url)
    by_id = {job_id: status for status, job_id in fleet.jobs.items()}
    assert {job_id: job["status"] for job_id, job in jobs.items()} == by_id

    completed = jobs[fleet.jobs["completed"]]
    assert completed["owner"] == "alice"  # from the terminal event: the record is gone
    assert completed["ttlS"] is not None
    assert jobs[fleet.jobs["pending"]]["owner"] == "bob"
    assert jobs[fleet.jobs["failed"]]["error"]["code"] == "UPSTREAM_OVERLOADED"
    assert jobs[fleet.jobs["running"]]["lease"] is not None
    assert all(jobs[fleet.jobs[s]]["agent"] == "chat" for s in ("pending", "running", "failed"))

    commands: dict[str, Any] = redis_client.info("commandstats")
    assert "cmdstat_scan" in commands
    assert "cmdstat_keys" not in commands

    assert set(listed(redis_url, "--status", "failed")) == {fleet.jobs["failed"]}
    assert set(listed(redis_url, "--owner", "bob")) == {fleet.jobs["pending"]}

    table = ops(redis_url, "list").stdout.splitlines()
    assert table[0].split() == ["ID", "OWNER", "AGENT", "STATUS", "AGE", "TTL", "CODE"]
    row = next(line.split() for line in table if line.startswith(fleet.jobs["failed"]))
    assert row[1:4] == ["alice", "chat", "failed"]
    assert row[-1] == "UPSTREAM_OVERLOADED"


async def test_show_tells_why_a_job_failed(fleet: Fleet, redis_url: str) -> None:
    failed = fleet.jobs["failed"]
    shown = ops(redis_url, "show", failed)
    assert shown.returncode == Exit.OK, shown.stderr
    assert "failed (UPSTREAM_OVERLOADED: busy)" in shown.stdout
    assert '"prompt":"ops"' in shown.stdout  # the operator sees the input

    document = json.loads(ops(redis_url, "show", failed, "--json").stdout)
    events = [event["event"] for event in document["events"]]
    assert events[0] == "delta"
    assert events[-1] == "error"
    assert document["events"][-1]["owner"] == "alice"
    assert document["record"]["status"] == "failed"

    assert ops(redis_url, "show", "0" * 32).returncode == Exit.NOT_FOUND
    assert ops(redis_url, "show", "not-an-id").returncode == Exit.USAGE


def start_ops(redis_url: str, *args: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return subprocess.Popen(
        [sys.executable, "-m", "jobs", "ops", *args],
        cwd=ROOT, env=env | {"REDIS_URL": redis_url},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


async def test_tail_follows_a_running_job_to_its_end(fleet: Fleet, redis_url: str) -> None:
    tail = start_ops(redis_url, "tail", fleet.jobs["running"], "--text")
    try:
        assert tail.stdout is not None
        seen = b""
        while not seen.startswith("".join(fleet.gated.before).encode()):
            chunk = os.read(tail.stdout.fileno(), 4096)
            assert chunk, seen
            seen += chunk
        fleet.gated.release.set()  # the run goes on: tail sees the rest live
        rest, errors = tail.communicate(timeout=30)
    finally:
        tail.kill()
    assert tail.returncode == Exit.OK, errors
    assert (seen + rest).decode() == fleet.gated.text + "\n"


async def test_purge_is_a_dry_run_unless_told(
    fleet: Fleet, redis_url: str, redis_client: redis.Redis
) -> None:
    failed = fleet.jobs["failed"]
    dry = ops(redis_url, "purge", "--status", "failed")
    assert dry.returncode == Exit.OK
    assert failed in dry.stdout
    assert "dry run: 1 failed job(s)" in dry.stderr
    assert redis_client.exists(*KEYS.job_keys(failed)) == 2  # record and events

    done = ops(redis_url, "purge", "--status", "failed", "--yes", "--json")
    assert json.loads(done.stdout) == {"deleted": 1, "kept": 0}
    assert redis_client.exists(*KEYS.job_keys(failed)) == 0
    remaining = listed(redis_url)
    assert set(remaining) == set(fleet.jobs.values()) - {failed}

    completed = fleet.jobs["completed"]
    ops(redis_url, "purge", "--status", "completed", "--yes")
    assert redis_client.exists(*KEYS.job_keys(completed)) == 0
    assert fleet.jobs["running"] in listed(redis_url)
    assert ops(redis_url, "purge", "--status", "running").returncode == Exit.USAGE


async def test_stats_count_jobs_and_their_memory(fleet: Fleet, redis_url: str) -> None:
    done = ops(redis_url, "stats", "--json")
    assert done.returncode == Exit.OK, done.stderr
    stats = json.loads(done.stdout)
    assert stats["byStatus"] == {
        s: 1 for s in ("pending", "running", "completed", "failed", "cancelled")
    }
    assert stats["jobs"] == 5
    assert stats["streams"] == 4  # every job but the pending one has events
    assert stats["events"] >= 4
    assert stats["jobMemoryBytes"] > 0
    assert stats["otherKeys"] > 0  # per-user limits
    text = ops(redis_url, "stats").stdout
    assert text.startswith("jobs      5  (pending 1")


def test_ops_need_redis() -> None:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    done = subprocess.run(
        [sys.executable, "-m", "jobs", "ops", "list"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == Exit.USAGE
    assert "REDIS_URL" in done.stderr
