"""``GET /openapi.json``: a valid OpenAPI 3.1 document that says what the service really does —
checked field by field against live responses and events, and fuzzed by schemathesis."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from typing import Any

import httpx
import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from jobs.agents.base import VISIBLE
from jobs.errors import UpstreamOverloaded
from jobs.events import RESUME_PATTERN, at_most
from tests.conftest import SECRET, StartLive, token
from tests.support.backends import ScriptedBackend
from tests.support.process import ROOT, ServiceProcess
from tests.support.sse import read_stream

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": f"Bearer {token()}"}


async def document(client: httpx.AsyncClient, base: str) -> dict[str, Any]:
    response = await client.get(f"{base}/openapi.json")
    assert response.status_code == 200
    doc: dict[str, Any] = response.json()
    return doc


def closed(node: Any) -> Any:
    """The schemas with every object closed: a field the document does not name fails."""
    if isinstance(node, list):
        return [closed(item) for item in node]
    if not isinstance(node, dict):
        return node
    shut = {key: closed(value) for key, value in node.items()}
    if "properties" in shut and "additionalProperties" not in shut:
        shut["additionalProperties"] = False
    return shut


class Conformance:
    """Validates instances against the document's component schemas, closed."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.components = closed(copy.deepcopy(doc["components"]))

    def check(self, name: str, instance: Any) -> None:
        schema = {"$ref": f"#/components/schemas/{name}", "components": self.components}
        OAS31Validator(schema).validate(instance)

    def check_event(self, event: str, event_id: str, data: dict[str, Any]) -> None:
        frame: dict[str, Any] = {"event": event, "data": json.dumps(data)}
        if event_id:
            frame["id"] = event_id
        self.check("ServerSentEvent", frame)
        branch = next(
            b for b in self.components["schemas"]["ServerSentEvent"]["oneOf"] if b["title"] == event
        )
        self.check(branch["properties"]["data"]["contentSchema"]["$ref"].rsplit("/", 1)[1], data)


async def test_the_document_is_valid_openapi_generated_from_the_models(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    server = live(allowed_models=["model-a", "model-b"])
    doc = await document(client, server.url)
    validate(doc)  # openapi-spec-validator: the whole document, OpenAPI 3.1
    assert doc["openapi"] == "3.1.0"

    schemas = doc["components"]["schemas"]
    agents = (await client.get(f"{server.url}/agents")).json()["agents"]
    branches = schemas["CreateJob"]["discriminator"]["mapping"]
    assert set(branches) == {agent["name"] for agent in agents}
    for agent in agents:
        variant = schemas[branches[agent["name"]].rsplit("/", 1)[1]]
        assert variant["properties"]["agent"]["const"] == agent["name"]
        assert variant["additionalProperties"] is False  # CreateJob forbids other fields
        input_schema = schemas[variant["properties"]["input"]["$ref"].rsplit("/", 1)[1]]
        served = agent["inputSchema"]
        assert input_schema["properties"].keys() == served["properties"].keys()
        assert input_schema["required"] == served["required"]
        assert input_schema["additionalProperties"] is False
    chat = schemas["ChatInput"]["properties"]
    allowed = {"type": "string", "enum": ["model-a", "model-b"]}
    assert chat["model"]["anyOf"] == [allowed, {"type": "null"}]  # ALLOWED_MODELS, or none
    assert chat["prompt"]["pattern"] == VISIBLE  # not blank: the model strips whitespace

    stream = doc["paths"]["/jobs/{job_id}/stream"]["get"]
    assert stream["security"] == [{"bearerAuth": []}, {"streamTicket": []}]
    assert doc["components"]["securitySchemes"]["streamTicket"]["in"] == "query"
    events = stream["responses"]["200"]["content"]["text/event-stream"]["schema"]
    assert events == {"$ref": "#/components/schemas/ServerSentEvent"}
    names = [
        branch["properties"]["event"]["const"] for branch in schemas["ServerSentEvent"]["oneOf"]
    ]
    assert names == ["connected", "delta", "tool", "rewind", "complete", "error"]
    for path in doc["paths"].values():
        for operation in path.values():
            if isinstance(operation, dict) and "responses" in operation:
                for status, answer in operation["responses"].items():
                    if status.startswith(("4", "5")):
                        media = answer["content"]["application/problem+json"]
                        assert media["schema"] == {"$ref": "#/components/schemas/Problem"}


async def test_what_the_service_sends_matches_the_document(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    server = live()
    failing = live(backend=ScriptedBackend(fail_with=UpstreamOverloaded("busy")))
    spec = Conformance(await document(client, server.url))
    body = {"agent": "chat", "input": {"prompt": "conform"}}

    created = await client.post(f"{server.url}/jobs", json=body, headers=AUTH)
    spec.check("JobCreated", created.json())
    job = created.json()
    spec.check(
        "JobState", (await client.get(f"{server.url}/jobs/{job['jobId']}", headers=AUTH)).json()
    )
    ticket = await client.post(f"{server.url}/jobs/{job['jobId']}/ticket", headers=AUTH)
    spec.check("StreamTicket", ticket.json())
    stream = await read_stream(client, server.url + job["streamUrl"], token=token())
    for event in stream.events:
        spec.check_event(event.event, event.id, event.data)
    spec.check(
        "JobState", (await client.get(f"{server.url}/jobs/{job['jobId']}", headers=AUTH)).json()
    )

    broken = (await client.post(f"{failing.url}/jobs", json=body, headers=AUTH)).json()
    failed = await read_stream(client, failing.url + broken["streamUrl"], token=token())
    assert failed.events[-1].event == "error"
    for event in failed.events:
        spec.check_event(event.event, event.id, event.data)
    spec.check(
        "JobState", (await client.get(f"{failing.url}/jobs/{broken['jobId']}", headers=AUTH)).json()
    )

    spec.check("AgentList", (await client.get(f"{server.url}/agents")).json())
    spec.check("Health", (await client.get(f"{server.url}/healthz")).json())
    spec.check("Readiness", (await client.get(f"{server.url}/readyz")).json())
    problems = [
        await client.get(f"{server.url}/jobs/{'0' * 32}", headers=AUTH),
        await client.get(f"{server.url}/jobs/{'0' * 32}"),
        await client.get(f"{server.url}/jobs/nope", headers=AUTH),
        await client.post(f"{server.url}/jobs", json={"agent": "chat", "input": {}}, headers=AUTH),
        await client.get(server.url + job["streamUrl"], headers=AUTH),  # finished: 410
    ]
    assert [p.status_code for p in problems] == [404, 401, 400, 422, 410]
    for answer in problems:
        assert answer.headers["content-type"] == "application/problem+json"
        spec.check("Problem", answer.json())


def test_resume_ids_are_described_exactly() -> None:
    import re

    part = re.compile(at_most(2**64 - 1))
    limit = 2**64 - 1
    samples = ["0", "0" * 20, str(limit), str(limit + 1), "9" * 20, "1" + "0" * 19, "1" * 21]
    samples += [str(limit - n) for n in (1, 9, 10, 99, 10**10)] + [str(10**19 - 1)]
    for sample in samples:
        assert bool(part.fullmatch(sample)) == (len(sample) <= 20 and int(sample) <= limit)
    assert re.fullmatch(RESUME_PATTERN, "")
    assert re.fullmatch(RESUME_PATTERN, "1795245343471-0")


@pytest.mark.timeout(180)  # above the run's own 120 s bound, on a shared machine
def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(redis_url: str) -> None:
    """Property-based requests from the document, to a live instance: every answer must be
    documented (status, content type, headers, schema — events included), none a 5xx, invalid
    input refused and valid input accepted. Bounded: a fixed seed and a few examples per
    operation; ``schemathesis.toml`` records the two checks adjusted to the API's meaning, and
    ``tests/support/schemathesis_hooks.py`` writes integral numbers as integers (the service
    takes ``1`` where JSON Schema would also call ``1.0`` an integer)."""
    server = ServiceProcess(
        REDIS_URL=redis_url, AUTH_JWT_SECRET=SECRET, DEMO_TOKENS_PER_SECOND="1000",
        RATE_LIMIT_CREATE_PER_MIN="0", MAX_STREAMS_PER_USER="0",
    ).start()  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env["SCHEMATHESIS_HOOKS"] = "tests.support.schemathesis_hooks"
    env["PYTHONPATH"] = str(ROOT)
    try:
        done = subprocess.run(
        [
            sys.executable, "-m", "schemathesis.cli", "--config-file", "schemathesis.toml",
            "run", f"{server.url}/openapi.json",
            "-H", f"Authorization: Bearer {token()}",
            "--seed", "1", "--max-examples", "5", "--no-shrink", "--workers", "1",
            "--request-timeout", "10",
        ],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    finally:
        server.close()
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "No issues found" in done.stdout


def served_document() -> dict[str, Any]:
    from app.openapi import openapi_document
    from jobs.agents import AgentRegistry, default_agents
    from jobs.backends.demo import DemoBackend

    return openapi_document(AgentRegistry(default_agents(), DemoBackend(tokens_per_second=10)))


SUGGESTION = {
    "title": "One-click reorder",
    "rationale": "returning buyers",
    "description": "a button on past orders",
    "implementationConsiderations": ["stock may have changed"],
}
RESULTS = {
    "chat": {"text": "Hello"},
    "feature-suggestion": {"suggestions": [SUGGESTION] * 3, "context": ["src/cart.ts"]},
}


@pytest.mark.parametrize("agent", sorted(RESULTS))
def test_each_agents_result_is_exactly_one_branch_of_completes_result(agent: str) -> None:
    doc = served_document()
    union = doc["components"]["schemas"]["CompleteEvent"]["properties"]["result"]
    assert (
        doc["components"]["schemas"]["JobState"]["properties"]["result"]["oneOf"]
        == (union["oneOf"])
    )
    components = closed(copy.deepcopy(doc["components"]))
    matching = []
    for branch in union["oneOf"]:
        errors = OAS31Validator(branch | {"components": components}).iter_errors(RESULTS[agent])
        if not list(errors):
            matching.append(branch["$ref"])
    assert matching == [f"#/components/schemas/Result-{agent}"]


def test_every_operation_takes_and_echoes_a_request_id() -> None:
    doc = served_document()
    operations = [
        operation
        for path in doc["paths"].values()
        for method, operation in path.items()
        if method in ("get", "put", "post", "delete")
    ]
    assert len(operations) >= 10
    for operation in operations:
        assert {"$ref": "#/components/parameters/RequestId"} in operation["parameters"]
        for answer in operation["responses"].values():
            assert answer["headers"]["X-Request-ID"] == {"$ref": "#/components/headers/RequestId"}
    assert doc["components"]["parameters"]["RequestId"]["name"] == "X-Request-ID"
