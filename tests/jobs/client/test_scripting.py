"""What makes the client script well: retries that honour ``Retry-After`` (bounded, with an
off switch), an automatic ``Idempotency-Key`` on every start, a first attach that waits out
``TOO_MANY_STREAMS``, ``list_jobs`` and ``result``; and the CLI's ``list``, ``result`` and
``start --background``."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx2
import pytest

from jobs.client import JobsClient, ProblemError, SyncJobsClient
from jobs.client.errors import ConnectionFailed
from jobs.client.retry import Retries
from tests.conftest import StartLive, token
from tests.jobs.client.test_cli import cli
from tests.support.backends import ScriptedBackend
from tests.support.redis_server import RedisServer

PROMPT = {"prompt": "Say hello."}
CREATED = {
    "jobId": "0" * 32,
    "status": "pending",
    "agent": "chat",
    "createdAt": 1,
    "expiresAt": 2,
    "streamUrl": f"/jobs/{'0' * 32}/stream",
    "streamTicket": "t",
}
FAST = Retries(backoff_s=0.01, max_backoff_s=0.02)


def problem(status: int, code: str, retry_after: str | None = None) -> httpx2.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    body = {"type": "about:blank", "title": "x", "status": status, "detail": "d", "code": code}
    return httpx2.Response(status, json=body, headers=headers)


class Script:
    """A scripted service: answers in turn, and remembers what it was sent."""

    def __init__(self, *answers: httpx2.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def sync_client(script: Script, retries: Retries = FAST) -> SyncJobsClient:
    http = httpx2.Client(transport=httpx2.MockTransport(script))
    return SyncJobsClient("http://jobs.test", token="t", http=http, retries=retries)


def test_a_start_is_retried_through_429_503_409_and_a_dropped_connection_with_one_key() -> None:
    script = Script(
        problem(429, "RATE_LIMITED", "0"),
        problem(503, "STORE_UNAVAILABLE", "0"),
        httpx2.ConnectError("refused"),
        problem(409, "IDEMPOTENCY_IN_PROGRESS", "0"),
        httpx2.Response(201, json=CREATED),
    )
    with sync_client(script) as jobs:
        assert jobs.start("chat", PROMPT).job_id == "0" * 32
    keys = {request.headers["idempotency-key"] for request in script.requests}
    assert len(script.requests) == 5
    assert len(keys) == 1  # every retry is the same start
    assert len(keys.pop()) >= 16


def test_each_start_has_its_own_key_unless_one_is_given() -> None:
    script = Script(*(httpx2.Response(201, json=CREATED) for _ in range(3)))
    with sync_client(script) as jobs:
        jobs.start("chat", PROMPT)
        jobs.start("chat", PROMPT)
        jobs.start("chat", PROMPT, idempotency_key="mine", background=True)
    keys = [request.headers["idempotency-key"] for request in script.requests]
    assert keys[0] != keys[1]
    assert keys[2] == "mine"
    assert json.loads(script.requests[2].content)["background"] is True
    assert "background" not in json.loads(script.requests[0].content)


def test_retries_off_raises_the_first_429() -> None:
    script = Script(problem(429, "RATE_LIMITED", "0"), httpx2.Response(201, json=CREATED))
    with sync_client(script, Retries.off()) as jobs, pytest.raises(ProblemError) as raised:
        jobs.start("chat", PROMPT)
    assert raised.value.code == "RATE_LIMITED"
    assert len(script.requests) == 1


def test_a_retry_after_beyond_the_longest_wait_is_raised_at_once() -> None:
    script = Script(problem(429, "RATE_LIMITED", "120"), httpx2.Response(201, json=CREATED))
    with sync_client(script, Retries(max_wait_s=60)) as jobs, pytest.raises(ProblemError):
        jobs.start("chat", PROMPT)
    assert len(script.requests) == 1


def test_retries_are_bounded_and_other_errors_are_not_retried() -> None:
    script = Script(*(httpx2.ConnectError("refused") for _ in range(4)))
    with (
        sync_client(script, Retries(attempts=3, backoff_s=0.01)) as jobs,
        pytest.raises(ConnectionFailed),
    ):
        jobs.status("0" * 32)
    assert len(script.requests) == 4  # the call and 3 retries
    invalid = Script(problem(422, "INPUT_INVALID"), httpx2.Response(201, json=CREATED))
    with sync_client(invalid) as jobs, pytest.raises(ProblemError):
        jobs.start("chat", {})
    assert len(invalid.requests) == 1


@pytest.mark.anyio
async def test_the_async_client_retries_the_same_way() -> None:
    script = Script(problem(503, "STORE_UNAVAILABLE", "0"), httpx2.Response(201, json=CREATED))
    http = httpx2.AsyncClient(transport=httpx2.MockTransport(script))
    async with JobsClient("http://jobs.test", token="t", http=http, retries=FAST) as jobs:
        await jobs.start("chat", PROMPT)
    await http.aclose()
    assert len(script.requests) == 2
    assert len({r.headers["idempotency-key"] for r in script.requests}) == 1


@pytest.fixture
def restart_redis(redis_server: RedisServer) -> Iterator[RedisServer]:
    yield redis_server
    if redis_server.process is None:
        redis_server.start()


@pytest.mark.anyio
async def test_a_start_waits_out_a_redis_outage_on_a_real_service(
    live: StartLive, restart_redis: RedisServer
) -> None:
    server = live()
    async with JobsClient(server.url, token=token()) as jobs:
        await jobs.start("chat", PROMPT)  # connected
        restart_redis.stop()
        timer = threading.Timer(1.0, restart_redis.start)
        timer.start()
        try:
            job = await jobs.start("chat", PROMPT)
        finally:
            timer.join()
        assert (await jobs.status(job.job_id)).status == "pending"
        listed = await jobs.list_jobs()
        assert job.job_id in [j.job_id for j in listed.jobs]


@pytest.mark.anyio
async def test_a_first_attach_waits_out_too_many_streams(live: StartLive) -> None:
    backend = ScriptedBackend(chunks=[f"w{n} " for n in range(20)], interval_s=0.05)
    server = live(backend=backend, max_streams_per_user=1, lease_ttl_s=1)
    async with JobsClient(server.url, token=token()) as jobs:
        first = await jobs.start("chat", PROMPT)
        second = await jobs.start("chat", PROMPT)
        results: dict[str, Any] = {}

        async def attach(job_id: str) -> None:
            results[job_id] = await jobs.attach(job_id)

        async with anyio.create_task_group() as group:
            group.start_soon(attach, first.job_id)
            await anyio.sleep(0.3)  # the first stream holds the only slot
            group.start_soon(attach, second.job_id)
        assert results[second.job_id].result == {"text": backend.text}
    async with JobsClient(server.url, token=token(), retries=Retries.off()) as strict:
        third = await strict.start("chat", PROMPT)
        fourth = await strict.start("chat", PROMPT)
        async with anyio.create_task_group() as group:
            group.start_soon(strict.attach, third.job_id)
            await anyio.sleep(0.3)
            with pytest.raises(ProblemError) as refused:
                await strict.attach(fourth.job_id)
            assert refused.value.code == "TOO_MANY_STREAMS"


def test_the_cli_lists_starts_in_the_background_and_prints_results(live: StartLive) -> None:
    server = live(rate_limit_create_per_min=0)
    started = cli(
        server.url, "start", "--agent", "chat", "--input", json.dumps(PROMPT), "--background"
    )
    assert started.returncode == 0, started.stderr
    job_id = started.stdout.strip()
    deadline = time.monotonic() + 20
    while True:
        result = cli(server.url, "result", job_id)
        if result.returncode != 10:  # NOT_FINISHED
            break
        assert time.monotonic() < deadline, "the background job never finished"
        time.sleep(0.2)
    assert result.returncode == 0, result.stderr
    status = json.loads(cli(server.url, "status", job_id, "--json").stdout)
    assert result.stdout == status["result"]["text"] + "\n"
    pending = cli(server.url, "start", "--agent", "chat", "--input", json.dumps(PROMPT))
    listed = cli(server.url, "list", "--json", "--limit", "1", "--all")
    assert [job["jobId"] for job in json.loads(listed.stdout)] == [
        pending.stdout.strip(),
        job_id,
    ]
    only_done = cli(server.url, "list", "--status", "completed")
    assert only_done.stdout.split("\t")[:2] == [job_id, "completed"]
    assert cli(server.url, "result", pending.stdout.strip()).returncode == 10
    cli(server.url, "cancel", pending.stdout.strip())
    cancelled = cli(server.url, "result", pending.stdout.strip())
    assert cancelled.returncode == 3
    assert "CANCELLED" in cancelled.stderr
