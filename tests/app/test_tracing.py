"""OpenTelemetry tracing (the ``otel`` extra), with the SDK's in-memory exporter: the trace a
caller starts with ``traceparent`` goes on into the run, its model requests (and to the model
provider) and its tool calls; log lines inside a span name it; off, nothing is traced."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app import Settings, create_app
from app.tracing import build_provider
from jobs import tracing
from tests.app.test_stream_anthropic import FEATURE_INPUT, SUGGESTIONS
from tests.conftest import make_settings, token
from tests.support.fake_anthropic import API_KEY, FakeAnthropic, Reply, ToolCall
from tests.support.live import LiveServer
from tests.support.process import ROOT
from tests.support.sse import read_stream

pytestmark = pytest.mark.anyio

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        yield provider, exporter
    finally:
        provider.shutdown()


def named(spans: tuple[ReadableSpan, ...], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


def hex_ids(span: ReadableSpan) -> tuple[str, str]:
    assert span.context is not None
    return f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}"


async def test_a_run_continues_the_trace_that_started_its_job(
    redis_url: str,
    fake_anthropic: FakeAnthropic,
    spans: tuple[TracerProvider, InMemorySpanExporter],
    log_lines: io.StringIO,
) -> None:
    provider, exporter = spans
    fake_anthropic.script(
        Reply(text="Looking.", tool_calls=[ToolCall("Glob", {"pattern": "**/*.tsx"})]),
        Reply(text=json.dumps(SUGGESTIONS)),
    )
    settings = make_settings(
        redis_url,
        agent_backend="anthropic",
        anthropic_base_url=fake_anthropic.url,
        anthropic_api_key=API_KEY,
        anthropic_max_retries=0,
    )
    server = LiveServer(create_app(settings, tracer_provider=provider)).start()
    try:
        async with httpx.AsyncClient(timeout=20) as client:
            created = await client.post(
                f"{server.url}/jobs",
                json={"agent": "feature-suggestion", "input": FEATURE_INPUT},
                headers={"Authorization": f"Bearer {token()}", "traceparent": TRACEPARENT},
            )
            assert created.status_code == 201
            # The answer names the trace it joined (W3C traceresponse).
            assert created.headers["traceresponse"].split("-")[1] == TRACE_ID
            job = created.json()
            # The stream is attached in another trace (a browser's EventSource sends none).
            stream = await read_stream(client, server.url + job["streamUrl"], token=token())
            assert stream.events[-1].event == "complete"
    finally:
        server.stop()
    finished = tuple(exporter.get_finished_spans())

    (start,) = [s for s in finished if s.name == "POST /jobs"]
    assert hex_ids(start)[0] == TRACE_ID
    assert start.parent is not None
    assert f"{start.parent.span_id:016x}" == PARENT_ID
    (run,) = named(finished, "run")
    assert hex_ids(run)[0] == TRACE_ID, "the run continues the start request's trace"
    attributes = dict(run.attributes or {})
    assert attributes["jobs.job_id"] == job["jobId"]
    assert attributes["jobs.agent"] == "feature-suggestion"
    assert attributes["jobs.steps"] == 2
    assert attributes["jobs.tool_calls"] == 1
    assert attributes["jobs.takeovers"] == 0
    assert attributes["jobs.outcome"] == "completed"
    assert attributes["jobs.model"] == fake_anthropic.requests[0].body["model"]
    attach = [s for s in finished if s.name.startswith("GET ") and "stream" in s.name]
    assert len(attach) == 1, [s.name for s in finished]
    assert [link.context.span_id for link in run.links] == [attach[0].context.span_id]

    model_calls = named(finished, "model request")
    assert len(model_calls) == 2
    (tool,) = named(finished, "tool Glob")
    for child in (*model_calls, tool):
        assert hex_ids(child)[0] == TRACE_ID
        assert child.parent is not None
        assert child.parent.span_id == run.context.span_id
    # The model provider received the model request span's context.
    for seen, call in zip(fake_anthropic.requests, model_calls, strict=True):
        assert seen.headers["traceparent"] == f"00-{TRACE_ID}-{hex_ids(call)[1]}-01"
    redis = [s for s in finished if s.attributes and s.attributes.get("db.system") == "redis"]
    assert any(hex_ids(s)[0] == TRACE_ID for s in redis), "Redis commands are spans"

    # Every line written inside a span names it: the start request's access line too.
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    (access,) = [e for e in lines if e.get("path") == "/jobs" and e.get("status") == 201]
    assert (access["trace_id"], access["span_id"]) == hex_ids(start)
    ending = [e for e in lines if e["logger"] == "jobs.endings"]
    assert [(e["trace_id"], e["span_id"]) for e in ending] == [hex_ids(run)]


async def test_off_by_default_nothing_is_traced(redis_url: str) -> None:
    server = LiveServer(create_app(make_settings(redis_url))).start()
    try:
        async with httpx.AsyncClient(timeout=20) as client:
            answer = await client.get(f"{server.url}/agents", headers={"traceparent": TRACEPARENT})
            assert answer.status_code == 200
            assert "traceresponse" not in answer.headers
            assert not tracing.enabled()
            assert tracing.headers() == {}
    finally:
        server.stop()


def test_off_the_instrumentations_are_not_even_imported() -> None:
    # (redis-py imports the OpenTelemetry API and SDK itself when they are installed.)
    probe = (
        "import sys; from app import Settings, create_app; create_app(Settings()); "
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry.instrumentation')))"
    )
    env = {"PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.stdout.strip() == "[]", result.stderr


def test_otel_traces_exporter_means_what_the_sdk_says(monkeypatch: pytest.MonkeyPatch) -> None:
    assert build_provider(Settings()) is None
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "jobs-eu-1")
    provider = build_provider(Settings())
    assert provider is not None
    try:
        processors: Any = provider._active_span_processor._span_processors
        (processor,) = processors
        assert type(processor.span_exporter).__name__ == "ConsoleSpanExporter"
        assert provider.resource.attributes["service.name"] == "jobs-eu-1"
    finally:
        provider.shutdown()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    provider = build_provider(Settings())
    assert provider is not None
    assert not provider._active_span_processor._span_processors
