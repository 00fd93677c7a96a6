"""By hand: many streams on instance B tailing runs of instance A, and what Redis sees.

``python -m bench.tailing [count]`` (default 2000) starts a redis-server and two service
processes, starts ``count`` runs on A (each attached once, for its first event), then opens a
stream of each on B from that event's id (B tails Redis), a hundred attaches in flight at a
time. Every two seconds it prints B's open streams and the server's ``INFO clients``
(``connected_clients``, ``blocked_clients``); at the end, how the streams ended and how many
were gap-free. Uses the test suite's process and Redis helpers (run it from a dev checkout).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from typing import Any

import httpx
import redis
from httpx_sse import aconnect_sse

from tests.conftest import SECRET, token
from tests.support.process import ServiceProcess
from tests.support.redis_server import RedisServer
from tests.support.sse import read_stream

ENVIRONMENT = {
    "AUTH_JWT_SECRET": SECRET,
    "DEMO_TOKENS_PER_SECOND": "1",
    "STREAM_THROTTLE_MS": "1000",
    "RATE_LIMIT_CREATE_PER_MIN": "0",
    "MAX_STREAMS_PER_USER": "0",
    "LOG_LEVEL": "warning",
    "ABANDON_AFTER_S": "120",
}
AUTH = {"Authorization": f"Bearer {token()}"}
CHAT = {"agent": "chat", "input": {"prompt": "Tell me about tailing many streams."}}


def stored_text(client: redis.Redis, job_id: str) -> str:
    entries: Any = client.xrange(f"jobs:{{{job_id}}}:events")
    deltas = [fields for _, fields in entries if fields["event"] == "delta"]
    return "".join(json.loads(fields["data"])["text"] for fields in deltas)


async def start_runs(http: httpx.AsyncClient, a: str, count: int) -> list[tuple[str, str, str]]:
    """Start ``count`` runs on ``a``: (job id, text so far, last event id) each."""
    gate = asyncio.Semaphore(100)

    async def start() -> tuple[str, str, str]:
        async with gate:
            created = await http.post(f"{a}/jobs", json=CHAT, headers=AUTH)
            job_id: str = created.json()["jobId"]
            head = await read_stream(http, f"{a}/jobs/{job_id}/stream", token=token(), stop_after=1)
            return job_id, head.text, head.last_id

    return await asyncio.gather(*(start() for _ in range(count)))


async def tail(
    http: httpx.AsyncClient, b: str, run: tuple[str, str, str], gate: asyncio.Semaphore
) -> tuple[str, str]:
    """Read the run's stream on ``b`` to its end: (how it ended, its full text)."""
    job_id, text, last_id = run
    headers = AUTH | {"Last-Event-ID": last_id}
    await gate.acquire()
    held, ending, parts = True, "none", [text]
    try:
        async with aconnect_sse(http, "GET", f"{b}/jobs/{job_id}/stream", headers=headers) as src:
            if src.response.status_code != 200:
                return f"http {src.response.status_code}", ""
            async for sse in src.aiter_sse():
                if held:  # attached: let the next one in
                    gate.release()
                    held = False
                if sse.data:
                    data = json.loads(sse.data)
                    parts.append(data["text"] if sse.event == "delta" else "")
                    ending = sse.event if sse.event != "error" else f"error {data['code']}"
    finally:
        if held:
            gate.release()
    return ending, "".join(parts)


async def measure(url: str, client: redis.Redis, count: int) -> None:
    a = ServiceProcess(REDIS_URL=url, **ENVIRONMENT).start()
    b = ServiceProcess(REDIS_URL=url, **ENVIRONMENT).start()
    limits = httpx.Limits(max_connections=count + 100, max_keepalive_connections=100)
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(300.0), limits=limits) as http:
            runs = await start_runs(http, a.url, count)
            gate = asyncio.Semaphore(100)
            tails = [asyncio.create_task(tail(http, b.url, run, gate)) for run in runs]
            peak = (0, 0, 0)
            while not all(task.done() for task in tails):
                info = client.info("clients")
                opened = (await http.get(f"{b.url}/readyz")).json()["openStreams"]
                sample = (opened, int(info["connected_clients"]), int(info["blocked_clients"]))
                peak = max(peak, sample)
                opened, connected, blocked = sample
                print(f"B open streams {opened:5d}  connected {connected:4d}  blocked {blocked}")
                await asyncio.sleep(2)
            results = [task.result() for task in tails]
        endings = Counter(ending for ending, _ in results)
        whole = sum(
            text == stored_text(client, run[0])
            for (_, text), run in zip(results, runs, strict=True)
        )
        print(f"endings {dict(endings)}; gap-free {whole} of {count}")
        opened, connected, blocked = peak
        print(f"peak: {opened} streams on B, connected_clients {connected}, blocked {blocked}")
    finally:
        b.close()
        a.close()


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with RedisServer("--maxclients", "10000") as server:
        asyncio.run(measure(server.url, server.client(), count))


if __name__ == "__main__":
    main()
