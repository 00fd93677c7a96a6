"""The naive peer: the design's recipe written plainly in our stack, doing the service's work.

The benchmark's yardstick. It does what any honest implementation of the job API must do,
with the service's own parts, and nothing more:

- ``POST /jobs`` verifies the HS256 bearer JWT (joserfc, on every request: ``exp`` and ``sub``
  required, a 30 s leeway), reads the JSON body, validates it with the service's own
  ``feature-suggestion`` input model, stores the job with one ``SET <prefix>:job:<id> <json>
  EX 600`` and answers 201 with the job's links (401 and 422 as problem documents);
- ``GET /jobs/{id}/stream`` verifies the token again, ``GET``\\ s the job (404 when missing,
  403 when another user's), and runs the model *inside the response*: the service's demo
  backend on the request the agent builds (no tools), so the text and its pace are exactly
  the service's; its tokens are coalesced by the service's own lossless
  :class:`~jobs.delivery.coalescer.Throttle`; frames are ``connected`` (``retry:``, no id),
  ``delta`` events with an ``id:`` counter, and ``complete`` with the result the agent parses and
  validates; then the job is deleted.

What makes it naive: no resume (a dropped connection loses the run), no exactly-once (two
attaches run the model twice), no cancel, no rate limits, and no Redis write per event.

``python -m bench.baseline --port P --redis-url URL --jwt-secret S`` serves it with uvicorn
exactly as ``python -m app`` serves the service (same loop, same HTTP parser, no access log).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import uvicorn
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from pydantic import ValidationError
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from jobs.agents.feature_suggestion import FeatureSuggestionAgent, FeatureSuggestionInput
from jobs.backends.base import Completion, TextDelta
from jobs.backends.demo import DemoBackend
from jobs.delivery.coalescer import Throttle
from jobs.errors import InputInvalid, OutputInvalid
from jobs.redis.connection import Redis, connect

AGENT = FeatureSuggestionAgent()
MODEL = "demo"
JOB_TTL_S = 600
LEEWAY_S = 30
RETRY_MS = 1000
HEADERS = {"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"}


def dumps(value: Any) -> str:
    """Compact JSON (orjson, as the service writes it)."""
    return orjson.dumps(value).decode()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def problem(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    body = {"type": "about:blank", "status": status, "detail": detail, "code": code, **extra}
    return Response(
        dumps(body), status_code=status, headers=headers, media_type="application/problem+json"
    )


class Unauthorized(Exception):
    pass


class Peer:
    """The peer's settings and its two routes."""

    def __init__(
        self,
        redis_url: str,
        jwt_secret: str,
        *,
        tokens_per_second: float,
        throttle_ms: int,
        prefix: str = "naive",
    ) -> None:
        self.redis_url = redis_url
        self.key = OctKey.import_key(jwt_secret)
        self.claims = jwt.JWTClaimsRegistry(
            leeway=LEEWAY_S, exp={"essential": True}, sub={"essential": True}
        )
        self.backend = DemoBackend(tokens_per_second=tokens_per_second)
        self.window_s = throttle_ms / 1000
        self.prefix = prefix
        self.redis: Redis | None = None

    def job_key(self, job_id: str) -> str:
        return f"{self.prefix}:job:{job_id}"

    @property
    def store(self) -> Redis:
        assert self.redis is not None, "the lifespan connects"
        return self.redis

    def authenticate(self, request: Request) -> str:
        """The caller's ``sub``, from an HS256 bearer token verified now."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("a bearer token is required")
        try:
            decoded = jwt.decode(token.strip(), self.key, algorithms=["HS256"])
            self.claims.validate(decoded.claims)
        except (JoseError, ValueError, TypeError):
            raise Unauthorized("the token is invalid") from None
        sub = decoded.claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise Unauthorized("the token's 'sub' claim is empty")
        return sub

    async def create_job(self, request: Request) -> Response:
        try:
            owner = self.authenticate(request)
        except Unauthorized as exc:
            return unauthorized(exc)
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return problem(422, "INPUT_INVALID", "the body is not JSON")
        if not isinstance(body, dict) or body.get("agent") != AGENT.name:
            return problem(422, "INPUT_INVALID", f"agent must be {AGENT.name!r}")
        try:
            agent_input = FeatureSuggestionInput.model_validate(
                body.get("input"), context={"allowed_models": [MODEL]}
            )
        except ValidationError as exc:
            errors = InputInvalid(exc, prefix=("input",)).errors
            return problem(422, "INPUT_INVALID", "the input is invalid", errors=errors)
        job_id = secrets.token_hex(16)
        created_at = now_ms()
        job = {
            "jobId": job_id,
            "owner": owner,
            "agent": AGENT.name,
            "input": agent_input.model_dump(mode="json", by_alias=True),
            "createdAt": created_at,
        }
        await self.store.set(self.job_key(job_id), dumps(job), ex=JOB_TTL_S)
        content = {
            "jobId": job_id,
            "status": "pending",
            "agent": AGENT.name,
            "createdAt": created_at,
            "expiresAt": created_at + JOB_TTL_S * 1000,
            "streamUrl": f"/jobs/{job_id}/stream",
        }
        return Response(
            dumps(content),
            status_code=201,
            headers={"Location": f"/jobs/{job_id}"},
            media_type="application/json",
        )

    async def stream_job(self, request: Request) -> Response:
        try:
            owner = self.authenticate(request)
        except Unauthorized as exc:
            return unauthorized(exc)
        job_id = request.path_params["job_id"]
        raw = await self.store.get(self.job_key(job_id))
        if raw is None:
            return problem(404, "JOB_NOT_FOUND", "no such job")
        job = orjson.loads(raw)
        if job["owner"] != owner:
            return problem(403, "NOT_OWNER", "the job is another user's")
        return EventSourceResponse(self.run(job), headers=HEADERS, sep="\n")

    async def run(self, job: dict[str, Any]) -> AsyncIterator[ServerSentEvent]:
        """The whole run, inside the response: the model's tokens go through the throttle
        into a queue, which this generator sends; then ``complete``, and the job is gone."""
        connected = {"jobId": job["jobId"], "status": "running", "timestamp": now_ms()}
        yield ServerSentEvent(dumps(connected), event="connected", retry=RETRY_MS, sep="\n")
        started = time.monotonic()
        agent_input = FeatureSuggestionInput.model_validate(
            job["input"], context={"allowed_models": [MODEL]}
        )
        model_request = AGENT.request(agent_input, default_model=MODEL)
        # A flush comes from a throttle's timer as often as from a token: a queue hands them
        # to this generator; None ends it (the model's completion, or its failure).
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        throttle = Throttle(self.window_s, queue.put_nowait)

        async def model() -> Completion | None:
            ending: Completion | None = None
            try:
                async for item in self.backend.stream(model_request):
                    if isinstance(item, TextDelta):
                        throttle.add(item.text)
                    elif isinstance(item, Completion):
                        ending = item
            finally:
                throttle.close()
                queue.put_nowait(None)
            return ending

        task = asyncio.create_task(model())
        parts: list[str] = []
        total = 0
        try:
            while (text := await queue.get()) is not None:
                parts.append(text)
                total += len(text)
                data = {"text": text, "totalLength": total, "timestamp": now_ms()}
                yield ServerSentEvent(dumps(data), event="delta", id=str(len(parts)), sep="\n")
            completion = await task
        finally:
            task.cancel()  # the client left: stop the model
        ending: dict[str, Any]
        try:
            if completion is None:
                raise OutputInvalid("the model ended without a completion")
            ending = {
                "result": AGENT.result("".join(parts)),
                "totalLength": total,
                "tokenUsage": completion.usage.to_event(),
                "executionTimeMs": round((time.monotonic() - started) * 1000),
                "model": completion.model,
                "stopReason": completion.stop_reason,
                "timestamp": now_ms(),
            }
            event = "complete"
        except OutputInvalid as exc:
            ending = {"code": "OUTPUT_INVALID", "message": exc.message, "timestamp": now_ms()}
            event = "error"
        await self.store.delete(self.job_key(job["jobId"]))
        yield ServerSentEvent(dumps(ending), event=event, id=str(len(parts) + 1), sep="\n")

    def app(self) -> Starlette:
        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            self.redis = connect(self.redis_url)
            try:
                yield
            finally:
                await self.redis.aclose()

        async def healthz(request: Request) -> Response:
            return JSONResponse({"status": "ok"})

        return Starlette(
            routes=[
                Route("/jobs", self.create_job, methods=["POST"]),
                Route("/jobs/{job_id}/stream", self.stream_job),
                Route("/healthz", healthz),
            ],
            lifespan=lifespan,
        )


def unauthorized(exc: Unauthorized) -> Response:
    challenge = f'Bearer error="invalid_token", error_description="{exc}"'
    return problem(401, "UNAUTHORIZED", str(exc), headers={"WWW-Authenticate": challenge})


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--jwt-secret", required=True, help="the HS256 secret (32+ characters)")
    parser.add_argument("--tokens-per-second", type=float, default=50.0)
    parser.add_argument("--throttle-ms", type=int, default=100)
    parser.add_argument("--prefix", default="naive", help="the Redis key prefix")
    args = parser.parse_args()
    peer = Peer(
        args.redis_url,
        args.jwt_secret,
        tokens_per_second=args.tokens_per_second,
        throttle_ms=args.throttle_ms,
        prefix=args.prefix,
    )
    uvicorn.run(
        peer.app(),
        host="127.0.0.1",
        port=args.port,
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
