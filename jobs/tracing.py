"""OpenTelemetry spans of the job domain: a run, its model requests, its tool calls.

Tracing is optional (the ``otel`` extra) and off by default. Off, every hook here is a no-op
that imports nothing from OpenTelemetry; ``app.tracing`` turns it on with :func:`enable`
when ``OTEL_TRACES_EXPORTER`` is set (or a test hands it a tracer provider). Like the
metrics, the tracer is process-wide state: OpenTelemetry's context is a context variable, so
a run's task, created while its first attach is handled, carries its spans, and the tool
calls' tasks inherit them.

- :func:`job_trace`: the W3C ``traceparent`` of the current span (the ``POST /jobs``
  request), stored with the job, so that the run continues the trace that created it, on
  whichever instance claims it.
- :func:`run` (:func:`within_run` for a run's task): the span of a run, a child of that
  stored context and linked to the span of the attach that started it; attributes
  ``jobs.job_id``, ``jobs.agent``, ``jobs.steps``, ``jobs.tool_calls``, ``jobs.model``,
  ``jobs.takeovers``, ``jobs.outcome``, ``jobs.code``.
- :func:`span`: a child span of the current one (a model request, a tool call).
- :func:`headers`: the ``traceparent`` (and ``tracestate``) of the current span, for a request
  to another service (the model provider), so that the trace continues there.
- :func:`annotate`: attributes on the current span; :func:`current_ids`: its trace and span
  ids for the log (``app.logs``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Coroutine, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer, TracerProvider

    from jobs.record.model import Job

_tracer: Tracer | None = None

T = TypeVar("T")

Attributes = Mapping[str, str | int | float | bool]


def enable(provider: TracerProvider) -> None:
    """Trace the job domain with ``provider``'s tracer."""
    global _tracer
    _tracer = provider.get_tracer("jobs")


def disable() -> None:
    global _tracer
    _tracer = None


def enabled() -> bool:
    return _tracer is not None


def job_trace() -> str | None:
    """The current span's ``traceparent``, to store with a new job (None: tracing off)."""
    return headers().get("traceparent")


def headers() -> dict[str, str]:
    """W3C trace context headers of the current span ({} when tracing is off)."""
    if _tracer is None:
        return {}
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@contextlib.contextmanager
def run(job: Job) -> Iterator[None]:
    """The span of ``job``'s run on this instance."""
    if _tracer is None:
        yield
        return
    from opentelemetry import propagate, trace

    attach = trace.get_current_span().get_span_context()
    parent = propagate.extract({"traceparent": job.trace}) if job.trace else None
    links = [trace.Link(attach)] if attach.is_valid and job.trace else []
    attributes: dict[str, Any] = {
        "jobs.job_id": job.id,
        "jobs.agent": job.agent,
        "jobs.takeovers": int(getattr(job, "takeovers", 0) or 0),
    }
    with _tracer.start_as_current_span(
        "run", context=parent, links=links, attributes=attributes, kind=trace.SpanKind.INTERNAL
    ):
        yield


def within_run(job: Job, run_coroutine: Coroutine[Any, Any, T]) -> Coroutine[Any, Any, T]:
    """``run_coroutine`` (a run task's body) inside :func:`run`'s span; itself when tracing is
    off (a wrapper is one more frame that every resumption of the run passes through: one
    per token)."""
    if _tracer is None:
        return run_coroutine
    return _within_run(job, run_coroutine)


async def _within_run(job: Job, run_coroutine: Awaitable[T]) -> T:
    with run(job):
        return await run_coroutine


@contextlib.contextmanager
def span(name: str, attributes: Attributes | None = None) -> Iterator[None]:
    """A child span of the current one (nothing when tracing is off)."""
    if _tracer is None:
        yield
        return
    with _tracer.start_as_current_span(name, attributes=dict(attributes or {})):
        yield


def annotate(attributes: Attributes, *, failed: str | None = None) -> None:
    """Set ``attributes`` on the current span; ``failed``: mark it as an error, saying why."""
    if _tracer is None:
        return
    from opentelemetry import trace

    current = trace.get_current_span()
    current.set_attributes(dict(attributes))
    if failed is not None:
        current.set_status(trace.Status(trace.StatusCode.ERROR, failed))


def current_ids() -> tuple[str, str] | None:
    """The current span's trace and span ids, in hex, or None (tracing off, or no span)."""
    if _tracer is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"
