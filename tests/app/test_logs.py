"""Logging set-up: what ``python -m app`` logs, and what it keeps out of the log."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import httpx
import pytest

from app import logs
from app.logs import TextFormatter, configure
from jobs.backends.anthropic import AnthropicBackend
from tests.conftest import SECRET, StartLive, token
from tests.support.fake_anthropic import API_KEY, FakeAnthropic, Reply
from tests.support.process import ServiceProcess

SAVED = ("", "anthropic", "sse_starlette", "uvicorn", "uvicorn.error", "uvicorn.access")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """``configure`` rewires process-wide loggers; put them back for the other tests."""
    loggers = [logging.getLogger(name or None) for name in SAVED]
    saved = [(lg.level, list(lg.handlers), lg.propagate) for lg in loggers]
    try:
        yield
    finally:
        for lg, (level, handlers, propagate) in zip(loggers, saved, strict=True):
            lg.setLevel(level)
            lg.handlers[:] = handlers
            lg.propagate = propagate


@pytest.mark.usefixtures("restore_logging")
def test_debug_logging_leaves_out_the_sdks_request_bodies() -> None:
    # At debug level the anthropic SDK logs each request's options, prompt included: the
    # backend quiets its own SDK when it is built.
    configure("debug", json_lines=True)
    assert logging.getLogger().isEnabledFor(logging.DEBUG)
    assert logging.getLogger("anthropic").isEnabledFor(logging.DEBUG), "not yet built"
    AnthropicBackend(api_key="sk-test", default_model="m")
    assert not logging.getLogger("anthropic").isEnabledFor(logging.DEBUG)
    assert logging.getLogger("anthropic").isEnabledFor(logging.INFO)
    # sse-starlette logs every chunk it sends at debug: the output, which may quote the input.
    assert not logging.getLogger("sse_starlette").isEnabledFor(logging.DEBUG)


@pytest.mark.usefixtures("restore_logging")
def test_quieter_levels_apply_to_the_sdk_too() -> None:
    configure("warning", json_lines=False)
    assert not logging.getLogger("anthropic").isEnabledFor(logging.INFO)


@pytest.mark.usefixtures("restore_logging")
def test_lines_carry_the_request_and_job_ids_of_their_context() -> None:
    stream = io.StringIO()
    configure("info", json_lines=True)
    logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
    request_token = logs.request_id.set("req-1")
    job_token = logs.job_id.set("a" * 32)
    try:
        logging.getLogger("jobs.test").info("inside")
        logging.getLogger("jobs.test").info("explicit", extra={"job_id": "b" * 32})
    finally:
        logs.job_id.reset(job_token)
        logs.request_id.reset(request_token)
    logging.getLogger("jobs.test").info("outside")
    inside, explicit, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (inside["request_id"], inside["job_id"]) == ("req-1", "a" * 32)
    assert explicit["job_id"] == "b" * 32  # an explicit extra wins
    assert "request_id" not in outside
    assert "job_id" not in outside

    text = logging.makeLogRecord({"msg": "hello", "job_id": "c" * 32, "request_id": "r"})
    assert TextFormatter().format(text).endswith(f"hello [job={'c' * 32} req=r]")


@pytest.mark.anyio
async def test_request_ids_are_echoed_or_made(live: StartLive, client: httpx.AsyncClient) -> None:
    server = live()
    given = await client.get(f"{server.url}/healthz", headers={"X-Request-ID": "trace-42/a.b"})
    assert given.headers["x-request-id"] == "trace-42/a.b"
    made = (await client.get(f"{server.url}/healthz")).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{16}", made)
    for forged in ("two words", "x" * 129, '{"level":"error"}'):
        refused = await client.get(f"{server.url}/healthz", headers={"X-Request-ID": forged})
        assert refused.headers["x-request-id"] != forged
    problem = await client.get(f"{server.url}/jobs/{'0' * 32}", headers={"X-Request-ID": "p-1"})
    assert problem.status_code == 401
    assert problem.headers["x-request-id"] == "p-1"  # errors too


def test_a_full_run_logs_ids_and_no_secrets(redis_url: str, fake_anthropic: FakeAnthropic) -> None:
    """Every log line of a job's life names it; no line anywhere holds a token, a ticket, a
    secret, an API key or a word of the input — at debug level, through the real SDK, with
    an answer that quotes the input."""
    fake_anthropic.script(Reply(text="You said: zebra-quartz-4711. Here is a story."))
    service = ServiceProcess(
        REDIS_URL=redis_url, AUTH_JWT_SECRET=SECRET, LOG_LEVEL="debug",
        AGENT_BACKEND="anthropic", ANTHROPIC_BASE_URL=fake_anthropic.url,
        ANTHROPIC_API_KEY=API_KEY, ANTHROPIC_MAX_RETRIES="0",
    ).start()  # fmt: skip
    bearer = token()
    auth = {"Authorization": f"Bearer {bearer}"}
    secrets = ["zebra-quartz-4711", "okapi-9931", "walrus-LEAK", SECRET, API_KEY, bearer]
    try:
        with httpx.Client(base_url=service.url, timeout=30) as http:
            body = {"agent": "chat", "input": {"prompt": "Tell zebra-quartz-4711 a story"}}
            created = http.post("/jobs", json=body, headers=auth | {"X-Request-ID": "req-create"})
            job = created.json()
            secrets.append(job["streamTicket"])
            # EventSource-style: the ticket in the query, no Authorization header.
            url = f"{job['streamUrl']}?ticket={job['streamTicket']}"
            with http.stream("GET", url, headers={"X-Request-ID": "req-stream"}) as stream:
                assert stream.status_code == 200
                assert "event: complete" in stream.read().decode()
            assert http.get(f"/jobs/{job['jobId']}", headers=auth).status_code == 200
            secrets.append(
                http.post(f"/jobs/{job['jobId']}/ticket", headers=auth).json()["streamTicket"]
            )
            other = {"agent": "feature-suggestion", "input": {
                "pageOrComponent": "cart", "featureType": "enhancement", "priorityLevel": "low",
                "additionalContext": "okapi-9931 is our code name"}}  # fmt: skip
            cancelled = http.post("/jobs", json=other, headers=auth).json()["jobId"]
            assert http.delete(f"/jobs/{cancelled}", headers=auth).status_code == 204
            invalid = {"agent": "chat", "input": {"prompt": "", "walrus-LEAK": "walrus-LEAK"}}
            assert http.post("/jobs", json=invalid, headers=auth).status_code == 422
            forged = {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.walrus-LEAK.c2ln"}
            assert http.get(f"/jobs/{job['jobId']}", headers=forged).status_code == 401
            stolen = f"{job['streamUrl']}?ticket=walrus-LEAK"
            assert http.get(stolen).status_code == 401
    finally:
        service.terminate()
        log = service.log()
        service.close()

    lines = [json.loads(line) for line in log.splitlines()]
    for secret in secrets:
        assert secret not in log
    job_id = job["jobId"]
    for line in lines:
        if job_id in json.dumps(line):
            assert line.get("job_id") == job_id, line
    started = next(line for line in lines if line["message"] == "run started")
    completed = next(line for line in lines if line["message"] == "run completed")
    # The run is a task of the stream request: it inherits that request's id.
    assert started["request_id"] == completed["request_id"] == "req-stream"
    assert completed["job_id"] == job_id
    access = [line for line in lines if line["logger"] == "app.access"]
    create_line = next(line for line in access if line.get("request_id") == "req-create")
    assert create_line["job_id"] == job_id  # the new job's id, once it exists
    assert any(line.get("job_id") == cancelled for line in access)
    assert all("request_id" in line for line in access)
