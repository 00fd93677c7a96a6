"""Pure ASGI middleware (never ``BaseHTTPMiddleware``, which buffers streaming responses), in
as few layers as the order allows: every message of every response passes each layer's
``send`` wrapper, so a stream's events pay for each one.

- :class:`RequestEdge`, outermost: every request gets an id — the caller's ``X-Request-ID``
  when it is a plausible one (up to 128 characters of ``A-Z a-z 0-9 . _ : / + = -``; anything
  else could forge log lines), else a fresh one — echoed in the response's ``X-Request-ID``
  and put in the logging context (``app.logs``) for every line written while the request is
  handled. The same layer writes the access line: uvicorn's own access log prints the query
  string, which would put stream tickets in the logs; this one logs the method, the path
  without its query, the status and the duration instead, and counts the request (by route
  template) for ``/metrics``.
- :func:`cors`: Starlette's ``CORSMiddleware`` (pure ASGI) for ``CORS_ALLOW_ORIGINS``, or
  nothing at all when no origin is configured.
- :class:`BodyGuard`, inside CORS (so that its answers carry CORS headers):
  ``MAX_BODY_BYTES``. A declared ``Content-Length`` over the limit is refused before the app
  runs; a chunked body is counted as it is read. Both answer with a problem document
  (Starlette's own limit answers in plain text). And ``HTTP_BODY_TIMEOUT_S``: a body that has
  not fully arrived that long after the request began is answered 408 (a problem document),
  instead of holding the connection and its handler for as long as the client trickles
  bytes. Once the body is complete, ``receive`` is left alone (a stream waits on it for the
  client's disconnect).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Sequence

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app import logs
from app.problems import problem
from jobs import joblog, metrics

#: Request ids: unique enough, and cheap (seeded from the OS once).
_ids = random.Random()  # noqa: S311 - request ids are not secrets

logger = logging.getLogger("app.access")

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")


class RequestEdge:
    """The request's id (echoed in ``X-Request-ID``, in the logging context) and its access
    line and metrics: one layer, so each message a response sends passes one wrapper."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        # Not a secret, so not from the OS's entropy pool (a syscall per request).
        request_id = given if _REQUEST_ID_RE.fullmatch(given) else f"{_ids.getrandbits(64):016x}"
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        request_token = logs.request_id.set(request_id)
        job_token = logs.job_id.set(None)
        owner_token = joblog.owner.set(None)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _access(scope, status, time.perf_counter() - started)
            joblog.owner.reset(owner_token)
            logs.job_id.reset(job_token)
            logs.request_id.reset(request_token)


def _access(scope: Scope, status: int, duration_s: float) -> None:
    """Count the request (by route template) and log its access line."""
    route = scope.get("route")
    metrics.http_request(scope["method"], getattr(route, "path", "unmatched"), status, duration_s)
    if logger.isEnabledFor(logging.INFO):  # the line's fields cost more than the check
        duration_ms = duration_s * 1000
        logger.info(
            "%s %s %d %.1fms",
            scope["method"],
            scope["path"],
            status,
            duration_ms,
            extra={
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "duration_ms": round(duration_ms, 1),
            },
        )


def cors(origins: Sequence[str]) -> list[Middleware]:
    """CORS for browser frontends on ``origins`` (``["*"]`` for any).

    Credentials are bearer tokens and tickets, never cookies, so ``allow_credentials`` stays
    off. A preflight may ask for ``Authorization`` and ``Content-Type`` (``POST /jobs``) and
    ``Last-Event-ID`` (an ``EventSource`` reconnect), and ``traceparent``/``tracestate`` (a
    traced frontend); responses expose the headers a client acts on: ``Location`` (the new
    job), ``WWW-Authenticate`` (why a token was refused), ``Retry-After`` (429/503),
    ``X-Request-ID`` (to quote in a support request) and ``traceresponse`` (tracing on).
    """
    if not origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=list(origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Last-Event-ID",
                "traceparent",
                "tracestate",
            ],
            expose_headers=[
                "Location",
                "WWW-Authenticate",
                "Retry-After",
                REQUEST_ID_HEADER,
                "traceresponse",
            ],
            max_age=600,
        )
    ]


class BodyGuard:
    """``MAX_BODY_BYTES`` and ``HTTP_BODY_TIMEOUT_S`` on the request body, in one layer."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, body_timeout_s: float) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s

    def _too_large(self) -> str:
        return f"the request body is larger than {self.max_body_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            response = problem(413, "BODY_TOO_LARGE", self._too_large())
            await response(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self.body_timeout_s
        received = 0
        complete = False

        async def receive_body() -> Message:
            nonlocal complete, received
            if complete:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise HTTPException(
                    408, f"the request body did not arrive within {self.body_timeout_s:g} s"
                ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise HTTPException(413, self._too_large())
            if message["type"] != "http.request" or not message.get("more_body", False):
                complete = True
            return message

        await self.app(scope, receive_body, send)
