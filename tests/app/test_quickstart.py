"""``python -m app`` as a new user runs it: no Redis, no key, no auth configured."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.redis_server import free_port


@pytest.fixture
def quickstart() -> Iterator[tuple[str, str, str]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env |= {"DEMO_TOKENS_PER_SECOND": "2000", "LOG_FORMAT": "json"}
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"python -m app did not start: {process.communicate()}")
            time.sleep(0.05)
        assert process.stdout is not None
        printed = ""
        while "export TOKEN=" not in printed:
            printed += process.stdout.readline()
        match = re.search(r"export TOKEN=(\S+)", printed)
        assert match is not None
        page = re.search(r"Open (\S+) in a browser", printed)
        assert page is not None, printed
        yield base, match.group(1), page.group(1)
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=15)
        logs = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
        assert any("embedded" in entry["message"] for entry in logs)
        assert any("DEV MODE" in entry["message"] for entry in logs)


def test_quickstart_runs_a_job_end_to_end(quickstart: tuple[str, str, str]) -> None:
    base, token, page_url = quickstart
    assert page_url == f"{base}/"
    page = httpx.get(page_url)
    assert page.status_code == 200
    assert "Feature planner" in page.text
    assert httpx.post(f"{base}/dev/token").status_code == 200
    auth = {"Authorization": f"Bearer {token}"}
    body = {
        "agent": "feature-suggestion",
        "input": {
            "pageOrComponent": "checkout page",
            "featureType": "enhancement",
            "priorityLevel": "high",
        },
    }
    created = httpx.post(f"{base}/jobs", json=body, headers=auth)
    assert created.status_code == 201
    stream = httpx.get(base + created.json()["streamUrl"], headers=auth, timeout=20)
    assert stream.status_code == 200
    assert "event: complete" in stream.text
    assert httpx.get(f"{base}/readyz").status_code == 200
    assert httpx.post(f"{base}/jobs", json=body).status_code == 401, (
        "dev mode still needs the token"
    )
