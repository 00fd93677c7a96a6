"""What an on-call reads in ``GET /metrics``: every series from start-up, the build, request
latency by route and status, the agent of every ending, OpenMetrics when asked, and
``METRICS_TOKEN``. Parsed with prometheus-client's own parsers."""

from __future__ import annotations

import platform
import tomllib
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families

from jobs.errors import UpstreamOverloaded
from tests.conftest import SECRET, StartLive, token
from tests.support.backends import ScriptedBackend
from tests.support.process import ROOT, ServiceProcess
from tests.support.sse import read_stream

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": f"Bearer {token()}"}
CHAT = {"agent": "chat", "input": {"prompt": "metrics, please"}}
FEATURE = {
    "agent": "feature-suggestion",
    "input": {"pageOrComponent": "cart", "featureType": "enhancement", "priorityLevel": "low"},
}
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
