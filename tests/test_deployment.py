"""The Dockerfile and docker-compose.yml, checked by reading them (no Docker engine needed):
the services and their health checks, and that every variable they set is a real setting."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from app.settings import Settings
from tests.conftest import SECRET
from tests.support.process import ROOT

SETTINGS = {name.upper() for name in Settings.model_fields}
#: Variables the deployment may set that are not service settings, and why.
NOT_SETTINGS = {
    "PROMETHEUS_MULTIPROC_DIR",  # prometheus-client's own (README, Metrics)
    "PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED",  # Python's
    "PIP_DISABLE_PIP_VERSION_CHECK", "PIP_NO_CACHE_DIR",  # the build stage's pip
}  # fmt: skip


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


def commented_variant() -> dict[str, Any]:
    """The commented several-instances variant, uncommented: its YAML lines are the indented
    ones and the top-level keys."""
    text = (ROOT / "docker-compose.yml").read_text()
    section = text.split("# --- Several instances", 1)[1]
    lines = [
        line[2:]
        for line in section.splitlines()
        if line.startswith("#   ") or re.fullmatch(r"# [a-z_]+:", line)
    ]
    document: dict[str, Any] = yaml.safe_load("services:\n" + "\n".join(lines))
    return document


def check_service(service: dict[str, Any]) -> None:
    assert service["build"] == "."
    environment = service["environment"]
    assert set(environment) <= SETTINGS | NOT_SETTINGS, set(environment) - SETTINGS
    assert environment["REDIS_URL"] == "redis://redis:6379/0"
    assert "/readyz" in " ".join(service["healthcheck"]["test"])
    assert service["depends_on"]["redis"]["condition"] == "service_healthy"
    # Longer than SHUTDOWN_DRAIN_S: runs may finish while the instance drains at a stop.
    assert int(service["stop_grace_period"].rstrip("s")) > Settings().shutdown_drain_s


def test_compose_runs_the_service_on_a_healthy_redis() -> None:
    services = compose()["services"]
    assert set(services) == {"redis", "jobs"}
    redis = services["redis"]
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert "noeviction" in redis["command"]
    # Custom agents are configuration without a TTL: Redis must keep them across restarts.
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert any(volume.endswith(":/data") for volume in redis["volumes"])
    jobs = services["jobs"]
    check_service(jobs)
    assert jobs["ports"] == ["8000:8000"]
    assert jobs["environment"]["AUTH_JWT_SECRET"].startswith("${AUTH_JWT_SECRET:?")


def test_compose_reads_no_demo_workspace_and_guards_metrics() -> None:
    for jobs in (compose()["services"]["jobs"], commented_variant()["services"]["jobs"]):
        environment = jobs["environment"]
        # The operator names the workspace, or agents run without tools.
        assert environment["AGENT_WORKSPACE"] == "${AGENT_WORKSPACE:-}"
        assert environment["METRICS_TOKEN"].startswith("${METRICS_TOKEN:?")


def test_an_empty_workspace_means_no_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    # What compose passes for variables the operator did not set.
    for name, value in {
        "AGENT_WORKSPACE": "",
        "METRICS_TOKEN": "",
        "AUTH_JWT_SECRET": SECRET,
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.workspace_root is None
    assert settings.metrics_token is None


def test_the_commented_variant_runs_several_instances_behind_a_balancer() -> None:
    variant = commented_variant()
    jobs = variant["services"]["jobs"]
    check_service(jobs)
    assert jobs["deploy"]["replicas"] > 1
    assert "ports" not in jobs  # only the balancer is published
    lb = variant["services"]["lb"]
    assert lb["depends_on"]["jobs"]["condition"] == "service_healthy"
    assert lb["healthcheck"]["test"]
    nginx = variant["configs"]["lb"]["content"]
    assert "proxy_buffering off;" in nginx  # events must not wait in the proxy
    assert "server jobs:8000;" in nginx


def test_the_image_runs_unprivileged_on_all_interfaces() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+-slim$", dockerfile, re.MULTILINE)
    users = re.findall(r"^USER (\S+)$", dockerfile, re.MULTILINE)
    assert users == ["jobs"]
    cmd = re.search(r"^CMD (.+)$", dockerfile, re.MULTILINE)
    assert cmd is not None
    assert cmd.group(1) == '["python", "-m", "app", "--host", "0.0.0.0", "--port", "8000"]'
    assert "/readyz" in dockerfile.split("HEALTHCHECK", 1)[1]
    for names in re.findall(r"^ENV (.+?)(?<!\\)$", dockerfile, re.MULTILINE | re.DOTALL):
        for name in re.findall(r"([A-Z_]+)=", names):
            assert name in SETTINGS | NOT_SETTINGS, name
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "tests"} <= set(ignored)
