"""The baseline: what this stack does with no job service in the way.

- ``POST /set`` reads the body and does one Redis ``SET`` with a TTL: the floor under
  ``POST /jobs``;
- ``GET /sse`` streams ``events`` delta-shaped events ``interval_ms`` apart with sse-starlette:
  the floor under a job's stream.

``python -m bench.baseline --port P --redis-url URL`` serves it with uvicorn exactly as
``python -m app`` serves the service (same loop, same HTTP parser, no access log).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from jobs.connection import connect


def create_baseline(redis_url: str) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        redis = connect(redis_url)
        try:
            yield {"redis": redis}
        finally:
            await redis.aclose()

    async def set_key(request: Request) -> Response:
        body = await request.body()
        key = f"baseline:{secrets.token_hex(16)}"
        await request.state.redis.set(key, body, ex=600)
        return JSONResponse({"key": key}, status_code=201)

    async def sse(request: Request) -> Response:
        events = int(request.query_params.get("events", "50"))
        interval_s = int(request.query_params.get("interval_ms", "100")) / 1000
        size = int(request.query_params.get("size", "24"))

        async def frames() -> AsyncIterator[ServerSentEvent]:
            yield ServerSentEvent(
                json.dumps({"baseline": True}), event="connected", retry=1000, sep="\n"
            )
            total = 0
            started = time.monotonic()
            for n in range(events):
                delay = started + n * interval_s - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                total += size
                data = {
                    "text": "x" * size,
                    "totalLength": total,
                    "timestamp": time.time_ns() // 1_000_000,
                }
                yield ServerSentEvent(json.dumps(data), event="delta", id=f"{n}-0", sep="\n")
            yield ServerSentEvent(
                json.dumps({"totalLength": total}), event="complete", id=f"{events}-0", sep="\n"
            )

        return EventSourceResponse(frames(), sep="\n")

    return Starlette(
        routes=[Route("/set", set_key, methods=["POST"]), Route("/sse", sse)], lifespan=lifespan
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", required=True)
    args = parser.parse_args()
    uvicorn.run(
        create_baseline(args.redis_url),
        host="127.0.0.1",
        port=args.port,
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
