"""The HTTP surface: parse the request, call the job service, shape the response.

Routes stay thin: authentication, validation and the job logic live in ``auth`` and ``jobs``;
errors are raised as exceptions and turned into problem documents by ``app.problems``.
"""

from __future__ import annotations

import contextlib
import hmac
import weakref
from typing import Any
from urllib.parse import urlencode

import anyio
import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app import logs
from app.problems import problem
from app.services import Services
from app.sse import event_stream
from auth import InvalidToken, MissingCredentials, Principal
from jobs import metrics
from jobs.errors import (
    InputInvalid,
    InvalidEventId,
    MalformedJson,
    StoreUnavailable,
    UnsupportedMediaType,
)
from jobs.events import JobStatus, is_event_id
from jobs.record.custom_agents import custom_agent_ref
from jobs.record.idempotency import Replay
from jobs.record.listing import CURSOR_RE, JobQuery, Position
from jobs.record.model import Job
from jobs.redis.keys import JOB_ID_RE, check_job_id


class CreateJob(BaseModel):
    """The body of ``POST /jobs``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    agent: str
    input: dict[str, Any]
    background: bool = Field(
        default=False,
        description="run at once, watched or not (never `ABANDONED`); stream it as any job",
    )


class ListJobs(BaseModel):
    """The query of ``GET /jobs``; unknown parameters are ignored (caches add their own)."""

    limit: int = Field(default=20, ge=1, le=100)
    status: JobStatus | None = None
    agent: str | None = Field(default=None, min_length=1, max_length=200)
    cursor: str | None = Field(default=None, pattern=CURSOR_RE.pattern)


def services(request: Request) -> Services:
    svc: Services = request.state.services
    return svc


def path_job_id(request: Request) -> str:
    """The ``{job_id}`` of the path, put in the logging context when it is well formed."""
    job_id: str = request.path_params["job_id"]
    if JOB_ID_RE.fullmatch(job_id):
        logs.job_id.set(job_id)
    return job_id


async def bearer(request: Request) -> Principal:
    """The caller named by the ``Authorization: Bearer`` header."""
    header = request.headers.get("authorization")
    if header is None:
        raise MissingCredentials()
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        raise MissingCredentials("use the Bearer authorization scheme")
    token = token.strip()
    if not token:
        raise InvalidToken("the bearer token is empty")
    return await services(request).verifier.verify(token)


async def read_json(request: Request) -> Any:
    """The request's JSON body: 415 unless it is JSON, 400 unless it parses.

    orjson, not the stdlib: it refuses nesting deeper than 1024 levels with a decode error
    (the stdlib's recursive parser raises ``RecursionError`` instead, a 500) and strings that
    are not valid Unicode (lone surrogates, which nothing downstream could encode).
    """
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaType()
    body = await request.body()
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedJson(str(exc)) from None


class JobJSON(JSONResponse):
    """A JSON answer encoded by orjson: the same compact UTF-8 as Starlette's, in a fraction
    of the time. What orjson refuses (an integer beyond 64 bits in an agent's result) goes
    through Starlette's encoder instead."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content)
        except TypeError:
            return super().render(content)


def job_links(request: Request, job_id: str) -> tuple[str, str]:
    """The job's resource and stream paths, from the route table (the mount's root included)."""
    root = request.scope.get("root_path", "")
    job, stream = _link_templates(request.app)
    return root + job.replace(_ANY_ID, job_id), root + stream.replace(_ANY_ID, job_id)


_ANY_ID = "0" * 32
_templates: weakref.WeakKeyDictionary[Any, tuple[str, str]] = weakref.WeakKeyDictionary()


def _link_templates(app: Any) -> tuple[str, str]:
    """The two paths for a stand-in job id, looked up in the route table once per app (a
    lookup walks the routes: it was a noticeable part of ``POST /jobs``)."""
    templates = _templates.get(app)
    if templates is None:
        job = app.url_path_for("job", job_id=_ANY_ID)
        stream = app.url_path_for("job_stream", job_id=_ANY_ID)
        templates = _templates[app] = (job, stream)
    return templates


def job_status(job: Job, *, ttl_s: int | None) -> dict[str, Any]:
    """What ``GET /jobs/{id}`` (and each item of ``GET /jobs``) says of a job."""
    body: dict[str, Any] = {"jobId": job.id, "status": job.status.value}
    if job.agent:
        body |= {"agent": job.agent, "createdAt": job.created_at_ms}
    if job.started_at_ms is not None:
        body["startedAt"] = job.started_at_ms
        body["takeovers"] = job.takeovers
    if job.status is JobStatus.RUNNING and job.runner:
        body["runner"] = job.runner
    if job.finished_at_ms is not None:
        body["finishedAt"] = job.finished_at_ms
    if job.background:
        body["background"] = True
    if ttl_s is not None:
        body["ttlS"] = ttl_s
    if job.complete is not None:
        body["result"] = job.complete.get("result")
        body |= {k: job.complete[k] for k in _KEPT_FROM_COMPLETE if k in job.complete}
    if job.error is not None:
        body["error"] = {k: job.error[k] for k in _KEPT_FROM_ERROR if k in job.error}
    if job.custom_agent is not None:
        body["customAgent"] = custom_agent_ref(job.custom_agent)
    return body


_KEPT_FROM_COMPLETE = ("tokenUsage", "costUsd", "executionTimeMs")
_KEPT_FROM_ERROR = ("code", "message", "retryable", "retryAfterMs")


async def create_job(request: Request) -> Response:
    """Start a job; with an ``Idempotency-Key``, a retry answers the first start again
    (``jobs.record.idempotency``) without creating a job or counting against the rate limit."""
    svc = services(request)
    principal = await bearer(request)
    raw = await read_json(request)
    key = request.headers.get("idempotency-key")
    if key is None:
        return await _start(request, svc, principal, raw)
    taken = await svc.idempotency.begin(principal.sub, key.strip(), raw)
    if isinstance(taken, Replay):
        return _replayed(svc, principal, taken)
    try:
        response = await _start(request, svc, principal, raw)
    except BaseException:
        await svc.idempotency.release(taken)
        raise
    body = orjson.loads(response.body)
    del body["streamTicket"]  # a credential: never stored, a replay gets a fresh one
    await svc.idempotency.complete(
        taken, Replay(response.status_code, body, {"Location": response.headers["location"]})
    )
    return response


async def _start(request: Request, svc: Services, principal: Principal, raw: Any) -> Response:
    try:
        body = CreateJob.model_validate(raw)
    except ValidationError as exc:
        raise InputInvalid(exc) from None
    job = await svc.jobs.create(principal.sub, body.agent, body.input, background=body.background)
    logs.job_id.set(job.id)
    location, stream_url = job_links(request, job.id)
    content = {
        "jobId": job.id,
        "status": job.status.value,
        "agent": job.agent,
        "createdAt": job.created_at_ms,
        "expiresAt": job.created_at_ms + svc.settings.job_ttl_s * 1000,
        "streamUrl": stream_url,
        "streamTicket": svc.tickets.issue(job.id, principal.sub),
    }
    return JobJSON(content, status_code=201, headers={"Location": location})


def _replayed(svc: Services, principal: Principal, replay: Replay) -> Response:
    """The first start's response again, with a fresh stream ticket for its job."""
    body = replay.body | {"streamTicket": svc.tickets.issue(replay.body["jobId"], principal.sub)}
    logs.job_id.set(replay.body["jobId"])
    headers = replay.headers | {"Idempotent-Replayed": "true"}
    return JobJSON(body, status_code=replay.status, headers=headers)


async def get_job(request: Request) -> Response:
    svc = services(request)
    job_id = path_job_id(request)
    principal = await bearer(request)
    job = await svc.jobs.status(principal.sub, job_id)
    ttl_s = await svc.jobs.store.ttl_s(job.id) if job.agent else None
    return JobJSON(job_status(job, ttl_s=ttl_s))


async def list_jobs(request: Request) -> Response:
    """The caller's own jobs, newest first, a page at a time (``next``: the next page)."""
    svc = services(request)
    principal = await bearer(request)
    try:
        params = ListJobs.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise InputInvalid(exc, ("query",)) from None
    before = Position.parse(params.cursor) if params.cursor else None
    query = JobQuery(params.limit, before, params.status, params.agent)
    jobs, last = await svc.jobs.page(principal.sub, query)
    next_path = None
    if last is not None:
        more = params.model_dump(exclude_none=True, mode="json") | {"cursor": last.cursor}
        root = request.scope.get("root_path", "")
        next_path = f"{root}{request.app.url_path_for('jobs')}?{urlencode(more)}"
    return JobJSON({"jobs": [job_status(job, ttl_s=None) for job in jobs], "next": next_path})


async def jobs_resource(request: Request) -> Response:
    """``/jobs``: one route for both methods, so that a 405 names both in ``Allow``."""
    return await (create_job(request) if request.method == "POST" else list_jobs(request))


async def issue_ticket(request: Request) -> Response:
    """A fresh stream ticket for a job the caller owns (for an EventSource reconnect)."""
    svc = services(request)
    job_id = path_job_id(request)
    principal = await bearer(request)
    await svc.jobs.limits.ticket(principal.sub)
    job = await svc.jobs.status(principal.sub, job_id)
    ticket = svc.tickets.issue(job.id, principal.sub)
    return JobJSON({"streamTicket": ticket, "expiresIn": svc.tickets.lifetime_s})


async def ticket_holder(svc: Services, ticket: str, job_id: str) -> Principal:
    """The owner named by a stream ticket. Past its first ``STREAM_TICKET_TTL_S`` a ticket
    only reattaches to a job that has started (a reconnect or a resume), never starts one."""
    verified = svc.tickets.verify(ticket, job_id)
    if not verified.may_start:
        job = await svc.jobs.status(verified.principal.sub, job_id)
        if job.status is JobStatus.PENDING:
            raise InvalidToken(
                "the stream ticket has expired for starting the job; "
                "POST /jobs/{id}/ticket gives a fresh one"
            )
    return verified.principal


async def stream_job(request: Request) -> Response:
    svc = services(request)
    job_id = check_job_id(path_job_id(request))
    ticket = request.query_params.get("ticket")
    if ticket is not None and "authorization" not in request.headers:
        principal = await ticket_holder(svc, ticket, job_id)
    else:
        principal = await bearer(request)
    from_query = request.query_params.get("lastEventId")
    if from_query and not is_event_id(from_query):  # checked even when the header wins
        raise InvalidEventId()
    last_event_id = request.headers.get("last-event-id") or from_query
    if request.method == "HEAD":  # never start a run for a HEAD
        await svc.jobs.status(principal.sub, job_id)
        return Response(media_type="text/event-stream")
    attachment = await svc.jobs.attach(principal.sub, job_id, last_event_id or None)
    if attachment is None:
        return Response(status_code=204)
    return event_stream(
        attachment,
        ping_s=svc.settings.stream_ping_s,
        send_timeout_s=svc.settings.stream_send_timeout_s,
        # Streams open when a drain starts end then; those opened during it, at the exit.
        shutdown=svc.shutdown if svc.draining.is_set() else svc.draining,
    )


async def cancel_job(request: Request) -> Response:
    """Cancel a pending or running job (owner only); idempotent."""
    svc = services(request)
    job_id = path_job_id(request)
    principal = await bearer(request)
    await svc.jobs.cancel(principal.sub, job_id)
    return Response(status_code=204)


async def job_resource(request: Request) -> Response:
    """``/jobs/{id}``: one route for both methods, so that a 405 names both in ``Allow``."""
    return await (cancel_job(request) if request.method == "DELETE" else get_job(request))


async def list_agents(request: Request) -> Response:
    return JSONResponse({"agents": services(request).agents.schemas()})


async def metrics_text(request: Request) -> Response:
    """Prometheus metrics; with ``METRICS_TOKEN`` set, for scrapers presenting it as a bearer
    token only (else open, like most scrape targets: see the README)."""
    expected = services(request).settings.metrics_token
    if expected is not None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise MissingCredentials("/metrics wants the METRICS_TOKEN as a bearer token")
        if not hmac.compare_digest(given.encode(), expected.get_secret_value().encode()):
            raise InvalidToken("the token is not this service's METRICS_TOKEN")
    await _read_pending(services(request))
    body, content_type = metrics.exposition(request.headers.get("accept", ""))
    return Response(body, media_type=content_type)


#: The longest a scrape waits for Redis to count the pending jobs: a hung Redis must not cost
#: the scraper every other metric.
PENDING_READ_S = 2.0


async def _read_pending(svc: Services) -> None:
    """Refresh ``jobs_pending`` from Redis (one round trip). If Redis fails or is too slow,
    the gauge keeps its last reading, the failure counts in ``jobs_redis_errors``, and the
    scrape answers all the same."""
    # A StoreUnavailable was counted where it was raised.
    with anyio.move_on_after(PENDING_READ_S) as waited, contextlib.suppress(StoreUnavailable):
        metrics.pending_jobs(await svc.store.pending.count())
    if waited.cancelled_caught:
        metrics.redis_error()


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready when Redis answers and the identity provider's configuration holds (an outage of
    the provider is not this instance's fault, a misconfiguration is), and not draining
    (``SIGTERM``: the load balancer should send no more); reports this
    instance's open runs and streams for operators."""
    svc = services(request)
    if svc.runner.draining:
        detail = "this instance is shutting down: it starts no runs, and its own end soon"
        return problem(503, "DRAINING", detail, headers={"Retry-After": "5"})
    if svc.provider is not None and svc.provider.misconfiguration is not None:
        problem_found = await svc.provider.check()  # fixed in the meantime?
        if problem_found is not None:
            return problem(503, "AUTH_MISCONFIGURED", problem_found, headers={"Retry-After": "5"})
    try:
        await svc.jobs.store.ping()
    except StoreUnavailable:
        return problem(
            503, "STORE_UNAVAILABLE", "Redis is unreachable", headers={"Retry-After": "1"}
        )
    return JSONResponse(
        {
            "status": "ready",
            "instance": svc.runner.instance_id,
            "activeRuns": svc.runner.active,
            "openStreams": svc.jobs.open_streams,
        }
    )


routes = [
    Route("/jobs", jobs_resource, methods=["GET", "POST"], name="jobs"),
    Route("/jobs/{job_id}", job_resource, methods=["GET", "DELETE"], name="job"),
    Route("/jobs/{job_id}/stream", stream_job, methods=["GET"], name="job_stream"),
    Route("/jobs/{job_id}/ticket", issue_ticket, methods=["POST"], name="job_ticket"),
    Route("/agents", list_agents, methods=["GET"], name="agents"),
    Route("/healthz", healthz, methods=["GET"], name="healthz"),
    Route("/readyz", readyz, methods=["GET"], name="readyz"),
    Route("/metrics", metrics_text, methods=["GET"], name="metrics"),
]
