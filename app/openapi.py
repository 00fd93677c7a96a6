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

import copy
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field, TypeAdapter, create_model
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.openapi_paths import BEARER, REF, TAGS, custom_agent_path, job_paths, service_paths
from app.routes import CreateJob, services
from jobs.agents import AgentRegistry
from jobs.events import EVENT_ID_PATTERN, EventName
from jobs.record.custom_agents import CustomAgent
from jobs.schemas import (
    EVENTS,
    AgentList,
    Health,
    JobCreated,
    JobList,
    JobState,
    Problem,
    Readiness,
    StoredCustomAgent,
    StreamTicket,
)


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
        defs[input_model.__name__] = served[name]
    union: Any = Annotated[Union[tuple(variants)], Field(discriminator="agent")]  # noqa: UP007
    schema = TypeAdapter(union).json_schema(by_alias=True, ref_template=REF)
    for def_name, definition in schema.pop("$defs", {}).items():
        defs.setdefault(def_name, definition)
    return schema, defs


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
        if EventName(name).stored and name != EventName.ERROR:
            # Always stored; an error that could not be stored is sent without an id.
            frame["required"].append("id")
        branches.append(frame)
    return {
        "description": "One Server-Sent Event: `event:`, `id:` (stored events), `data:` (a JSON "
        "object; its schema is `contentSchema`). `: ping` comments keep idle streams open.",
        "oneOf": branches,
    }


def _result_schemas(agents: AgentRegistry) -> dict[str, Any]:
    """``Result-<agent>``: each agent's ``complete.result`` (what ``CompleteEvent.result``
    holds for a job of that agent), with the definitions they refer to."""
    results = [agent.result_model for agent in agents.agents]
    named, generated = models_json_schema(
        [(model, "serialization") for model in results], by_alias=True, ref_template=REF
    )
    schemas: dict[str, Any] = _tidy(generated.get("$defs", {}))
    for agent in agents.agents:
        ref = named[(agent.result_model, "serialization")]["$ref"]
        schemas[f"Result-{agent.name}"] = schemas.pop(ref.rsplit("/", 1)[-1])
    return schemas


def _type_results(schemas: dict[str, Any], agents: list[str]) -> None:
    """``complete.result`` (and a completed job's ``result``) is one of the agents' results:
    ``Result-<agent>`` for a job of that agent. A ``oneOf`` without a discriminator: the
    result carries no tag of its own (the job's ``agent`` says which), and each agent's result
    matches its own branch only (a test checks)."""
    union = {
        "oneOf": [{"$ref": REF.format(model=f"Result-{name}")} for name in agents],
        "description": "the agent's result: `Result-<agent>` for a job of that agent",
    }
    schemas["CompleteEvent"]["properties"]["result"] = union
    properties = schemas["JobState"]["properties"]
    properties["result"] = union | {"description": properties["result"]["description"]}


_REQUEST_ID: dict[str, Any] = {
    "name": "X-Request-ID",
    "in": "header",
    "description": "the request's id: the caller's when plausible (up to 128 of `A-Z a-z 0-9 "
    ". _ : / + = -`), else a fresh one; every response echoes it, every log line of the request "
    "carries it",
    "schema": {"type": "string"},
}


_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def _request_ids(paths: dict[str, Any]) -> None:
    """``X-Request-ID`` on every operation: taken from the request, echoed on every answer.
    New lists and dicts: the operations may share module-level parts."""
    parameter = {"$ref": "#/components/parameters/RequestId"}
    header = {"X-Request-ID": {"$ref": "#/components/headers/RequestId"}}
    for path in paths.values():
        for method, operation in path.items():
            if method not in _METHODS:
                continue  # path-level parameters, summary
            operation["parameters"] = [*operation.get("parameters", []), parameter]
            operation["responses"] = {
                status: answer | {"headers": answer.get("headers", {}) | header}
                for status, answer in operation.get("responses", {}).items()
            }


def _custom_agent_schema(
    schema: dict[str, Any], tools: tuple[str, ...], models: list[str]
) -> dict[str, Any]:
    """The custom agent body for one agent: its tools and the allowed models as enums. An
    agent without tools takes only an empty list (an empty ``enum`` is invalid to some
    generators)."""
    specific = copy.deepcopy(schema)
    properties = specific["properties"]
    items: dict[str, Any] = {"type": "string", "enum": list(tools)} if tools else {"type": "string"}
    listed: dict[str, Any] = {"type": "array", "items": items, "uniqueItems": True}
    if not tools:
        listed["maxItems"] = 0
    properties["tools"] = {
        "anyOf": [listed, {"type": "null"}],
        "description": "a subset of the agent's tools (null: all of them)",
    }
    properties["model"] = {"anyOf": [{"enum": models}, {"type": "null"}]}
    return specific


def openapi_document(agents: AgentRegistry) -> dict[str, Any]:
    """The OpenAPI 3.1 document for a service running ``agents``."""
    create_body, defs = _create_job_schema(agents)
    models: list[type[BaseModel]] = [
        JobCreated, JobState, JobList, StreamTicket, AgentList, Health, Readiness, Problem,
        StoredCustomAgent,
    ]  # fmt: skip
    models += list(EVENTS.values())
    inputs: list[type[BaseModel]] = [CustomAgent]
    _, generated = models_json_schema(
        [(model, "validation") for model in models + inputs], by_alias=True, ref_template=REF
    )
    schemas = _tidy(generated.get("$defs", {}))
    schemas |= _tidy(defs, sent=False)
    schemas["CreateJob"] = create_body
    schemas["ServerSentEvent"] = _event_frames()

    paths = job_paths() | service_paths()
    schemas.pop("CustomAgent")
    custom = _tidy(generated["$defs"]["CustomAgent"], sent=False)  # a request body
    schemas |= _result_schemas(agents)
    _type_results(schemas, [agent.name for agent in agents.agents])
    for agent in agents.agents:
        # One schema per agent, each with its own title: generators name types by titles.
        body = "CustomAgent" + "".join(part.title() for part in agent.name.split("-"))
        schemas[body] = _custom_agent_schema(custom, agent.tools, agents.allowed_models)
        schemas[body]["title"] = body
        paths[f"/me/agents/{agent.name}"] = custom_agent_path(agent.name, body)
    _request_ids(paths)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "jobs-service",
            "version": _version(),
            "description": "Authenticate, validate, then stream an LLM agent's output.",
        },
        "tags": TAGS,
        "paths": paths,
        "components": {
            "schemas": schemas,
            "parameters": {"RequestId": _REQUEST_ID},
            "headers": {
                "RequestId": {k: v for k, v in _REQUEST_ID.items() if k != "in" and k != "name"}
            },
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "streamTicket": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "ticket",
                    "description": "`streamTicket` from `POST /jobs`: that job's stream only, "
                    "for the job's streamable life",
                },
            },
        },
        "security": BEARER,
    }


async def openapi_json(request: Request) -> Response:
    """Serve the document (built once per application)."""
    state = request.app.state
    document = getattr(state, "openapi", None)
    if document is None:
        document = state.openapi = openapi_document(services(request).agents)
    return JSONResponse(document)
