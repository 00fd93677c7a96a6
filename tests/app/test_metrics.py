"""``GET /metrics``: the numbers move as jobs run, and several workers add up.

Instruments are process-wide, so each test compares a scrape before with a scrape after."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

import app.__main__ as app_main
from app.__main__ import serve_workers
from app.settings import Settings
from jobs.errors import UpstreamOverloaded
from tests.conftest import SECRET, StartLive, make_settings, token
from tests.support.backends import GatedBackend, ScriptedBackend
from tests.support.process import ServiceProcess
from tests.support.redis_server import RedisServer, free_port
from tests.support.sse import read_stream

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": f"Bearer {token()}"}
CHAT = {"agent": "chat", "input": {"prompt": "metrics, please"}}

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(client: httpx.AsyncClient, base: str) -> Samples:
    response = await client.get(f"{base}/metrics")  # no token: a scrape target
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


class Change:
    def __init__(self, before: Samples, after: Samples) -> None:
        self.before = before
        self.after = after

    def __call__(self, name: str, **labels: str) -> float:
        return value(self.after, name, **labels) - value(self.before, name, **labels)


async def test_metrics_change_as_jobs_run(live: StartLive, client: httpx.AsyncClient) -> None:
    server = live()
    failing = live(backend=ScriptedBackend(fail_with=UpstreamOverloaded("busy")))
    before = await scrape(client, server.url)

    created = (await client.post(f"{server.url}/jobs", json=CHAT, headers=AUTH)).json()
    done = await read_stream(client, server.url + created["streamUrl"], token=token())
    broken = (await client.post(f"{failing.url}/jobs", json=CHAT, headers=AUTH)).json()
    failed = await read_stream(client, failing.url + broken["streamUrl"], token=token())
    pending = (await client.post(f"{server.url}/jobs", json=CHAT, headers=AUTH)).json()
    await client.delete(f"{server.url}/jobs/{pending['jobId']}", headers=AUTH)

    change = Change(before, await scrape(client, server.url))
    assert change("jobs_created_total", agent="chat") == 3
    assert change("jobs_finished_total", agent="chat", outcome="completed", code="none") == 1
    assert (
        change("jobs_finished_total", agent="chat", outcome="failed", code="UPSTREAM_OVERLOADED")
        == 1
    )
    assert change("jobs_finished_total", agent="chat", outcome="cancelled", code="CANCELLED") == 1
    assert change("jobs_events_sent_total", event="connected") == 2
    assert change("jobs_events_sent_total", event="delta") == len(
        done.of("delta") + failed.of("delta")
    )
    assert change("jobs_events_sent_total", event="complete") == 1
    assert change("jobs_events_sent_total", event="error") == 1
    assert change("jobs_first_delta_seconds_count") == 2
    assert change("jobs_run_duration_seconds_count", agent="chat", outcome="completed") == 1
    assert change("jobs_run_duration_seconds_count", agent="chat", outcome="failed") == 1
    usage = done.events[-1].data["tokenUsage"]
    assert (
        change("jobs_upstream_tokens_total", model="demo", direction="output")
        == usage["outputTokens"]
    )
    assert (
        change("jobs_upstream_tokens_total", model="demo", direction="input")
        == usage["inputTokens"]
    )
    assert change("jobs_http_requests_total", method="POST", route="/jobs", status="201") == 3
    assert (
        change(
            "jobs_http_requests_total", method="GET", route="/jobs/{job_id}/stream", status="200"
        )
        == 2
    )


async def test_active_runs_and_streams_are_gauges(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    backend = GatedBackend()
    server = live(backend=backend)
    before = await scrape(client, server.url)
    created = (await client.post(f"{server.url}/jobs", json=CHAT, headers=AUTH)).json()
    url = server.url + created["streamUrl"]
    async with client.stream("GET", url, headers=AUTH) as response:
        lines = response.aiter_lines()
        async for line in lines:
            if line.startswith("event: delta"):
                break  # the run is under way and this stream is open
        during = Change(before, await scrape(client, server.url))
        assert during("jobs_active_runs") == 1
        assert during("jobs_active_streams") == 1
        backend.release.set()
        async for line in lines:
            if line.startswith("event: complete"):
                break
    # The run and the stream wind down just after the last event is sent.
    for _ in range(500):
        after = Change(before, await scrape(client, server.url))
        if after("jobs_active_runs") == after("jobs_active_streams") == 0:
            break
        await anyio.sleep(0.01)
    assert after("jobs_active_runs") == 0
    assert after("jobs_active_streams") == 0


async def test_redis_errors_are_counted(
    live: StartLive, client: httpx.AsyncClient, redis_server: RedisServer
) -> None:
    server = live()
    before = await scrape(client, server.url)
    redis_server.stop()
    try:
        assert (await client.get(f"{server.url}/readyz")).status_code == 503
        assert (await client.get(f"{server.url}/jobs/{'0' * 32}", headers=AUTH)).status_code == 503
    finally:
        redis_server.start()
    assert Change(before, await scrape(client, server.url))("jobs_redis_errors_total") >= 2


def worker_pids(metrics_dir: Path) -> set[str]:
    """The workers that have written a counter to the shared directory."""
    return {path.stem.rsplit("_", 1)[1] for path in metrics_dir.glob("counter_*.db")}


# Two spawned workers start slowly on a loaded machine (see WORKER_HEALTHCHECK_TIMEOUT_S).
@pytest.mark.timeout(150)
async def test_several_workers_add_up(redis_url: str, tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()  # prometheus-client needs it to exist when a process imports it
    service = ServiceProcess(
        "--workers", "2",
        REDIS_URL=redis_url, AUTH_JWT_SECRET=SECRET, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        RATE_LIMIT_CREATE_PER_MIN="0",
    ).start()  # fmt: skip
    try:
        closing = {**AUTH, "Connection": "close"}  # a new connection each: any worker answers
        created = 0
        # Sequential connections may all be accepted by the same idle worker: send them in
        # concurrent waves (one worker busy, the other accepts) until both have answered.
        async with httpx.AsyncClient(timeout=20) as client:
            for _ in range(10):
                responses = await asyncio.gather(
                    *(client.post(f"{service.url}/jobs", json=CHAT, headers=closing)
                      for _ in range(12))
                )  # fmt: skip
                assert [r.status_code for r in responses] == [201] * len(responses)
                created += len(responses)
                if len(worker_pids(metrics_dir)) == 2:
                    break
            for _ in range(8):
                scraped = await client.get(f"{service.url}/metrics", headers=closing)
                assert value(parse(scraped.text), "jobs_created_total", agent="chat") == created
                # One deployment-wide figure, whichever worker read it: never a sum of readings.
                assert value(parse(scraped.text), "jobs_pending") == created
        assert len(worker_pids(metrics_dir)) == 2, "both workers write their metrics"
    finally:
        service.close()


def test_workers_need_a_shared_redis_and_auth(capsys: pytest.CaptureFixture[str]) -> None:
    # Each worker would have its own embedded store and its own dev-mode signing key.
    for settings in (make_settings(None), Settings(redis_url="redis://r:6379")):
        assert serve_workers(settings, "127.0.0.1", free_port(), workers=2) == 2
        assert "--workers needs REDIS_URL and configured auth" in capsys.readouterr().err


def test_workers_are_given_time_to_start_on_a_loaded_machine(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # uvicorn's supervisor kills a worker that does not answer its ping within
    # timeout_worker_healthcheck, start-up included; its default (5 s) killed every worker of a
    # service started on a loaded machine before either served.
    seen: list[Any] = []

    class Supervisor:
        def __init__(self, config: Any, sockets: list[socket.socket]) -> None:
            seen.append(config)
            for sock in sockets:
                sock.close()

        def run(self) -> None:
            pass

    monkeypatch.setattr(app_main, "Multiprocess", Supervisor)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    settings = make_settings("redis://127.0.0.1:9/0")
    assert serve_workers(settings, "127.0.0.1", free_port(), workers=2) == 0
    (config,) = seen
    assert config.workers == 2
    assert config.timeout_worker_healthcheck >= 30
