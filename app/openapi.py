"""``GET /openapi.json``: the OpenAPI 3.1 document, generated from the models in use.

Nothing here restates a field by hand, so the document cannot drift from the service:

- the ``POST /jobs`` body is ``app.routes.CreateJob`` specialised per agent (``agent`` fixed to
  the agent's name, ``input`` its input model), one ``oneOf`` branch per registered agent; the
  input schemas are the ones ``GET /agents`` serves (model fields list ``ALLOWED_MODELS``),
  still accepting ``null`` where the input model does;
- responses, problem documents and event payloads are the models of :mod:`jobs.schemas`,
  which the tests check against what the service really sends.

The stream is ``text/event-stream``, described as OpenAPI 3.1 tools read it (and as 3.2
writes it with ``itemSchema``): its ``schema`` describes **one event** — ``ServerSentEvent``,
a ``oneOf`` with one branch per event name, whose ``data`` is a JSON string with its model as
``contentSchema``. Stored events have an ``id``; ``connected`` never has one of its own.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field, TypeAdapter, create_model
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.routes import CreateJob, services
from jobs.agents import AgentRegistry
from jobs.events import EVENT_ID_PATTERN, RESUME_PATTERN, Event
from jobs.keys import JOB_ID_RE
from jobs.schemas import (
    EVENTS,
    AgentList,
    Health,
    JobCreated,
    JobState,
    Problem,
    Readiness,
    StreamTicket,
)

REF = "#/components/schemas/{model}"


# What each problem status means, per the README's table.
_PROBLEMS = {
    400: "Malformed request: `INVALID_JOB_ID`, `INVALID_EVENT_ID`, `MALFORMED_JSON`",
    401: "No or invalid credentials: `UNAUTHORIZED` (`WWW-Authenticate` says why)",
    403: "Another user's job: `NOT_OWNER`",
    404: "Unknown or expired job: `JOB_NOT_FOUND`",
    410: "Finished, and no `Last-Event-ID` to resume from: `JOB_FINISHED`",
    413: "Body over `MAX_BODY_BYTES`: `BODY_TOO_LARGE`",
    415: "Body not `application/json`: `UNSUPPORTED_MEDIA_TYPE`",
    422: "Invalid body or input: `INPUT_INVALID`, `UNKNOWN_AGENT` (with `errors`)",
    429: "A per-user limit: `RATE_LIMITED`, `TOO_MANY_STREAMS` (`Retry-After`)",
    503: "Redis or the identity provider unavailable: `STORE_UNAVAILABLE`, "
    "`AUTH_UNAVAILABLE` (`Retry-After`)",
}
_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}}},
    429: {"Retry-After": {"schema": {"type": "string"}, "description": "seconds"}},
    503: {"Retry-After": {"schema": {"type": "string"}, "description": "seconds"}},
}
_AUTHENTICATED = (400, 401, 503)
_BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def _version() -> str:
    try:
        return version("jobs-service")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"


def _tidy(node: Any, *, sent: bool = True) -> Any:
    """Pydantic's schema, as a reader wants it: descriptions use Markdown code spans, property
    titles (derived from the names) go. In what the service ``sent``, an optional field is
    left out rather than sent as null: it is just not required; a ``null`` default on a field
    that cannot be null (it means "absent") goes too."""
    if isinstance(node, list):
        return [_tidy(item, sent=sent) for item in node]
    if not isinstance(node, dict):
        return node
    tidy = {key: _tidy(value, sent=sent) for key, value in node.items()}
    branches = tidy.get("anyOf")
    optional = sent and tidy.get("default", "") is None
    if optional and isinstance(branches, list) and len(branches) == 2:
        kept = [branch for branch in branches if branch != {"type": "null"}]
        if len(kept) == 1:
            del tidy["anyOf"], tidy["default"]
            tidy = {**kept[0], **tidy}
    if tidy.get("default", "") is None and tidy.get("type") not in (None, "null"):
        del tidy["default"]  # "no value", not a null the schema would refuse
    if isinstance(tidy.get("description"), str):
        tidy["description"] = tidy["description"].replace("``", "`")
    if isinstance(tidy.get("properties"), dict):
        for prop in tidy["properties"].values():
            if isinstance(prop, dict):
                prop.pop("title", None)
    return tidy


def _create_job_schema(agents: AgentRegistry) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``POST /jobs`` body (``oneOf`` per agent) and the definitions it refers to."""
    served = {entry["name"]: entry["inputSchema"] for entry in agents.schemas()}
    variants: list[type[BaseModel]] = []
    defs: dict[str, Any] = {}
    for name in agents.names:
        input_model = agents.get(name).input_model
        title = "".join(part.title() for part in name.split("-"))
        fixed_name: Any = Literal[name]
        variant = create_model(
            f"Create{title}Job",
            __base__=CreateJob,
            __doc__=f"Start a `{name}` job.",
            agent=(fixed_name, ...),
            input=(input_model, ...),
        )
        variants.append(variant)
        # The input schema exactly as GET /agents serves it (with ALLOWED_MODELS as an enum).
        defs[input_model.__name__] = _as_validated(served[name], input_model)
    union: Any = Annotated[Union[tuple(variants)], Field(discriminator="agent")]  # noqa: UP007
    schema = TypeAdapter(union).json_schema(by_alias=True, ref_template=REF)
    for def_name, definition in schema.pop("$defs", {}).items():
        defs.setdefault(def_name, definition)
    return schema, defs


def _as_validated(served: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """The input schema ``GET /agents`` serves, made as exact as the model's validation: the
    model strips surrounding whitespace before checking lengths, so a required text must hold
    a character that is not whitespace (``\\S``; pydantic strips what Unicode calls
    White_Space, as ``\\s`` means in JSON Schema's regex dialects).
    """
    properties = served.get("properties", {})
    strips = bool(model.model_config.get("str_strip_whitespace"))
    for name in model.model_json_schema(by_alias=True).get("properties", {}):
        shown = properties.get(name, {})
        if strips and shown.get("type") == "string" and shown.get("minLength", 0) >= 1:
            shown["pattern"] = r"\S"
    return served


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


def _event_frames() -> dict[str, Any]:
    """``ServerSentEvent``: one event as an SSE parser delivers it, one branch per name."""
    branches = []
    for name, model in EVENTS.items():
        frame: dict[str, Any] = {
            "type": "object",
            "title": name,
            "description": model.__doc__.strip().replace("``", "`") if model.__doc__ else name,
            "properties": {
                "event": {"const": name},
                "data": {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "contentSchema": {"$ref": REF.format(model=model.__name__)},
                },
                "id": {"type": "string", "pattern": EVENT_ID_PATTERN},
                "retry": {"type": "integer", "description": "ms before a reconnect"},
            },
            "required": ["event", "data"],
        }
        if name in (Event.DELTA, Event.TOOL, Event.COMPLETE):
            frame["required"].append("id")  # always stored
        branches.append(frame)
    return {
        "description": "One Server-Sent Event: `event:`, `id:` (stored events), `data:` (a JSON "
        "object; its schema is `contentSchema`). `: ping` comments keep idle streams open.",
        "oneOf": branches,
    }


def _job_paths() -> dict[str, Any]:
    """The jobs API: create, status and cancel, the stream, tickets, the agents."""
    job_id = {
        "name": "job_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": f"^{JOB_ID_RE.pattern}$"},
    }
    return {
        "/jobs": {
            "post": {
                "operationId": "createJob",
                "summary": "Start a job: authenticate, validate the input, store it pending",
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
                        headers={"Location": {"schema": {"type": "string"}}},
                    ),
                    **_problems(400, 401, 413, 415, 422, 429, 503),
                },
            }
        },
        "/jobs/{job_id}": {
            "parameters": [job_id],
            "get": {
                "operationId": "getJob",
                "summary": "A job's status (owner only)",
                "responses": {
                    "200": _json("The job", "JobState"),
                    **_problems(*_AUTHENTICATED, 403, 404),
                },
            },
            "delete": {
                "operationId": "cancelJob",
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
                "summary": "A fresh stream ticket (for an EventSource reconnect)",
                "responses": {
                    "200": _json("The ticket", "StreamTicket"),
                    **_problems(*_AUTHENTICATED, 403, 404),
                },
            },
        },
        "/agents": {
            "get": {
                "operationId": "listAgents",
                "summary": "The agents and their input JSON Schemas",
                "security": [],
                "responses": {"200": _json("The agents", "AgentList")},
            }
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


def _service_paths() -> dict[str, Any]:
    """What operators and tools call: health, readiness, metrics, this document."""
    return {
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "summary": "Liveness",
                "security": [],
                "responses": {"200": _json("Alive", "Health")},
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "summary": "Readiness: Redis reachable; this instance's runs and streams",
                "security": [],
                "responses": {"200": _json("Ready", "Readiness"), **_problems(503)},
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics (no user data; restrict it at the proxy)",
                "security": [],
                "responses": {
                    "200": {
                        "description": "Prometheus text format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
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


def openapi_document(agents: AgentRegistry) -> dict[str, Any]:
    """The OpenAPI 3.1 document for a service running ``agents``."""
    create_body, defs = _create_job_schema(agents)
    models: list[type[BaseModel]] = [
        JobCreated, JobState, StreamTicket, AgentList, Health, Readiness, Problem
    ]  # fmt: skip
    models += list(EVENTS.values())
    _, generated = models_json_schema(
        [(model, "validation") for model in models], by_alias=True, ref_template=REF
    )
    schemas = _tidy(generated.get("$defs", {}))
    schemas |= _tidy(defs, sent=False)
    schemas["CreateJob"] = create_body
    schemas["ServerSentEvent"] = _event_frames()

    paths = _job_paths() | _service_paths()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "jobs-service",
            "version": _version(),
            "description": "Authenticate, validate, then stream an LLM agent's output.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "streamTicket": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "ticket",
                    "description": "`streamTicket` from `POST /jobs`; the stream only",
                },
            },
        },
        "security": _BEARER,
    }


async def openapi_json(request: Request) -> Response:
    """Serve the document (built once per application)."""
    state = request.app.state
    document = getattr(state, "openapi", None)
    if document is None:
        document = state.openapi = openapi_document(services(request).agents)
    return JSONResponse(document)
