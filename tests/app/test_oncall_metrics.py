"""What an on-call reads in ``GET /metrics``: every series from start-up, the build, request
latency by route and status, the agent of every ending, the deployment's pending jobs,
OpenMetrics when asked, and ``METRICS_TOKEN``. Parsed with prometheus-client's own parsers."""

from __future__ import annotations

import asyncio
import os
import platform
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator

import httpx
import pytest
import redis
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from jobs.errors import UpstreamOverloaded
from jobs.redis.keys import Keys
from tests.conftest import SECRET, StartLive, token
from tests.support.backends import ScriptedBackend
from tests.support.process import ROOT, ServiceProcess
from tests.support.redis_server import RedisServer
from tests.support.sse import read_stream

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": f"Bearer {token()}"}
CHAT = {"agent": "chat", "input": {"prompt": "metrics, please"}}
FEATURE = {
    "agent": "feature-suggestion",
    "input": {"pageOrComponent": "cart", "featureType": "enhancement", "priorityLevel": "low"},
}
KEYS = Keys("jobs")
METRICS_TOKEN = "scrape-0123456789abcdef0123456789"
OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> tuple[set[str], Samples]:
    families = list(text_string_to_metric_families(text))
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in families
        for sample in family.samples
    }
    return {family.name for family in families}, samples


async def scrape(client: httpx.AsyncClient, base: str) -> Samples:
    response = await client.get(f"{base}/metrics")
    assert response.status_code == 200
    return parse(response.text)[1]


def change(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


@pytest.fixture(scope="module")
def service() -> Iterator[ServiceProcess]:
    """A fresh process, so that what its first scrape shows was there from start-up."""
    process = ServiceProcess(AUTH_JWT_SECRET=SECRET, METRICS_TOKEN=METRICS_TOKEN)
    process.start()
    try:
        yield process
    finally:
        process.close()


def test_every_series_is_there_from_start_up(service: ServiceProcess) -> None:
    answer = httpx.get(
        f"{service.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    names, samples = parse(answer.text)
    assert {
        "jobs_created",
        "jobs_finished",
        "jobs_run_duration_seconds",
        "jobs_http_request_duration_seconds",
        "jobs_build_info",
        "jobs_active_runs",
        "jobs_active_streams",
        "jobs_pending",
    } <= names
    for agent in ("chat", "feature-suggestion"):
        assert samples[("jobs_created_total", frozenset({("agent", agent)}))] == 0
        for outcome, code in (
            ("completed", "none"),
            ("failed", "RUNNER_LOST"),
            ("failed", "UPSTREAM_OVERLOADED"),
            ("cancelled", "CANCELLED"),
            ("cancelled", "ABANDONED"),
        ):
            labels = frozenset({("agent", agent), ("outcome", outcome), ("code", code)})
            assert samples[("jobs_finished_total", labels)] == 0, (agent, outcome, code)
        for outcome in ("completed", "failed", "cancelled"):
            labels = frozenset({("agent", agent), ("outcome", outcome)})
            assert samples[("jobs_run_duration_seconds_count", labels)] == 0
    assert samples[("jobs_active_runs", frozenset())] == 0
    assert samples[("jobs_pending", frozenset())] == 0

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    (build,) = [labels for name, labels in samples if name == "jobs_build_info"]
    assert dict(build)["version"] == version
    assert dict(build)["python"] == platform.python_version()
    assert dict(build)["instance"]


def test_openmetrics_when_the_scraper_asks(service: ServiceProcess) -> None:
    answer = httpx.get(
        f"{service.url}/metrics",
        headers={"Authorization": f"Bearer {METRICS_TOKEN}", "Accept": OPENMETRICS},
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/openmetrics-text")
    assert answer.text.endswith("# EOF\n")
    parsed = openmetrics_families(answer.text)  # type: ignore[no-untyped-call]
    families = {family.name: family for family in parsed}
    assert families["jobs_build_info"].type == "gauge"
    assert families["jobs_finished"].type == "counter"


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-0123456789abcdef0123456789", f"Basic {METRICS_TOKEN}", "Bearer"],
)
def test_metrics_token_is_required_when_set(
    service: ServiceProcess, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    answer = httpx.get(f"{service.url}/metrics", headers=headers)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert "jobs_" not in answer.text
    # A user's token is not the scraper's.
    user = httpx.get(f"{service.url}/metrics", headers=AUTH)
    assert user.status_code == 401


async def test_endings_carry_their_agent_and_requests_their_latency(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    server = live()
    failing = live(backend=ScriptedBackend(fail_with=UpstreamOverloaded("busy")))
    before = await scrape(client, server.url)
    for body in (CHAT, FEATURE):
        created = (await client.post(f"{server.url}/jobs", json=body, headers=AUTH)).json()
        await read_stream(client, server.url + created["streamUrl"], token=token())
    broken = (await client.post(f"{failing.url}/jobs", json=FEATURE, headers=AUTH)).json()
    await read_stream(client, failing.url + broken["streamUrl"], token=token())
    pending = (await client.post(f"{server.url}/jobs", json=FEATURE, headers=AUTH)).json()
    await client.delete(f"{server.url}/jobs/{pending['jobId']}", headers=AUTH)
    await client.get(f"{server.url}/jobs/{'f' * 32}", headers=AUTH)
    after = await scrape(client, server.url)

    def moved(name: str, **labels: str) -> float:
        return change(before, after, name, **labels)

    for agent in ("chat", "feature-suggestion"):
        assert moved("jobs_finished_total", agent=agent, outcome="completed", code="none") == 1
        assert moved("jobs_run_duration_seconds_count", agent=agent, outcome="completed") == 1
    failed = {"agent": "feature-suggestion", "outcome": "failed"}
    assert moved("jobs_finished_total", **failed, code="UPSTREAM_OVERLOADED") == 1
    assert moved("jobs_run_duration_seconds_count", **failed) == 1
    cancelled = {"agent": "feature-suggestion", "outcome": "cancelled", "code": "CANCELLED"}
    assert moved("jobs_finished_total", **cancelled) == 1

    latency = "jobs_http_request_duration_seconds_count"
    assert moved(latency, method="POST", route="/jobs", status="201") == 4
    assert moved(latency, method="GET", route="/jobs/{job_id}/stream", status="200") == 3
    assert moved(latency, method="DELETE", route="/jobs/{job_id}", status="204") == 1
    assert moved(latency, method="GET", route="/jobs/{job_id}", status="404") == 1
    inf = {"method": "POST", "route": "/jobs", "status": "201", "le": "+Inf"}
    assert moved("jobs_http_request_duration_seconds_bucket", **inf) == 4


async def pending_jobs(client: httpx.AsyncClient, base: str) -> float:
    return (await scrape(client, base))[("jobs_pending", frozenset())]


async def create(client: httpx.AsyncClient, base: str, **extra: object) -> dict[str, str]:
    response = await client.post(f"{base}/jobs", json=CHAT | extra, headers=AUTH)
    assert response.status_code == 201, response.text
    job: dict[str, str] = response.json()
    return job


def purge_pending(redis_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    subprocess.run(
        [sys.executable, "-m", "jobs", "ops", "purge", "--status", "pending", "--yes"],
        cwd=ROOT, env=env | {"REDIS_URL": redis_url}, capture_output=True, timeout=30, check=True,
    )  # fmt: skip


async def test_pending_jobs_are_the_deployments_on_every_instance(
    live: StartLive, client: httpx.AsyncClient, redis_url: str
) -> None:
    a, b = live(rate_limit_create_per_min=0), live(rate_limit_create_per_min=0)
    assert await pending_jobs(client, a.url) == 0
    jobs = [await create(client, a.url) for _ in range(4)]
    assert await pending_jobs(client, a.url) == await pending_jobs(client, b.url) == 4

    streamed = await read_stream(client, b.url + jobs[0]["streamUrl"], token=token())
    assert streamed.events[-1].event == "complete"
    assert await pending_jobs(client, a.url) == 3, "the attach claimed it"
    response = await client.delete(f"{b.url}/jobs/{jobs[1]['jobId']}", headers=AUTH)
    assert response.status_code == 204
    assert await pending_jobs(client, a.url) == 2, "cancelled while pending"
    await create(client, b.url, background=True)
    assert await pending_jobs(client, a.url) == 2, "a background job starts at once"

    purge_pending(redis_url)
    assert await pending_jobs(client, a.url) == await pending_jobs(client, b.url) == 0


async def test_a_pending_job_that_expires_is_no_longer_counted(
    live: StartLive, client: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    lasting, short = live(), live(job_ttl_s=1)
    await create(client, lasting.url)
    expiring = (await create(client, short.url))["jobId"]
    assert await pending_jobs(client, lasting.url) == 2

    deadline = time.monotonic() + 30
    while redis_client.exists(KEYS.job(expiring)) or await pending_jobs(client, lasting.url) != 1:
        assert time.monotonic() < deadline, "the expired job is still counted"
        await asyncio.sleep(0.1)
    assert redis_client.zrange(KEYS.pending(), 0, -1) != [], "the lasting job's entry stays"
    assert redis_client.zscore(KEYS.pending(), expiring) is None, "the index is trimmed"


async def test_a_scrape_answers_while_redis_is_down(
    live: StartLive, client: httpx.AsyncClient, redis_server: RedisServer
) -> None:
    server = live()
    await create(client, server.url)
    before = await scrape(client, server.url)
    assert before[("jobs_pending", frozenset())] == 1
    redis_server.stop()
    try:
        response = await client.get(f"{server.url}/metrics")
    finally:
        redis_server.start()
    assert response.status_code == 200
    names, during = parse(response.text)
    assert {"jobs_build_info", "jobs_created", "jobs_active_runs"} <= names
    assert during[("jobs_pending", frozenset())] == 1, "the last reading"
    assert change(before, during, "jobs_redis_errors_total") >= 1
