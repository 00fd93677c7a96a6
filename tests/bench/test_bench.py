"""The benchmark's building blocks, and one tiny run of the whole command.

Timings are never asserted: these tests prove that the harness measures what it says (the
SSE reader parses frames and checks losslessness, the generator counts what it sends) and that
``python -m bench --quick`` produces its table.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from bench.__main__ import ROOT, Table, percentile
from bench.load import Connection, StreamResult, read_sse, request
from tests.support.live import LiveServer
from tests.support.redis_server import require

pytestmark = pytest.mark.anyio


def test_percentile_and_table() -> None:
    assert percentile([5, 1, 3, 2, 4], 50) == 3
    assert percentile([5, 1, 3, 2, 4], 99) == 5
    table = Table()
    table.add("streams: lag", "12 / 40", "1 / 2", "", "p99 <= 150 ms", True)
    table.add("start: requests/s", "900", "1000", "0.90x", ">= 0.8x", False)
    lines = table.render().splitlines()
    assert lines[0].split() == ["measure", "service", "baseline", "ratio", "target"]
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
        "10 streams: RSS KiB / stream",
        "Redis cmds / round trips per job",
    ):
        assert measure in table
    lossless = next(line for line in table.splitlines() if "streams: lossless" in line)
    assert "10/10" in lossless
    assert "not 201" not in table, "every start request succeeded"
