"""The benchmark's building blocks, the naive peer, and one tiny run of the whole command.

Timings are never asserted: these tests prove that the harness measures what it says (the
SSE reader parses frames and checks losslessness, the generator counts what it sends), that
the naive peer does the service's work (the same text, lossless, then gone), and that
``python -m bench --quick`` produces its table with both doing the same work.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
import redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from bench.__main__ import SAME_WORK_EVENTS
from bench.load import Connection, StreamResult, read_sse, request
from bench.measure import ROOT, Table, percentile
from jobs.agents.feature_suggestion import FeatureSuggestionAgent, FeatureSuggestionInput
from jobs.backends.demo_script import answer
from tests.conftest import SECRET, token
from tests.support.live import LiveServer
from tests.support.redis_server import free_port, require

pytestmark = pytest.mark.anyio


def test_percentile_and_table() -> None:
    assert percentile([5, 1, 3, 2, 4], 50) == 3
    assert percentile([5, 1, 3, 2, 4], 99) == 5
    table = Table()
    table.add("streams: lag", "12 / 40", "1 / 2", "", "p99 <= 150 ms", True)
    table.add("start: requests/s", "900", "1000", "0.90x", ">= 1.0x", False)
    lines = table.render().splitlines()
    assert lines[0].split() == ["measure", "service", "naive", "peer", "ratio", "target"]
    assert lines[2].endswith("ok")
    assert lines[3].endswith("MISS")


def sse_app(frames: list[bytes]) -> Starlette:
    async def stream(request: Request) -> Response:
        async def body() -> AsyncIterator[bytes]:
            for frame in frames:
                yield frame
                await asyncio.sleep(0.01)

        return StreamingResponse(body(), media_type="text/event-stream")

    return Starlette(routes=[Route("/s", stream)])


def sse(event: str, data: dict[str, object]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def delta(text: str, total: int) -> bytes:
    return sse("delta", {"text": text, "totalLength": total, "timestamp": 0})


def complete(result: dict[str, object], total: int) -> bytes:
    return sse("complete", {"result": result, "totalLength": total})


@pytest.mark.parametrize(
    ("frames", "lossless"),
    [
        ([delta("he", 2), b": ping\n\n", delta("llo", 5), complete({"text": "hello"}, 5)], True),
        ([delta("he", 2), delta("lo", 4), complete({"text": "hello"}, 5)], False),
        ([delta("hel", 3), delta("lo", 5), complete({"text": "hello"}, 5)], True),
        ([delta("hel", 3), delta("LO", 5), complete({"text": "hello"}, 5)], False),
    ],
)
async def test_the_sse_reader_checks_losslessness(frames: list[bytes], lossless: bool) -> None:
    server = LiveServer(sse_app(frames)).start()
    try:
        conn = Connection("127.0.0.1", server.port)
        await conn.open()
        await conn.send(request("GET", "/s", {}))
        result = StreamResult()
        await read_sse(conn, 0.0, result)
        await conn.close()
    finally:
        server.stop()
    assert result.deltas == len([f for f in frames if f.startswith(b"event: delta")])
    assert result.ended == "complete"
    assert result.lossless is lossless
    assert result.first_delta_ms is not None


def test_the_quick_benchmark_prints_its_table() -> None:
    require("redis-server")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    table = done.stdout
    for measure in (
        "start, 1 conn: requests/s",
        "start, 64 conn: p50 / p99 ms",
        "first delta, 10 attaches 10 ms apart",
        "10 streams: delta lag p50 / p99 ms",
        "10 streams: CPU ms / stream",
        "10 streams: RSS KiB / stream",
        "Redis cmds / round trips per job",
    ):
        assert measure in table
    rows = {line.split("  ")[0]: line.split("  ")[1:] for line in table.splitlines()}

    def cells(measure: str) -> list[str]:
        return [cell.strip() for cell in rows[measure] if cell.strip()]

    assert cells("10 streams: lossless")[:2] == ["10/10", "10/10"], "on both, every stream"
    # The same work: as many deltas per stream (same text, same pace, same throttle), and no
    # tool steps on either side (the service runs without AGENT_WORKSPACE).
    ours, peer = (float(n) for n in cells("10 streams: deltas / stream")[:2])
    assert ours > 5
    assert abs(ours - peer) <= SAME_WORK_EVENTS, (ours, peer)
    assert cells("10 streams: deltas / stream")[-1] == "ok"
    assert "tool events" not in table
    assert "not 201" not in table, "every start request succeeded, on both"
    assert "endings" not in table, "every stream completed, on both"


@dataclass
class Peer:
    url: str
    process: subprocess.Popen[bytes]


@pytest.fixture
def peer(redis_url: str) -> Iterator[Peer]:
    """``python -m bench.baseline`` on a free port, on the test Redis, at a fast pace."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable, "-m", "bench.baseline",
            "--port", str(port), "--redis-url", redis_url, "--jwt-secret", SECRET,
            "--tokens-per-second", "2000", "--throttle-ms", "20",
        ],
        cwd=ROOT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{url}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, "the peer exited"
                assert time.monotonic() < deadline, "the peer did not start"
                time.sleep(0.05)
        yield Peer(url, process)
    finally:
        process.terminate()
        process.wait(10)


INPUT = {"pageOrComponent": "checkout page", "featureType": "enhancement", "priorityLevel": "low"}


def sse_events(response: httpx.Response) -> list[dict[str, str]]:
    """The frames of an SSE response, each as its fields (``event``, ``data``, ``id``...)."""
    frames: list[dict[str, str]] = []
    fields: dict[str, str] = {}
    for line in response.iter_lines():
        if not line:
            if fields:
                frames.append(fields)
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
    return frames


def test_the_naive_peer_streams_the_services_text_losslessly_then_forgets_the_job(
    peer: Peer, redis_client: redis.Redis
) -> None:
    auth = {"Authorization": f"Bearer {token('alice')}"}
    body = {"agent": "feature-suggestion", "input": INPUT}
    created = httpx.post(f"{peer.url}/jobs", json=body, headers=auth)
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["status"] == "pending"
    assert job["agent"] == "feature-suggestion"
    assert job["streamUrl"] == f"/jobs/{job['jobId']}/stream"
    assert created.headers["location"] == f"/jobs/{job['jobId']}"
    assert job["expiresAt"] - job["createdAt"] == 600_000
    assert 590 < redis_client.ttl(f"naive:job:{job['jobId']}") <= 600

    other = {"Authorization": f"Bearer {token('mallory')}"}
    assert httpx.get(peer.url + job["streamUrl"], headers=other).status_code == 403

    with httpx.stream("GET", peer.url + job["streamUrl"], headers=auth, timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        frames = sse_events(response)

    connected, *deltas, complete = frames
    assert connected["event"] == "connected"
    assert connected["retry"] == "1000"
    assert "id" not in connected
    assert {d["event"] for d in deltas} == {"delta"}
    assert [d["id"] for d in deltas] == [str(n) for n in range(1, len(deltas) + 1)]
    assert complete["event"] == "complete"
    assert complete["id"] == str(len(deltas) + 1)
    payloads = [json.loads(d["data"]) for d in deltas]
    text = "".join(p["text"] for p in payloads)
    assert [p["totalLength"] for p in payloads] == [
        len("".join(p["text"] for p in payloads[: n + 1])) for n in range(len(payloads))
    ]
    # The service's own demo text for this input (its agent's request, no tools).
    agent = FeatureSuggestionAgent()
    request = agent.request(FeatureSuggestionInput.model_validate(INPUT), default_model="demo")
    assert text == answer(request)
    ending = json.loads(complete["data"])
    assert set(ending) == {
        "result", "totalLength", "tokenUsage", "executionTimeMs", "model", "stopReason",
        "timestamp",
    }  # fmt: skip
    assert ending["model"] == "demo"
    assert ending["stopReason"] == "end_turn"
    assert ending["totalLength"] == len(text)
    assert json.loads(text) | {"context": []} == ending["result"]
    assert complete["data"] == json.dumps(ending, separators=(",", ":"), ensure_ascii=False)

    again = httpx.get(peer.url + job["streamUrl"], headers=auth)
    assert again.status_code == 404
    assert again.headers["content-type"] == "application/problem+json"
    assert redis_client.exists(f"naive:job:{job['jobId']}") == 0


def test_the_naive_peer_refuses_what_the_service_refuses(peer: Peer) -> None:
    body = {"agent": "feature-suggestion", "input": INPUT}
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Bearer {SECRET}"}):
        refused = httpx.post(f"{peer.url}/jobs", json=body, headers=headers)
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["www-authenticate"].startswith("Bearer")
    expired = token("alice", exp=int(time.time()) - 120)
    assert httpx.post(f"{peer.url}/jobs", json=body, headers=auth(expired)).status_code == 401
    for bad in (
        {"agent": "chat", "input": INPUT},
        {"agent": "feature-suggestion", "input": INPUT | {"priorityLevel": "urgent"}},
        {"agent": "feature-suggestion", "input": INPUT | {"extra": 1}},
    ):
        refused = httpx.post(f"{peer.url}/jobs", json=bad, headers=auth(token("alice")))
        assert refused.status_code == 422, bad
        assert refused.json()["code"] == "INPUT_INVALID"
    invalid = httpx.post(
        f"{peer.url}/jobs",
        json={"agent": "feature-suggestion", "input": INPUT | {"priorityLevel": "urgent"}},
        headers=auth(token("alice")),
    )
    assert [e["field"] for e in invalid.json()["errors"]] == ["input.priorityLevel"]
    missing = httpx.get(f"{peer.url}/jobs/{'0' * 32}/stream", headers=auth(token("alice")))
    assert missing.status_code == 404


def auth(bearer: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {bearer}"}
