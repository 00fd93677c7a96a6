"""Failures a single instance must survive: Redis going away and coming back, clients that
stop reading, clients that leave for good."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import StartLive, token
from tests.support.backends import ScriptedBackend
from tests.support.redis_server import RedisServer
from tests.support.sse import read_stream

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": f"Bearer {token()}"}
CHAT = {"agent": "chat", "input": {"prompt": "hi"}}


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis this test may stop and restart."""
    with RedisServer() as server:
        yield server


async def create(client: httpx.AsyncClient, base: str) -> dict[str, Any]:
    response = await client.post(f"{base}/jobs", json=CHAT, headers=AUTH)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_redis_outage_gives_503s_and_retryable_errors_then_recovers(
    live: StartLive, client: httpx.AsyncClient, own_redis: RedisServer
) -> None:
    slow = ScriptedBackend(chunks=[f"w{n} " for n in range(200)], interval_s=0.02)
    runner = live(backend=slow, redis_url=own_redis.url)
    reader = live(redis_url=own_redis.url)  # tails Redis: the run is on `runner`
    job = await create(client, runner.url)
    local = asyncio.create_task(read_stream(client, runner.url + job["streamUrl"], token=token()))
    await asyncio.sleep(0.3)
    remote = asyncio.create_task(read_stream(client, reader.url + job["streamUrl"], token=token()))
    await asyncio.sleep(0.3)

    own_redis.stop()
    for stream in await asyncio.gather(local, remote):
        error = stream.events[-1]
        assert error.event == "error"
        assert error.data["code"] == "STORE_UNAVAILABLE"
        assert error.data["retryable"] is True
        # An unstored error sets no id, so the client's Last-Event-ID stays its last delta's.
        assert error.id == stream.of("delta")[-1].id
        assert stream.text, "what was streamed before the outage was delivered"

    for server in (runner, reader):
        assert (await client.get(f"{server.url}/healthz")).status_code == 200
        ready = await client.get(f"{server.url}/readyz")
        assert ready.status_code == 503
        refused = await client.post(f"{server.url}/jobs", json=CHAT, headers=AUTH)
        assert refused.status_code == 503
        assert refused.json()["code"] == "STORE_UNAVAILABLE"

    own_redis.start()  # same port, empty: the service reconnects by itself
    slow.chunks = ["back", " ", "again"]
    for server in (runner, reader):
        assert (await client.get(f"{server.url}/readyz")).status_code == 200
        fresh = await create(client, server.url)
        done = await read_stream(client, server.url + fresh["streamUrl"], token=token())
        assert done.events[-1].event == "complete"


async def test_a_client_that_stops_reading_is_cut_off(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    """The server never buffers without bound for a stalled reader: the blocked send times out
    and the stream (and its slot) is released."""
    big = ScriptedBackend(chunks=["x" * 16_384] * 1_500)  # 24 MiB, more than socket buffers hold
    server = live(backend=big, stream_send_timeout_s=0.5)
    job = await create(client, server.url)
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        request = (
            f"GET {job['streamUrl']} HTTP/1.1\r\nHost: test\r\n"
            f"Authorization: Bearer {token()}\r\n\r\n"
        )
        sock.sendall(request.encode())
        sock.recv(1024)  # the response has started; now stop reading
        deadline = time.monotonic() + 20
        while True:
            ready = (await client.get(f"{server.url}/readyz")).json()
            if ready["openStreams"] == 0:
                break
            assert time.monotonic() < deadline, "the stalled stream was never cut off"
            await asyncio.sleep(0.2)


async def test_a_run_nobody_watches_is_abandoned_but_a_quick_return_resumes(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    slow = ScriptedBackend(chunks=[f"w{n} " for n in range(60)], interval_s=0.05)
    server = live(backend=slow, abandon_after_s=1, lease_ttl_s=0.6)

    kept = await create(client, server.url)
    head = await read_stream(client, server.url + kept["streamUrl"], token=token(), stop_after=2)
    await asyncio.sleep(0.3)  # back well within ABANDON_AFTER_S
    tail = await read_stream(
        client,
        server.url + kept["streamUrl"],
        token=token(),
        headers={"Last-Event-ID": head.last_id},
    )
    assert tail.events[-1].event == "complete"
    assert head.text + tail.text == slow.text

    left = await create(client, server.url)
    await read_stream(client, server.url + left["streamUrl"], token=token(), stop_after=1)
    deadline = time.monotonic() + 10
    while True:
        status = (await client.get(f"{server.url}/jobs/{left['jobId']}", headers=AUTH)).json()
        if status["status"] != "running":
            break
        assert time.monotonic() < deadline, "the unwatched run was never stopped"
        await asyncio.sleep(0.2)
    assert status["status"] == "cancelled"
    assert status["error"]["code"] == "ABANDONED"
