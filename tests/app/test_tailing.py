"""Hundreds of streams tailing runs of another instance, on two real service processes.

Instance A runs every job; instance B serves a stream of each by tailing Redis. More tailing
streams than the shared pool has connections (``MAX_CONNECTIONS``) must all end losslessly,
while B reads them through a few connections of its own: the server's ``blocked_clients`` (a
blocking read per connection) and ``connected_clients`` stay small.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import redis

from jobs.redis.connection import MAX_CONNECTIONS
from tests.conftest import SECRET, token
from tests.support.process import ServiceProcess
from tests.support.sse import read_stream

pytestmark = pytest.mark.anyio

STREAMS = MAX_CONNECTIONS + 100
#: Attaches in flight at once.
WAVE = 20
AUTH = {"Authorization": f"Bearer {token()}"}
CHAT = {"agent": "chat", "input": {"prompt": "Tell me about tailing many streams."}}
ENVIRONMENT = {
    "AUTH_JWT_SECRET": SECRET,
    "DEMO_TOKENS_PER_SECOND": "20",
    "STREAM_THROTTLE_MS": "100",
    "RATE_LIMIT_CREATE_PER_MIN": "0",
    "MAX_STREAMS_PER_USER": "0",
    "LOG_LEVEL": "warning",
}


@pytest.fixture
def pair(redis_url: str) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    a = ServiceProcess(REDIS_URL=redis_url, **ENVIRONMENT).start()
    try:
        b = ServiceProcess(REDIS_URL=redis_url, **ENVIRONMENT).start()
        try:
            yield a, b
        finally:
            b.close()
    finally:
        a.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=STREAMS + 50, max_keepalive_connections=50)
    async with httpx.AsyncClient(timeout=httpx.Timeout(60.0), limits=limits) as client:
        yield client


def stored_text(redis_client: redis.Redis, job_id: str) -> str:
    stored: Any = redis_client.xrange(f"jobs:{{{job_id}}}:events")
    deltas = [fields for _, fields in stored if fields["event"] == "delta"]
    return "".join(json.loads(fields["data"])["text"] for fields in deltas)


async def test_hundreds_of_streams_tail_another_instance_through_few_connections(
    pair: tuple[ServiceProcess, ServiceProcess],
    http: httpx.AsyncClient,
    redis_client: redis.Redis,
) -> None:
    a, b = pair
    gate = asyncio.Semaphore(WAVE)  # attaches arrive in waves, as from many clients

    async def one() -> tuple[str, str, str, str]:
        async with gate:
            created = await http.post(f"{a.url}/jobs", json=CHAT, headers=AUTH)
            assert created.status_code == 201, created.text
            job_id: str = created.json()["jobId"]
            path = f"/jobs/{job_id}/stream"
            head = await read_stream(http, a.url + path, token=token(), stop_after=1)  # A runs it
            tail_reading = read_stream(
                http, b.url + path, token=token(), headers={"Last-Event-ID": head.last_id}
            )
        tail = await tail_reading
        assert tail.events, "B answered"
        return job_id, head.text, tail.text, tail.events[-1].event

    readers = [asyncio.create_task(one()) for _ in range(STREAMS)]
    peak_blocked = peak_connected = 0
    while not all(r.done() for r in readers):
        info = redis_client.info("clients")
        peak_blocked = max(peak_blocked, int(info["blocked_clients"]))
        peak_connected = max(peak_connected, int(info["connected_clients"]))
        await asyncio.sleep(0.2)
    results = [r.result() for r in readers]
    print(f"{STREAMS} tailing: peak connected_clients {peak_connected}, blocked {peak_blocked}")
    endings = [ending for *_, ending in results]
    assert endings == ["complete"] * STREAMS
    for job_id, head, tail, _ in results:
        assert head + tail == stored_text(redis_client, job_id), "gap-free, no duplicate"
    # One blocking read per tailer reader (B has one), plus the runners' inbox waits.
    assert peak_blocked < 10
    # Both instances' shared pools grow with the round trips in flight (a wave of attaches on
    # A, their catch-up reads on B, the writer, leases, inboxes): 40-65 connections, by how
    # busy the machine is. Streams that each held a connection would take B's pool to its
    # MAX_CONNECTIONS (200) alone.
    assert peak_connected < STREAMS // 3, "the tailing streams do not each hold a connection"
