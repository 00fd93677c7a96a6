"""The path items of the OpenAPI document (``app.openapi`` assembles it): what each route
takes and answers, with the problem documents each may return."""

from __future__ import annotations

from typing import Any

from jobs.events import RESUME_PATTERN, JobStatus
from jobs.record.listing import CURSOR_RE
from jobs.redis.keys import JOB_ID_RE

REF = "#/components/schemas/{model}"
STRING = {"type": "string"}


def _ref(model: str) -> dict[str, str]:
    return {"$ref": REF.format(model=model)}


# What each problem status means, per the README's table.
_PROBLEMS = {
    400: "Malformed request: `INVALID_JOB_ID`, `INVALID_EVENT_ID`, `MALFORMED_JSON`, "
    "`IDEMPOTENCY_KEY_INVALID`",
    401: "No or invalid credentials: `UNAUTHORIZED` (`WWW-Authenticate` says why)",
    403: "Another user's job: `NOT_OWNER`",
    404: "Unknown or expired job: `JOB_NOT_FOUND`",
    409: "A request with this `Idempotency-Key` and body is still being processed: "
    "`IDEMPOTENCY_IN_PROGRESS` (`Retry-After`)",
    408: "The body did not arrive within `HTTP_BODY_TIMEOUT_S`: `REQUEST_TIMEOUT`",
    410: "Finished, and no `Last-Event-ID` to resume from: `JOB_FINISHED`",
    413: "Body over `MAX_BODY_BYTES`: `BODY_TOO_LARGE`",
    405: "The path does not take this method: `METHOD_NOT_ALLOWED` (`Allow` lists those it takes)",
    415: "Body not `application/json`: `UNSUPPORTED_MEDIA_TYPE`",
    422: "Invalid body, input or query: `INPUT_INVALID`, `UNKNOWN_AGENT` (with `errors`); "
    "`IDEMPOTENCY_KEY_REUSED`",
    429: "A per-user limit: `RATE_LIMITED`, `TOO_MANY_STREAMS`, `BUDGET_EXHAUSTED` (`Retry-After`)",
    503: "Redis or the identity provider unavailable, or the provider misconfigured: "
    "`STORE_UNAVAILABLE`, `AUTH_UNAVAILABLE`, `AUTH_MISCONFIGURED` or `DRAINING` (`/readyz`; "
    "`Retry-After`)",
}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}}},
    409: {"Retry-After": {"schema": {"type": "string"}, "description": "seconds"}},
    429: {"Retry-After": {"schema": {"type": "string"}, "description": "seconds"}},
    503: {"Retry-After": {"schema": {"type": "string"}, "description": "seconds"}},
}
_AUTHENTICATED = (400, 401, 503)

#: The operations' groups, in the order generators and viewers show them.
TAGS = [
    {"name": "jobs", "description": "Start, list, read, stream and cancel jobs"},
    {"name": "agents", "description": "The agents and your custom versions of them"},
    {"name": "service", "description": "Health, readiness, metrics and this document"},
]
BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def _problems(*statuses: int) -> dict[str, Any]:
    return {
        str(status): {
            "description": _PROBLEMS[status],
            "content": {
                "application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}
            },
            **({"headers": _HEADERS[status]} if status in _HEADERS else {}),
        }
        for status in statuses
    }


def _json(description: str, model: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(model=model)}}},
        **extra,
    }


_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "description": "makes a retried start safe: the same key (yours only) and body within "
    "`IDEMPOTENCY_TTL_S` answer the first response again",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}
_LIST_PARAMETERS = [
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
    },
    {"name": "status", "in": "query", "schema": {"enum": [s.value for s in JobStatus]}},
    {
        "name": "agent",
        "in": "query",
        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
    },
    {
        "name": "cursor",
        "in": "query",
        "description": "where a page starts: take it from the previous page's `next`",
        "schema": {"type": "string", "pattern": f"^{CURSOR_RE.pattern}$"},
    },
]


def _jobs_collection() -> dict[str, Any]:
    """``/jobs``: list your jobs, start one."""
    return {
        "get": {
            "operationId": "listJobs",
            "tags": ["jobs"],
            "summary": "Your own jobs, newest first, a page at a time",
            "parameters": _LIST_PARAMETERS,
            "responses": {
                "200": _json("A page of your jobs; `next` is the next page's path", "JobList"),
                **_problems(401, 422, 503),
            },
        },
        "post": {
            "operationId": "createJob",
            "tags": ["jobs"],
            "summary": "Start a job: authenticate, validate the input, store it pending",
            "parameters": [_IDEMPOTENCY_KEY],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": REF.format(model="CreateJob")}}
                },
            },
            "responses": {
                "201": _json(
                    "Created; attach to `streamUrl` to run it",
                    "JobCreated",
                    headers={
                        "Location": {"schema": {"type": "string"}},
                        "Idempotent-Replayed": {
                            "schema": {"const": "true"},
                            "description": "this is the first answer to the same "
                            "`Idempotency-Key` and body again (no new job)",
                        },
                    },
                ),
                **_problems(400, 401, 408, 409, 413, 415, 422, 429, 503),
            },
        },
    }


def job_paths() -> dict[str, Any]:
    """The jobs API: create, status and cancel, the stream, tickets, the agents."""
    job_id = {
        "name": "job_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": f"^{JOB_ID_RE.pattern}$"},
    }
    return {
        "/jobs": _jobs_collection(),
        "/jobs/{job_id}": {
            "parameters": [job_id],
            "get": {
                "operationId": "getJob",
                "tags": ["jobs"],
                "summary": "A job's status (owner only)",
                "responses": {
                    "200": _json("The job", "JobState"),
                    **_problems(*_AUTHENTICATED, 403, 404),
                },
            },
            "delete": {
                "operationId": "cancelJob",
                "tags": ["jobs"],
                "summary": "Cancel a pending or running job, wherever it runs (idempotent)",
                "responses": {
                    "204": {"description": "Cancelled, or already finished"},
                    **_problems(*_AUTHENTICATED, 403, 404),
                },
            },
        },
        **_stream_path(job_id),
        "/jobs/{job_id}/ticket": {
            "parameters": [job_id],
            "post": {
                "operationId": "issueTicket",
                "tags": ["jobs"],
                "summary": "A fresh stream ticket (for an EventSource reconnect)",
                "responses": {
                    "200": _json("The ticket", "StreamTicket"),
                    **_problems(*_AUTHENTICATED, 403, 404, 429),
                },
            },
        },
        "/agents": {
            "get": {
                "operationId": "listAgents",
                "tags": ["agents"],
                "summary": "The agents and their input JSON Schemas",
                "security": [],
                "responses": {"200": _json("The agents", "AgentList")},
            }
        },
    }


def custom_agent_path(agent: str, body: str) -> dict[str, Any]:
    """``/me/agents/<agent>``: the caller's custom agent for ``agent`` (configuration, no
    TTL), one path per agent because each offers its own tools; ``body`` names its schema."""
    stored = _json("The custom agent", "StoredCustomAgent")
    suffix = "".join(part.title() for part in agent.split("-"))
    return {
        "get": {
            "operationId": f"get{suffix}CustomAgent",
            "tags": ["agents"],
            "summary": f"Your custom {agent} agent",
            "responses": {"200": stored, **_problems(*_AUTHENTICATED, 404)},
        },
        "put": {
            "operationId": f"put{suffix}CustomAgent",
            "tags": ["agents"],
            "summary": f"Store a new version of your custom {agent} agent",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref(body)}},
            },
            "responses": {"200": stored, **_problems(*_AUTHENTICATED, 408, 413, 415, 422)},
        },
        "delete": {
            "operationId": f"delete{suffix}CustomAgent",
            "tags": ["agents"],
            "summary": f"Delete your custom {agent} agent (idempotent)",
            "responses": {"204": {"description": "Deleted"}, **_problems(*_AUTHENTICATED)},
        },
    }


def _stream_path(job_id: dict[str, Any]) -> dict[str, Any]:
    """``GET /jobs/{job_id}/stream``: the events, resumable from an id in a header or query."""
    stream_params = [
        job_id,
        {
            "name": "Last-Event-ID",
            "in": "header",
            "description": "resume after this event (a reconnect sends the last id it saw)",
            "schema": {"type": "string", "pattern": RESUME_PATTERN},
        },
        {
            "name": "lastEventId",
            "in": "query",
            "description": "the same, for clients that cannot set headers",
            "schema": {"type": "string", "pattern": RESUME_PATTERN},
        },
    ]
    event_stream = {"schema": {"$ref": REF.format(model="ServerSentEvent")}}
    return {
        "/jobs/{job_id}/stream": {
            "get": {
                "operationId": "streamJob",
                "tags": ["jobs"],
                "summary": "Attach: run the job (first attach) and stream its events",
                "description": "Authenticate with the bearer token, or with the job's stream "
                "ticket as `?ticket=` (for EventSource, which cannot send headers).",
                "parameters": stream_params,
                "security": [{"bearerAuth": []}, {"streamTicket": []}],
                "responses": {
                    "200": {
                        "description": "The events, through `complete` or `error`",
                        "content": {"text/event-stream": event_stream},
                    },
                    "204": {"description": "`Last-Event-ID` was the terminal event: all seen"},
                    **_problems(*_AUTHENTICATED, 403, 404, 410, 429),
                },
            }
        },
    }


def service_paths() -> dict[str, Any]:
    """What operators and tools call: health, readiness, metrics, this document."""
    return {
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "tags": ["service"],
                "summary": "Liveness",
                "security": [],
                "responses": {"200": _json("Alive", "Health")},
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "tags": ["service"],
                "summary": "Readiness: Redis reachable, the identity provider as configured; "
                "this instance's runs and streams",
                "security": [],
                "responses": {"200": _json("Ready", "Readiness"), **_problems(503)},
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "tags": ["service"],
                "summary": "Prometheus metrics (no user data); with METRICS_TOKEN set, for a "
                "bearer of that token only (not a user's JWT)",
                "security": [],
                "responses": {
                    "200": {
                        "description": "Prometheus text format, or OpenMetrics when the "
                        "Accept header asks for it",
                        "content": {
                            "text/plain": {"schema": {"type": "string"}},
                            "application/openmetrics-text": {"schema": {"type": "string"}},
                        },
                    },
                    **_problems(401),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "tags": ["service"],
                "summary": "This document",
                "security": [],
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }
