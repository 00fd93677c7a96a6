"""``python -m app`` with a configuration that cannot work: a malformed setting stops it with
exit code 2 and one line naming the variable; an unreachable Redis is said in the log at once,
again while it lasts, and when it is back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from tests.support.process import ROOT, ServiceProcess
from tests.support.redis_server import RedisServer, free_port


def run_app(**environment: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    return subprocess.run(
        [sys.executable, "-m", "app", "--port", str(free_port())],
        cwd=ROOT, env=env | environment, capture_output=True, text=True, timeout=30,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REDIS_URL", "foo://x"),
        ("REDIS_URL", "redis://:hunter2-secret@redis.internal:port/0"),
        ("REDIS_URL", "redis+cluster//:hunter2-secret@nohost"),
        ("JOB_TTL_S", "ten"),
        ("STREAM_THROTTLE_MS", "-1"),
        ("AUTH_JWT_SECRET", "hunter2-secret"),
        ("LOG_LEVEL", "loud"),
    ],
)
def test_a_malformed_setting_exits_2_naming_the_variable(name: str, value: str) -> None:
    result = run_app(**{name: value})
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"python -m app: invalid configuration: {name}: "), lines[0]
    assert "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr, "a setting's value may be a secret"
    assert result.stdout == "", "no banner for a service that does not start"


def log_entries(service: ServiceProcess) -> list[dict[str, Any]]:
    return [json.loads(line) for line in service.log().splitlines() if line.startswith("{")]


def wait_for_log(service: ServiceProcess, text: str, timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for entry in log_entries(service):
            if text in entry["message"]:
                return entry
        time.sleep(0.1)
    raise AssertionError(f"no log line with {text!r} in:\n{service.log()}")


def test_an_unreachable_redis_is_logged_at_start_and_its_recovery_too() -> None:
    absent_redis_port = free_port()
    url = f"redis://:hunter2-secret@127.0.0.1:{absent_redis_port}/0"
    service = ServiceProcess(REDIS_URL=url)
    try:
        service.start()
        warning = wait_for_log(service, "is unreachable")
        assert warning["level"] == "warning"
        assert warning["store"] == f"redis://127.0.0.1:{absent_redis_port}/0"
        assert "Connection refused" in warning["message"]
        assert httpx.get(f"{service.url}/readyz").status_code == 503

        with RedisServer(port=absent_redis_port) as redis_server:
            assert redis_server.port == absent_redis_port
            back = wait_for_log(service, "is reachable again")
            assert back["store"] == warning["store"]
            assert httpx.get(f"{service.url}/readyz").status_code == 200
        assert "hunter2" not in service.log()
    finally:
        service.close()
