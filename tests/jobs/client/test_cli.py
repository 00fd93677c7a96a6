"""``python -m jobs`` as a script uses it: a real process against a live service on a free
port. Its stdout is a pipe here, so it must be exactly the streamed text."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jobs.errors import UpstreamOverloaded
from jobs.exits import Exit
from tests.conftest import SECRET, StartLive, token
from tests.support.backends import GatedBackend, ScriptedBackend
from tests.support.demo import demo_text as run_demo
from tests.support.process import ROOT, ServiceProcess
from tests.support.proxy import Proxy
from tests.support.redis_server import free_port

PROMPT = "Tell me about resumable streams."
CHAT_INPUT = json.dumps({"prompt": PROMPT})


def demo_text(prompt: str) -> str:
    return run_demo("chat", {"prompt": prompt})


def environment(url: str, jobs_token: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env["JOBS_URL"] = url
    if jobs_token is not None:
        env["JOBS_TOKEN"] = jobs_token
    return env


def cli(url: str, *args: str, jobs_token: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jobs", *args],
        cwd=ROOT,
        env=environment(url, token() if jobs_token is None else jobs_token),
        capture_output=True,
        text=True,
        timeout=30,
    )


def start_cli(url: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "jobs", *args],
        cwd=ROOT,
        env=environment(url, token()),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def read_until(process: subprocess.Popen[bytes], expected: bytes) -> bytes:
    """Read the process's stdout until it has printed ``expected`` (a prefix of it)."""
    assert process.stdout is not None
    seen = b""
    while not seen.startswith(expected):
        chunk = os.read(process.stdout.fileno(), 4096)
        assert chunk, f"stdout ended after {seen!r}"
        seen += chunk
    return seen


def create(url: str, body: dict[str, Any] | None = None) -> str:
    response = httpx.post(
        f"{url}/jobs",
        json=body or {"agent": "chat", "input": {"prompt": PROMPT}},
        headers={"Authorization": f"Bearer {token()}"},
    )
    assert response.status_code == 201, response.text
    job_id: str = response.json()["jobId"]
    return job_id


@pytest.fixture
def proxies() -> Iterator[list[Proxy]]:
    started: list[Proxy] = []
    yield started
    for proxy in started:
        proxy.stop()


def test_run_prints_exactly_the_streamed_text(live: StartLive) -> None:
    server = live()
    done = cli(server.url, "run", "--agent", "chat", "--input", CHAT_INPUT)
    assert done.returncode == Exit.OK, done.stderr
    assert done.stdout == demo_text(PROMPT)
    assert done.stderr == ""  # not a terminal: no progress, no notes


def test_start_attach_status_and_json(live: StartLive, tmp_path: Path) -> None:
    server = live()
    body = tmp_path / "input.json"
    body.write_text(json.dumps({"prompt": "from a file"}))
    started = cli(server.url, "start", "--agent", "chat", "--input", f"@{body}")
    assert started.returncode == Exit.OK, started.stderr
    job_id = started.stdout.strip()
    assert len(job_id) == 32

    status = cli(server.url, "status", job_id, "--json")
    assert json.loads(status.stdout)["status"] == "pending"

    attached = cli(server.url, "attach", job_id, "--json")
    assert attached.returncode == Exit.OK, attached.stderr
    complete = json.loads(attached.stdout)
    assert complete["jobId"] == job_id
    assert complete["result"] == {"text": demo_text("from a file")}

    replayed = cli(server.url, "attach", job_id, "--last-event-id", "0-0")
    assert replayed.stdout == demo_text("from a file")
    assert (
        json.loads(
            cli(server.url, "start", "--agent", "chat", "--input", CHAT_INPUT, "--json").stdout
        )["status"]
        == "pending"
    )


def test_attach_survives_a_dropped_connection(live: StartLive, proxies: list[Proxy]) -> None:
    backend = GatedBackend()
    server = live(backend=backend)
    proxy = Proxy(server.port).start()
    proxies.append(proxy)
    job_id = create(server.url)

    attach = start_cli(proxy.url, "attach", job_id)
    try:
        before = read_until(attach, "".join(backend.before).encode())
        proxy.sever()  # the network fails mid-run
        while proxy.accepted < 2:  # the CLI reconnects by itself...
            time.sleep(0.01)
        backend.release.set()  # ...and only then does the rest of the text exist
        rest, errors = attach.communicate(timeout=30)
    finally:
        attach.kill()
    assert attach.returncode == Exit.OK, errors
    assert (before + rest).decode() == backend.text  # no gap, no repeat


def test_run_moves_to_another_instance_when_its_instance_stops(
    redis_url: str, proxies: list[Proxy]
) -> None:
    env = {
        "REDIS_URL": redis_url,
        "AUTH_JWT_SECRET": SECRET,
        "DEMO_TOKENS_PER_SECOND": "40",  # about 2 s of output: SIGTERM lands mid-run
        "STREAM_THROTTLE_MS": "50",
        "SHUTDOWN_GRACE_S": "10",
        # No drain: A hands its run over at once and stops listening; B takes it over.
        "SHUTDOWN_DRAIN_S": "0",
    }
    a, b = ServiceProcess(**env).start(), ServiceProcess(**env).start()
    try:
        proxy = Proxy(a.port, b.port).start()  # a load balancer: A while it listens, then B
        proxies.append(proxy)
        run = start_cli(proxy.url, "run", "--agent", "chat", "--input", CHAT_INPUT)
        try:
            head = read_until(run, b"You asked")
            assert a.process is not None
            a.process.send_signal(signal.SIGTERM)  # A ends its streams cleanly, hands the run over
            tail, errors = run.communicate(timeout=30)
        finally:
            run.kill()
        assert run.returncode == Exit.OK, errors
        assert (head + tail).decode() == demo_text(PROMPT)
        assert proxy.connections[b.port] >= 1, "the stream resumed on B"
        # uvicorn re-raises the SIGTERM after its clean shutdown, so the exit status names it.
        assert a.process.wait(30) in (0, -signal.SIGTERM)
    finally:
        a.close()
        b.close()


def test_exit_codes(live: StartLive) -> None:
    failing = live(backend=ScriptedBackend(fail_with=UpstreamOverloaded("busy")))
    error = cli(failing.url, "run", "--agent", "chat", "--input", CHAT_INPUT)
    assert error.returncode == Exit.FAILED
    assert error.stdout == "Hello, world!"  # what streamed before the failure
    assert "error: UPSTREAM_OVERLOADED" in error.stderr

    as_json = cli(failing.url, "run", "--agent", "chat", "--input", CHAT_INPUT, "--json")
    assert as_json.returncode == Exit.FAILED
    assert json.loads(as_json.stdout)["error"]["code"] == "UPSTREAM_OVERLOADED"

    unauthorized = cli(failing.url, "status", "0" * 32, jobs_token="")
    assert unauthorized.returncode == Exit.UNAUTHORIZED
    assert "UNAUTHORIZED" in unauthorized.stderr
    assert cli(failing.url, "status", "0" * 32, jobs_token="bad").returncode == Exit.UNAUTHORIZED

    missing = cli(failing.url, "attach", "0" * 32)
    assert missing.returncode == Exit.NOT_FOUND
    assert "JOB_NOT_FOUND" in missing.stderr

    job_id = create(failing.url)
    other = cli(failing.url, "status", job_id, jobs_token=token("mallory"))
    assert other.returncode == Exit.FORBIDDEN
    assert cli(failing.url, "cancel", job_id).returncode == Exit.OK
    assert cli(failing.url, "attach", job_id).returncode == Exit.FINISHED

    invalid = cli(failing.url, "run", "--agent", "chat", "--input", '{"prompt": ""}')
    assert invalid.returncode == Exit.REJECTED
    assert "input.prompt" in invalid.stderr
    assert cli(failing.url, "start", "--agent", "chat", "--input", "{").returncode == Exit.USAGE
    # --no-retry: by default an unreachable service is retried for about 40 s first.
    nowhere = cli(f"http://127.0.0.1:{free_port()}", "status", "0" * 32, "--no-retry")
    assert nowhere.returncode == Exit.UNAVAILABLE


def test_attach_exits_cancelled_when_the_job_is_cancelled(live: StartLive) -> None:
    server = live(backend=GatedBackend())
    job_id = create(server.url)
    attach = start_cli(server.url, "attach", job_id)
    try:
        read_until(attach, b"Once")
        assert cli(server.url, "cancel", job_id).returncode == Exit.OK
        _, errors = attach.communicate(timeout=30)
    finally:
        attach.kill()
    assert attach.returncode == Exit.CANCELLED
    assert "CANCELLED" in errors.decode()
