"""The load generator: a separate process speaking raw HTTP/1.1 over keep-alive sockets.

``python -m bench.load`` reads one scenario as JSON on stdin and prints its measurements as
JSON on stdout. It is deliberately minimal (no HTTP library, uvloop when available) so that
the server, not the generator, is what the numbers measure.

Scenarios:

- ``start``: ``concurrency`` connections send ``POST path`` (``/jobs`` unless given) for
  ``duration_s``; per-request latencies (request written → response read).
- ``ttfd``: create ``count`` jobs (untimed), then attach to them ``spacing_ms`` apart (0: all
  at once), keeping every stream open; per stream, the time from writing the request to
  reading the first ``delta`` frame.
- ``streams``: create ``count`` jobs, attach to all, read every stream to its end; per
  delta, the lag from its ``timestamp`` (the server's flush) to its arrival; per stream, a
  lossless check (the deltas concatenate to ``totalLength`` characters and, for
  ``feature-suggestion``, parse to exactly the ``complete`` result).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any


def now_ms() -> float:
    return time.time_ns() / 1_000_000


class Connection:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=2**20)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()

    async def send(self, raw: bytes) -> None:
        assert self.writer is not None
        self.writer.write(raw)
        await self.writer.drain()

    async def response_head(self) -> tuple[int, dict[str, str]]:
        assert self.reader is not None
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("closed")
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        return status, headers

    async def body(self, headers: dict[str, str]) -> bytes:
        assert self.reader is not None
        if "content-length" in headers:
            return await self.reader.readexactly(int(headers["content-length"]))
        chunks = []
        async for chunk in self.chunks():
            chunks.append(chunk)
        return b"".join(chunks)

    async def chunks(self) -> Any:
        assert self.reader is not None
        while True:
            size = int((await self.reader.readline()).strip() or b"0", 16)
            if size == 0:
                await self.reader.readline()
                return
            data = await self.reader.readexactly(size)
            await self.reader.readline()
            yield data


def request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: bench"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class StreamResult:
    first_delta_ms: float | None = None
    lags_ms: list[float] = field(default_factory=list)
    deltas: int = 0
    tools: int = 0
    lossless: bool = False
    ended: str = ""


async def read_sse(conn: Connection, sent_at: float, result: StreamResult) -> None:
    """Read one SSE response to its end, recording first-delta time, lags, losslessness."""
    status, headers = await conn.response_head()
    if status != 200:
        await conn.body(headers)
        result.ended = f"http {status}"
        return
    buffer = b""
    text: list[str] = []
    async for chunk in conn.chunks():
        arrived = now_ms()
        buffer += chunk
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            event, data = "message", b""
            for line in block.split(b"\n"):
                if line.startswith(b"event:"):
                    event = line[6:].strip().decode()
                elif line.startswith(b"data:"):
                    data = line[5:].strip()
            if event == "delta":
                payload = json.loads(data)
                if result.first_delta_ms is None:
                    result.first_delta_ms = arrived - sent_at
                result.lags_ms.append(arrived - payload["timestamp"])
                result.deltas += 1
                text.append(payload["text"])
            elif event == "tool":
                result.tools += 1
            elif event in ("complete", "error"):
                payload = json.loads(data)
                result.ended = event if event == "complete" else payload.get("code", "error")
                full = "".join(text)
                if event == "complete" and payload["totalLength"] == len(full):
                    expected = payload.get("result")
                    result.lossless = expected is None or _same(full, expected)


def _same(full: str, expected: Any) -> bool:
    """For a feature-suggestion the streamed text ends with the JSON document of the result
    (the last step's text, after the short notes of the tool steps, each ending a line); the
    result adds ``context``: the files the agent read."""
    if isinstance(expected, dict) and "suggestions" in expected:
        document = {key: value for key, value in expected.items() if key != "context"}
        start = 0 if full.startswith("{") else full.find("\n{") + 1
        return bool(json.loads(full[start:]) == document)
    if isinstance(expected, dict) and "text" in expected:
        return bool(full == expected["text"])
    return True


async def create_jobs(spec: dict[str, Any], count: int) -> list[tuple[str, str]]:
    """Create ``count`` jobs (one user each, round robin); return (stream path, token)."""
    tokens = spec["tokens"]
    jobs: list[tuple[str, str]] = []
    conns = [Connection(spec["host"], spec["port"]) for _ in range(min(16, count))]
    for conn in conns:
        await conn.open()

    async def worker(conn: Connection, indices: list[int]) -> None:
        for index in indices:
            token = tokens[index % len(tokens)]
            body = json.dumps(
                spec["job"](index) if callable(spec.get("job")) else _job(spec, index)
            )
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            await conn.send(request("POST", "/jobs", headers, body.encode()))
            status, response_headers = await conn.response_head()
            created = json.loads(await conn.body(response_headers))
            if status != 201:
                raise RuntimeError(f"POST /jobs answered {status}: {created}")
            jobs.append((created["streamUrl"], token))

    await asyncio.gather(
        *(worker(conn, list(range(n, count, len(conns)))) for n, conn in enumerate(conns))
    )
    for conn in conns:
        await conn.close()
    return jobs


def _job(spec: dict[str, Any], index: int) -> dict[str, Any]:
    return {
        "agent": "feature-suggestion",
        "input": {
            "pageOrComponent": f"page {index}",
            "featureType": "enhancement",
            "priorityLevel": spec.get("priority", "critical"),
        },
    }


async def run_start(spec: dict[str, Any]) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + spec["duration_s"]
    tokens = spec["tokens"]
    path = spec.get("path", "/jobs")
    body = json.dumps(_job(spec, 0)).encode()

    async def worker(n: int) -> None:
        nonlocal errors
        conn = Connection(spec["host"], spec["port"])
        await conn.open()
        i = n
        while time.monotonic() < deadline:
            token = tokens[i % len(tokens)]
            i += spec["concurrency"]
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            raw = request("POST", path, headers, body)
            started = time.perf_counter()
            await conn.send(raw)
            status, response_headers = await conn.response_head()
            await conn.body(response_headers)
            latencies.append((time.perf_counter() - started) * 1000)
            if status != 201:
                errors += 1
        await conn.close()

    started = time.monotonic()
    await asyncio.gather(*(worker(n) for n in range(spec["concurrency"])))
    elapsed = time.monotonic() - started
    return {"latencies_ms": latencies, "elapsed_s": elapsed, "errors": errors}


async def attach_all(spec: dict[str, Any], jobs: list[tuple[str, str]]) -> list[StreamResult]:
    """Attach to every job: all at once, or ``spacing_ms`` apart (open-loop arrivals)."""
    results = [StreamResult() for _ in jobs]
    conns = [Connection(spec["host"], spec["port"]) for _ in jobs]
    await asyncio.gather(*(conn.open() for conn in conns))
    spacing_s = spec.get("spacing_ms", 0) / 1000
    started = time.monotonic()

    async def one(index: int, conn: Connection, job: tuple[str, str], result: StreamResult) -> None:
        path, token = job
        if spacing_s:
            await asyncio.sleep(max(0.0, started + index * spacing_s - time.monotonic()))
        sent_at = now_ms()
        await conn.send(request("GET", path, {"Authorization": f"Bearer {token}"}))
        try:
            await read_sse(conn, sent_at, result)
        finally:
            await conn.close()

    await asyncio.gather(
        *(one(n, c, j, r) for n, (c, j, r) in enumerate(zip(conns, jobs, results, strict=True)))
    )
    return results


async def run_streams(spec: dict[str, Any]) -> dict[str, Any]:
    jobs = await create_jobs(spec, spec["count"])
    started = time.monotonic()
    results = await attach_all(spec, jobs)
    elapsed = time.monotonic() - started
    return {
        "elapsed_s": elapsed,
        "first_delta_ms": [r.first_delta_ms for r in results if r.first_delta_ms is not None],
        "lags_ms": [lag for r in results for lag in r.lags_ms],
        "deltas": sum(r.deltas for r in results),
        "tools": sum(r.tools for r in results),
        "lossless": sum(r.lossless for r in results),
        "endings": _count(r.ended for r in results),
    }


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


async def main() -> None:
    spec = json.loads(sys.stdin.read())
    scenario = spec["scenario"]
    if scenario == "start":
        result = await run_start(spec)
    elif scenario in ("ttfd", "streams"):
        result = await run_streams(spec)
    else:
        raise SystemExit(f"unknown scenario {scenario!r}")
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        asyncio.run(main())
