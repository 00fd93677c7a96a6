"""Problem documents (RFC 9457): every error a client sees, built in this one place.

Domain errors (``jobs.errors``) and auth errors (``auth.errors``, a tree of its own) are raised
where they happen and translated here by exception class.
Every document has ``type``, ``title``, ``status``, ``detail`` and a machine-readable
``code``; 422s add ``errors`` (one per field), 401s add ``WWW-Authenticate`` (RFC 6750), 429s
and 503s add ``Retry-After``. Unexpected exceptions become a bare 500 document: the traceback
goes to the log, never to the client.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from auth.errors import AuthError, AuthUnavailable, InvalidToken
from jobs.errors import (
    BudgetExhausted,
    CustomAgentNotFound,
    IdempotencyInProgress,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    InputInvalid,
    InvalidEventId,
    InvalidJobId,
    JobFinished,
    JobNotFound,
    JobsError,
    LimitExceeded,
    LocalOnly,
    MalformedJson,
    NotOwner,
    RateLimited,
    StoreUnavailable,
    TicketsRateLimited,
    TooManyStreams,
    UnknownAgent,
    UnsupportedMediaType,
)

MEDIA_TYPE = "application/problem+json"

logger = logging.getLogger(__name__)

# (status, code) for each domain error; the most specific class wins (``_status_and_code``).
_JOBS_ERRORS: dict[type[JobsError], tuple[int, str]] = {
    InvalidJobId: (400, "INVALID_JOB_ID"),
    InvalidEventId: (400, "INVALID_EVENT_ID"),
    UnknownAgent: (422, "UNKNOWN_AGENT"),
    InputInvalid: (422, "INPUT_INVALID"),
    JobNotFound: (404, "JOB_NOT_FOUND"),
    NotOwner: (403, "NOT_OWNER"),
    JobFinished: (410, "JOB_FINISHED"),
    RateLimited: (429, "RATE_LIMITED"),
    TicketsRateLimited: (429, "RATE_LIMITED"),
    TooManyStreams: (429, "TOO_MANY_STREAMS"),
    BudgetExhausted: (429, "BUDGET_EXHAUSTED"),
    StoreUnavailable: (503, "STORE_UNAVAILABLE"),
    UnsupportedMediaType: (415, "UNSUPPORTED_MEDIA_TYPE"),
    MalformedJson: (400, "MALFORMED_JSON"),
    LocalOnly: (403, "DEV_TOKEN_LOCAL_ONLY"),
    CustomAgentNotFound: (404, "CUSTOM_AGENT_NOT_FOUND"),
    IdempotencyKeyInvalid: (400, "IDEMPOTENCY_KEY_INVALID"),
    IdempotencyKeyReused: (422, "IDEMPOTENCY_KEY_REUSED"),
    IdempotencyInProgress: (409, "IDEMPOTENCY_IN_PROGRESS"),
}

# Starlette's own HTTP errors (routing, body limit), by status.
_HTTP_CODES = {
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "REQUEST_TIMEOUT",
    413: "BODY_TOO_LARGE",
}


class ProblemResponse(JSONResponse):
    media_type = MEDIA_TYPE


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return ProblemResponse(body, status_code=status, headers=headers)


def problem_bytes(status: int, code: str, detail: str) -> bytes:
    """A whole HTTP/1.1 response carrying a problem document, closing the connection: for the
    server protocol (``app.protocol``), which answers before there is an ASGI request."""
    response = problem(status, code, detail)
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        f"content-type: {MEDIA_TYPE}\r\n"
        f"content-length: {len(response.body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + bytes(response.body)


def _status_and_code(exc: JobsError) -> tuple[int, str] | None:
    """The mapping of the nearest class in the exception's MRO, as Starlette finds its handlers;
    None for a domain error no request should ever see (a run-time error reaching HTTP)."""
    for cls in type(exc).__mro__:
        if cls in _JOBS_ERRORS:
            return _JOBS_ERRORS[cls]
    return None


async def jobs_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, JobsError)
    mapping = _status_and_code(exc)
    if mapping is None:
        # A bug, not the caller's doing: log it whole, tell the client no more than a 500 would.
        logger.error("unmapped %s reached the HTTP layer", type(exc).__name__, exc_info=exc)
        return await server_error(request, exc)
    status, code = mapping
    if isinstance(exc, InputInvalid):
        return problem(status, code, str(exc), errors=exc.errors)
    headers = None
    if isinstance(exc, LimitExceeded | StoreUnavailable | IdempotencyInProgress):
        headers = {"Retry-After": str(exc.retry_after_s)}
    return problem(status, code, str(exc), headers=headers)


async def auth_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthError)
    if isinstance(exc, AuthUnavailable):
        return problem(503, "AUTH_UNAVAILABLE", exc.description, headers={"Retry-After": "5"})
    challenge = "Bearer"
    if isinstance(exc, InvalidToken):
        description = exc.description.replace('"', "'")
        challenge = f'Bearer error="invalid_token", error_description="{description}"'
    return problem(401, "UNAUTHORIZED", exc.description, headers={"WWW-Authenticate": challenge})


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, HTTPStatus(exc.status_code).name)
    return problem(exc.status_code, code, str(exc.detail), headers=exc.headers)


async def server_error(request: Request, exc: Exception) -> Response:
    # Starlette re-raises after this response is sent, so the server logs the traceback once.
    return problem(500, "INTERNAL_ERROR", "the service failed to handle this request")


EXCEPTION_HANDLERS = {
    JobsError: jobs_error,
    AuthError: auth_error,
    HTTPException: http_error,
    Exception: server_error,
}
