"""Faults a demanding operator causes, with real service processes on a real ``redis-server``.

Redis restarted mid-stream (with and without persistence), Redis at ``maxmemory`` with
``noeviction``, a runner frozen with SIGSTOP past its lease, a runner killed with nobody
watching. For each: no reader hangs, every reader's text is a gap-free prefix of the run's
text, a ``complete`` job replays whole, every key has a TTL afterwards, and no 500 reaches a
client. Readers behave like a demanding client: after a retryable ``error`` or a 503 they
reconnect with ``Last-Event-ID`` until the stream ends for good.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from tests.conftest import SECRET, token
from tests.support.demo import demo_text
from tests.support.process import ServiceProcess, StartInstance, instance_group
from tests.support.redis_server import RedisServer
from tests.support.sse import Event, read_stream

pytestmark = pytest.mark.anyio

PROMPT = "What happens to a stream when its store restarts?"
CHAT = {"agent": "chat", "input": {"prompt": PROMPT}}
AUTH = {"Authorization": f"Bearer {token()}"}
#: What the demo backend answers to CHAT: the whole text a complete run must deliver.
EXPECTED = demo_text("chat", {"prompt": PROMPT})
#: Statuses a client may meet during these faults (never a 500).
ALLOWED = {200, 201, 204, 404, 410, 503}


@pytest.fixture
def own_redis(request: pytest.FixtureRequest) -> Iterator[RedisServer]:
    """A Redis this test may restart; ``@pytest.mark.parametrize`` with ``persistent``."""
    persistent = getattr(request, "param", False)
    extra = ("--appendonly", "yes", "--appendfsync", "always") if persistent else ()
    with RedisServer(*extra) as server:
        yield server


@pytest.fixture
def instances(own_redis: RedisServer) -> Iterator[StartInstance]:
    with instance_group(
        REDIS_URL=own_redis.url,
        AUTH_JWT_SECRET=SECRET,
        DEMO_TOKENS_PER_SECOND="25",
        STREAM_THROTTLE_MS="50",
        LEASE_TTL_S="3",
        SHUTDOWN_GRACE_S="1",
        MAX_TAKEOVERS="0",  # a lost runner ends its run (tests/app/test_takeover.py: takeovers)
    ) as start:
        yield start


class Reader:
    """A demanding client of one job's stream: resumes until the stream ends for good."""

    def __init__(self, http: httpx.AsyncClient, url: str, *, resume: bool = True) -> None:
        self.http = http
        self.url = url
        self.resume = resume
        self.events: list[Event] = []
        self.statuses: list[int] = []

    @property
    def deltas(self) -> list[dict[str, Any]]:
        return [e.data for e in self.events if e.event == "delta"]

    @property
    def text(self) -> str:
        return "".join(d["text"] for d in self.deltas)

    @property
    def ending(self) -> Event:
        return self.events[-1]

    async def read(self, *, deadline_s: float = 60) -> Reader:
        await asyncio.wait_for(self._read(), deadline_s)
        return self

    async def _read(self) -> None:
        last_id: str | None = None
        while True:
            headers = {"Last-Event-ID": last_id} if last_id else {}
            try:
                stream = await read_stream(self.http, self.url, token=token(), headers=headers)
            except httpx.TransportError:
                await asyncio.sleep(0.3)  # the instance is frozen or restarting
                continue
            self.statuses.append(stream.status_code)
            if stream.status_code == 503:
                await asyncio.sleep(0.3)
                continue
            if stream.status_code != 200:
                return  # 204: seen it all; 404/410: the job is gone
            stored = [e for e in stream.events if e.event != "connected"]
            self.events += stored
            if stored:
                last_id = stored[-1].id
            if stored and stored[-1].event == "complete":
                return
            if stored and stored[-1].event == "error" and not stored[-1].data["retryable"]:
                return
            if not self.resume:
                assert stored, "the stream ended without a terminal event"
                assert stored[-1].event == "error", "the stream ended without a terminal event"
                return
            await asyncio.sleep(0.3)  # closed, or a retryable error: resume


def assert_lossless(reader: Reader) -> None:
    """The reader's deltas are a gap-free prefix of the run's text, without repeats."""
    total = 0
    for delta in reader.deltas:
        total += len(delta["text"])
        assert delta["totalLength"] == total, "a gap or a repeat in the deltas"
    assert EXPECTED.startswith(reader.text)
    assert not [s for s in reader.statuses if s not in ALLOWED], reader.statuses
    if reader.ending.event == "complete":
        assert reader.text == EXPECTED
        assert reader.ending.data["totalLength"] == len(EXPECTED)


def stored_text(client: redis.Redis, job_id: str) -> tuple[str, list[str]]:
    """The stored deltas' text and the names of the stored events, in order."""
    entries: Any = client.xrange(f"jobs:{{{job_id}}}:events")
    names = [fields["event"] for _, fields in entries]
    text = "".join(json.loads(f["data"])["text"] for _, f in entries if f["event"] == "delta")
    return text, names


def assert_every_key_has_a_ttl(client: redis.Redis) -> None:
    without_ttl = [key for key in client.scan_iter("*") if client.ttl(key) == -1]
    assert without_ttl == []


async def create(http: httpx.AsyncClient, base: str) -> str:
    response = await http.post(f"{base}/jobs", json=CHAT, headers=AUTH)
    assert response.status_code == 201, response.text
    job_id: str = response.json()["jobId"]
    return job_id


async def two_readers(
    http: httpx.AsyncClient,
    a: ServiceProcess,
    b: ServiceProcess,
    job_id: str,
    *,
    resume: bool = True,
) -> tuple[asyncio.Task[Reader], asyncio.Task[Reader]]:
    """A reader on the runner's instance (it claims the run) and one tailing on another."""
    path = f"/jobs/{job_id}/stream"
    local = asyncio.create_task(Reader(http, a.url + path, resume=resume).read())
    await asyncio.sleep(0.5)
    remote = asyncio.create_task(Reader(http, b.url + path, resume=resume).read())
    await asyncio.sleep(0.5)
    return local, remote


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("own_redis", "outage_s"), [(True, 1), (True, 5)], indirect=["own_redis"])
async def test_a_redis_restart_with_persistence_loses_no_text(
    instances: StartInstance, http: httpx.AsyncClient, own_redis: RedisServer, outage_s: float
) -> None:
    # The lease (and so the writer's retries) outlasts the outage.
    a, b = instances(LEASE_TTL_S="15"), instances(LEASE_TTL_S="15")
    job_id = await create(http, a.url)
    local, remote = await two_readers(http, a, b, job_id)
    own_redis.stop()
    await asyncio.sleep(outage_s)
    own_redis.start()  # same port, same append-only file
    readers = await asyncio.gather(local, remote)
    for reader in readers:
        assert_lossless(reader)
        assert reader.ending.event == "complete", reader.ending
    with own_redis.client() as client:
        text, names = stored_text(client, job_id)
        assert text == EXPECTED, "the stored events are the whole text"
        assert names[-1] == "complete"
        assert names.count("complete") == 1
        assert_every_key_has_a_ttl(client)


async def test_a_redis_restart_without_persistence_ends_every_reader(
    instances: StartInstance, http: httpx.AsyncClient, own_redis: RedisServer
) -> None:
    a, b = instances(), instances()
    job_id = await create(http, a.url)
    local, remote = await two_readers(http, a, b, job_id)
    own_redis.stop()
    await asyncio.sleep(1)
    own_redis.start()  # empty: the job and its events are gone
    readers = await asyncio.gather(local, remote)
    for reader in readers:
        assert_lossless(reader)
        assert reader.text, "what was streamed before the restart was delivered"
        assert reader.ending.event == "error"
        assert reader.ending.data["retryable"] is True
        assert reader.statuses[-1] in (404, 410), "the job is gone, and the client is told"
        assert reader.ending.data["code"] == "STORE_UNAVAILABLE"
    with own_redis.client() as client:
        assert not client.exists(f"jobs:{{{job_id}}}:events"), "not recreated after the restart"
        assert_every_key_has_a_ttl(client)


async def test_redis_out_of_memory_gives_503s_and_ends_every_stream(
    instances: StartInstance, http: httpx.AsyncClient, own_redis: RedisServer
) -> None:
    a, b = instances(), instances()
    pending = await create(http, a.url)
    running = await create(http, a.url)
    # Readers that do not resume: while Redis is full, a resume would get 503s, not a stream.
    local, remote = await two_readers(http, a, b, running, resume=False)
    with own_redis.client() as client:
        client.config_set("maxmemory-policy", "noeviction")
        client.config_set("maxmemory", "1")
        try:
            refused = await http.post(f"{b.url}/jobs", json=CHAT, headers=AUTH)
            assert refused.status_code == 503, refused.text
            assert refused.json()["code"] == "STORE_UNAVAILABLE"
            assert "out of memory" in refused.json()["detail"]
            assert refused.headers["Retry-After"] == "30"
            attach = await http.get(f"{b.url}/jobs/{pending}/stream", headers=AUTH)
            assert attach.status_code == 503, attach.text
            cancel = await http.delete(f"{b.url}/jobs/{running}", headers=AUTH)
            assert cancel.status_code == 503, cancel.text
            status = await http.get(f"{b.url}/jobs/{pending}", headers=AUTH)
            assert status.status_code == 200, "reads still work"
            readers = await asyncio.wait_for(asyncio.gather(local, remote), 30)
        finally:
            client.config_set("maxmemory", "0")
        for reader in readers:
            assert_lossless(reader)
            assert reader.ending.event == "error"
            assert reader.ending.data["retryable"] is True
        # Once Redis has room again, the job reads as what it is: its runner gave up.
        status = await http.get(f"{b.url}/jobs/{running}", headers=AUTH)
        assert status.status_code == 200
        assert status.json()["status"] == "failed"
        text, names = stored_text(client, running)
        assert EXPECTED.startswith(text)
        assert names[-1] == "error"
        assert_every_key_has_a_ttl(client)


async def test_a_frozen_runner_writes_nothing_after_it_was_declared_lost(
    instances: StartInstance, http: httpx.AsyncClient, own_redis: RedisServer
) -> None:
    a, b = instances(DEMO_TOKENS_PER_SECOND="15"), instances()
    job_id = await create(http, a.url)
    path = f"/jobs/{job_id}/stream"
    assert a.process is not None
    local = asyncio.create_task(read_stream(http, a.url + path, token=token()))
    await asyncio.sleep(1)
    os.killpg(a.process.pid, signal.SIGSTOP)
    try:
        # B tails the job, notices the lease lapse and stores RUNNER_LOST.
        remote = await asyncio.wait_for(Reader(http, b.url + path).read(), 20)
    finally:
        os.killpg(a.process.pid, signal.SIGCONT)
    assert remote.ending.data["code"] == "RUNNER_LOST"
    woken = await asyncio.wait_for(local, 20)
    await asyncio.sleep(1)  # anything the woken runner still had queued would land now
    with own_redis.client() as client:
        text, names = stored_text(client, job_id)
        assert names[-1] == "error", "nothing was appended after the terminal entry"
        assert names.count("error") == 1
        assert_every_key_has_a_ttl(client)
    history = [(e.event, e.id, e.data) for e in woken.events if e.event != "connected"]
    assert history == [(e.event, e.id, e.data) for e in remote.events], "one history"
    assert woken.text == text
    assert_lossless(remote)


async def test_a_killed_runner_nobody_watches_reads_as_failed(
    instances: StartInstance, http: httpx.AsyncClient, own_redis: RedisServer
) -> None:
    a, b = instances(), instances()
    job_id = await create(http, a.url)
    head = await read_stream(http, a.url + f"/jobs/{job_id}/stream", token=token(), stop_after=2)
    assert head.of("delta")
    a.kill()
    started = time.monotonic()
    while True:
        status = (await http.get(f"{b.url}/jobs/{job_id}", headers=AUTH)).json()["status"]
        if status != "running":
            break
        assert time.monotonic() - started < 10, "still running long after the lease (3 s)"
        await asyncio.sleep(0.5)
    assert status == "failed"
    with own_redis.client() as client:
        _, names = stored_text(client, job_id)
        assert names[-1] == "error", "the stream ends as the status says"
        assert_every_key_has_a_ttl(client)
