"""OpenTelemetry tracing, optional and off by default (the ``otel`` extra).

On when ``OTEL_TRACES_EXPORTER`` is set (``otlp``, ``console``, ... as the OpenTelemetry SDK
defines it, ``none`` included; the SDK's other ``OTEL_*`` variables apply: the OTLP endpoint
and protocol, ``OTEL_SERVICE_NAME``, the sampler, the batch processor's limits). Then:

- every request is a server span (the ASGI instrumentation, outermost, so the access log line
  is written inside it), continuing an incoming ``traceparent``; the answer carries a
  ``traceresponse`` header (W3C Trace Context Level 2) naming the trace and span;
- every Redis command is a client span (the redis-py instrumentation);
- a run, its model requests and its tool calls are spans of the job domain
  (``jobs.tracing``), the run a child of the request that created the job, wherever it runs;
- every log line written inside a span carries ``trace_id`` and ``span_id`` (``app.logs``).

Nothing here imports OpenTelemetry unless tracing is on, so the service runs without the
extra. The SDK builds its exporters from the environment with its own (underscored) helpers,
so that ``OTEL_TRACES_EXPORTER`` means exactly what the SDK documents.

Per-message spans of the ASGI instrumentation (``http send`` for every event of a stream) are
left out: a stream's request span covers it whole.
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from starlette.middleware import Middleware

from app.settings import Settings
from jobs import tracing

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider


class TracingUnavailable(RuntimeError):
    """``OTEL_TRACES_EXPORTER`` is set but the ``otel`` extra is not installed."""


def build_provider(settings: Settings) -> TracerProvider | None:
    """The tracer provider ``OTEL_TRACES_EXPORTER`` asks for, or None (tracing off)."""
    if settings.otel_traces_exporter is None:
        return None
    if importlib.util.find_spec("opentelemetry.sdk") is None:
        raise TracingUnavailable(
            "OTEL_TRACES_EXPORTER is set but OpenTelemetry is not installed: "
            "pip install 'jobs-service[otel]'"
        )
    from opentelemetry.sdk._configuration import _get_exporter_names, _import_exporters
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({SERVICE_NAME: "jobs-service"}).merge(Resource.create())
    provider = TracerProvider(resource=resource)
    exporters, _, _ = _import_exporters(_get_exporter_names("traces"), [], [])
    for exporter in exporters.values():
        provider.add_span_processor(BatchSpanProcessor(exporter()))
    return provider


def middleware(provider: TracerProvider | None) -> list[Middleware]:
    """The ASGI instrumentation for ``provider`` (nothing when tracing is off)."""
    if provider is None:
        return []
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    return [
        Middleware(
            OpenTelemetryMiddleware,
            tracer_provider=provider,
            exclude_spans=["receive", "send"],
        )
    ]


@contextlib.contextmanager
def instrumented(provider: TracerProvider | None, *, owned: bool) -> Iterator[None]:
    """Trace the job domain and Redis with ``provider`` while the service runs; flush and
    shut the provider down at the end when it was built here (``owned``)."""
    if provider is None:
        yield
        return
    from opentelemetry.instrumentation.propagators import (
        TraceResponsePropagator,
        set_global_response_propagator,
    )
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    instrumentor: Any = RedisInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    set_global_response_propagator(TraceResponsePropagator())  # type: ignore[no-untyped-call]
    tracing.enable(provider)
    try:
        yield
    finally:
        tracing.disable()
        instrumentor.uninstrument()
        if owned:
            provider.shutdown()
