"""Prometheus metrics: every instrument, and the small hooks the code calls, in this module.

A metric is process-wide state by nature — the process is what Prometheus scrapes — so the
instruments are module-level, the one deliberate exception to "no module-level clients"
(prometheus-client's multiprocess mode keys them by process id anyway). Call sites use the
hook functions below, never the instruments, and no hook sits in a per-token loop: the
runner reports once per run, streams once per event sent.

Several uvicorn workers (``python -m app --workers N``) share one port, so a scrape reaches
one worker at random. They therefore run in prometheus-client's **multiprocess mode**: with
``PROMETHEUS_MULTIPROC_DIR`` set (``python -m app`` sets a fresh one when it starts workers)
each worker writes its values to files there and ``/metrics`` on any worker sums them all.
Gauges count only live workers (``livesum``); counters keep dead workers' counts, so totals
never go backwards when a worker is replaced. ``jobs_pending`` is the exception: one
deployment-wide figure, read from Redis by the worker that answers the scrape, so it is that
latest reading (``livemostrecent``), never a sum of the workers' readings.

Labels are bounded: agents, outcomes, error codes, event names, route templates and models —
never a job id or a user. :func:`declare` creates every series whose labels are known at
start-up (agents, outcomes and codes, events, models) at zero, so that a dashboard or an
alert sees them before the first job, and ``rate()`` sees the first increment.

``/metrics`` answers in the OpenMetrics format when the scraper asks for it (``Accept``), in
Prometheus' text format otherwise (:func:`exposition`).
"""

from __future__ import annotations

import contextlib
import glob
import importlib.metadata
import os
import platform
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    multiprocess,
)
from prometheus_client.exposition import choose_encoder

from jobs.events import ErrorCode, EventName, JobStatus, now_ms, status_of

if TYPE_CHECKING:
    from jobs.backends.base import TokenUsage
    from jobs.record.model import Job

# A `_created` timestamp series per counter and histogram doubles the output for nothing a
# dashboard uses (and multiprocess mode does not export them anyway).
disable_created_metrics()  # type: ignore[no-untyped-call]

_RUN_BUCKETS_S = (0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600)
_FIRST_DELTA_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30)
# Requests answer in milliseconds; a stream's request lasts as long as its run.
_HTTP_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

JOBS_CREATED = Counter("jobs_created", "Jobs created (POST /jobs)", ["agent"])
JOBS_FINISHED = Counter(
    "jobs_finished",
    "Jobs that ended, by outcome and error code (code 'none' for completed); counted once, "
    "by whoever stored the terminal event",
    ["agent", "outcome", "code"],
)
ACTIVE_RUNS = Gauge(
    "jobs_active_runs", "Runs in progress on this instance", multiprocess_mode="livesum"
)
ACTIVE_STREAMS = Gauge(
    "jobs_active_streams", "Event streams open on this instance", multiprocess_mode="livesum"
)
PENDING = Gauge(
    "jobs_pending",
    "Jobs created and not yet claimed, cancelled or expired, in the whole deployment: read from "
    "Redis at each scrape, the same figure on every instance (aggregate with max, not sum)",
    multiprocess_mode="livemostrecent",
)
EVENTS_SENT = Counter("jobs_events_sent", "Events sent to clients, by event", ["event"])
FIRST_DELTA = Histogram(
    "jobs_first_delta_seconds",
    "From the start of a fresh (not resumed) stream to its first delta",
    buckets=_FIRST_DELTA_BUCKETS_S,
)
RUN_DURATION = Histogram(
    "jobs_run_duration_seconds",
    "Agent runs on this instance, from claim to end, by agent and outcome",
    ["agent", "outcome"],
    buckets=_RUN_BUCKETS_S,
)
TAKEOVERS = Counter(
    "jobs_takeovers",
    "Runs taken over by this instance, by reason (handover: a drain's deadline; lease-lapsed: "
    "the runner crashed or froze)",
    ["reason"],
)
RUNNERS_LOST = Counter(
    "jobs_runners_lost",
    "Runs ended as RUNNER_LOST, by reason (max-takeovers, run-timeout); counted once, by the "
    "instance that decided it",
    ["reason"],
)
UPSTREAM_TOKENS = Counter(
    "jobs_upstream_tokens",
    "Tokens reported by the model backend, by kind: input (uncached), output, cache_read, "
    "cache_write",
    ["model", "direction"],
)
RUN_COST = Counter(
    "jobs_run_cost_usd", "What completed runs cost, from the price table", ["agent", "model"]
)
WEBHOOK_ATTEMPTS = Counter(
    "jobs_webhook_attempts",
    "Webhook POSTs attempted, by outcome: delivered, retried (a timeout, connection error, "
    "408, 429 or 5xx, tried again later), dead (given up: a dead letter)",
    ["outcome"],
)
WEBHOOK_OUTCOMES = ("delivered", "retried", "dead")
REDIS_ERRORS = Counter(
    "jobs_redis_errors", "Redis commands that failed as unavailable (connection, timeout)"
)
HTTP_REQUESTS = Counter(
    "jobs_http_requests", "HTTP requests answered, by route template", ["method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "jobs_http_request_duration_seconds",
    "From a request's arrival to the end of its answer (a stream: to its end), by route "
    "template and status",
    ["method", "route", "status"],
    buckets=_HTTP_BUCKETS_S,
)
BUILD_INFO = Gauge(
    "jobs_build_info",
    "Always 1: the service's version, the Python it runs on, and this instance's id (the "
    "'runner' of the jobs it runs, as in Redis and the logs)",
    ["version", "python", "instance"],
    multiprocess_mode="livesum",
)

#: Every (outcome, code) a job can end with: ``none`` for a result.
ENDINGS: tuple[tuple[str, str], ...] = (
    (JobStatus.COMPLETED.value, "none"),
    *((status_of(EventName.ERROR, code).value, code.value) for code in ErrorCode),
)

# Pre-bound children for the per-event hook.
_EVENTS: dict[str, Counter] = {name.value: EVENTS_SENT.labels(name.value) for name in EventName}


def job_created(agent: str) -> None:
    child = _CREATED.get(agent)
    if child is None:
        child = _CREATED[agent] = JOBS_CREATED.labels(agent)
    child.inc()


_CREATED: dict[str, Counter] = {}


def declare(agents: Iterable[str], models: Iterable[str], instance: str) -> None:
    """Create the series known at start-up at zero (see the module docstring), and say which
    build and instance this is."""
    models = list(models)
    for agent in agents:
        JOBS_CREATED.labels(agent)
        for outcome, code in ENDINGS:
            JOBS_FINISHED.labels(agent, outcome, code)
        for status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED):
            RUN_DURATION.labels(agent, status.value)
    for model in models:
        for direction in ("input", "output", "cache_read", "cache_write"):
            UPSTREAM_TOKENS.labels(model, direction)
    for webhook_outcome in WEBHOOK_OUTCOMES:
        WEBHOOK_ATTEMPTS.labels(webhook_outcome)
    BUILD_INFO.labels(_version(), platform.python_version(), instance).set(1)


def _version() -> str:
    try:
        return importlib.metadata.version("jobs-service")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree, not installed
        return "unknown"


def job_finished(outcome: str, code: str | None, agent: str) -> None:
    """A job ended (``agent`` "": a verdict reached without the job's record at hand)."""
    JOBS_FINISHED.labels(agent or "unknown", outcome, code or "none").inc()


def run_started() -> None:
    ACTIVE_RUNS.inc()


def run_stopped() -> None:
    ACTIVE_RUNS.dec()


def run_ended(job: Job, outcome: str, code: str | None, *, stored: bool) -> None:
    """A run here ended with ``outcome``; ``stored``: its own terminal event was stored (else
    a cancel or a RUNNER_LOST verdict elsewhere ended the job, and counted it there)."""
    if job.started_at_ms is not None:
        duration_s = max(now_ms() - job.started_at_ms, 0) / 1000
        RUN_DURATION.labels(job.agent, outcome).observe(duration_s)
    if stored:
        job_finished(outcome, code, job.agent)


def webhook_attempt(outcome: str) -> None:
    """One webhook POST ended ``delivered``, ``retried`` or ``dead``."""
    WEBHOOK_ATTEMPTS.labels(outcome).inc()


def takeover(reason: str) -> None:
    TAKEOVERS.labels(reason).inc()


def runner_lost(reason: str) -> None:
    """A run was ended as ``RUNNER_LOST`` here (its job counted as finished too)."""
    RUNNERS_LOST.labels(reason).inc()
    job_finished("failed", "RUNNER_LOST", "")


def tokens(agent: str, model: str, usage: TokenUsage, cost_usd: float | None) -> None:
    """A completed run's tokens by kind, and its cost (when the model has a price)."""
    UPSTREAM_TOKENS.labels(model, "input").inc(usage.input_tokens)
    UPSTREAM_TOKENS.labels(model, "output").inc(usage.output_tokens)
    UPSTREAM_TOKENS.labels(model, "cache_read").inc(usage.cache_read_input_tokens or 0)
    UPSTREAM_TOKENS.labels(model, "cache_write").inc(usage.cache_creation_input_tokens or 0)
    if cost_usd is not None:
        RUN_COST.labels(agent, model).inc(cost_usd)


def pending_jobs(count: int) -> None:
    """The deployment's pending jobs, as Redis counted them for this scrape."""
    PENDING.set(count)


def stream_opened() -> None:
    ACTIVE_STREAMS.inc()


def stream_closed() -> None:
    ACTIVE_STREAMS.dec()


def event_sent(event: str) -> None:
    child = _EVENTS.get(event)
    (child or EVENTS_SENT.labels(event)).inc()


def first_delta(after_s: float) -> None:
    FIRST_DELTA.observe(after_s)


def redis_error() -> None:
    REDIS_ERRORS.inc()


def http_request(method: str, route: str, status: int, duration_s: float) -> None:
    children = _HTTP.get((method, route, status))
    if children is None:  # a bounded set: methods x route templates x statuses
        labels = (method, route, str(status))
        children = _HTTP[method, route, status] = (
            HTTP_REQUESTS.labels(*labels),
            HTTP_DURATION.labels(*labels),
        )
    children[0].inc()
    children[1].observe(duration_s)


#: The children of the HTTP series by (method, route, status): ``labels()`` costs more than
#: the increment it precedes, on every request.
_HTTP: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


# -- exposition and multiprocess bookkeeping --------------------------------------------------


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition(accept: str = "") -> tuple[bytes, str]:
    """The metrics and their content type: OpenMetrics if ``accept`` (the scraper's
    ``Accept`` header) asks for it, else Prometheus' text format; this process's, or every
    worker's summed in multiprocess mode."""
    encode, content_type = choose_encoder(accept)
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return encode(registry), content_type
    return encode(REGISTRY), content_type


_LIVE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db$")


def forget_dead_workers() -> None:
    """Drop the live gauges of workers that died without saying so (a crash, kill -9), so
    their open runs and streams stop counting; called as a worker starts."""
    path = multiprocess_dir()
    if path is None:
        return
    for name in glob.glob(os.path.join(path, "gauge_live*.db")):
        found = _LIVE_FILE.search(name)
        if found is None:
            continue
        pid = int(found.group(1))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
        except PermissionError:
            pass  # alive, under another user


def worker_stopped() -> None:
    """A worker's clean exit: its live gauges stop counting."""
    path = multiprocess_dir()
    if path is not None:
        with contextlib.suppress(OSError):
            multiprocess.mark_process_dead(os.getpid(), path)  # type: ignore[no-untyped-call]
