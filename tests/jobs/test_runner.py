"""Runs against a real Redis with scripted backends: every way a run can end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest

from jobs.backends import BackendEvent, ModelRequest, TextDelta
from jobs.errors import UpstreamUnavailable
from jobs.events import START, JobStatus, StoredEvent
from jobs.record.model import Job
from jobs.redis.keys import new_job_id
from jobs.running.runner import RunLimits
from tests.jobs.conftest import Domain
from tests.support.backends import ScriptedBackend

pytestmark = pytest.mark.anyio


async def start(domain: Domain, agent: str = "chat", raw: dict[str, object] | None = None) -> Job:
    job = await domain.service.create("alice", agent, raw or {"prompt": "hello"})
    result = await domain.store.claim(job.id, "alice", domain.runner.instance_id)
    assert result is not None
    assert result.claimed
    domain.runner.start(result.job)
    return result.job


async def stored(domain: Domain, job_id: str) -> list[StoredEvent]:
    return await domain.events.after(job_id, START)


async def finished(domain: Domain, job_id: str) -> list[StoredEvent]:
    """The run's events, once its task is done."""
    channel = domain.runner.channel(job_id)
    assert channel is not None
    events = [e async for e in channel.follow(START) if e is not None]
    while domain.runner.active:
        await asyncio.sleep(0.001)
    return events


async def test_success_streams_lossless_deltas_then_complete(domain: Domain) -> None:
    domain.backend.chunks = [f"tok{n} " for n in range(40)]
    domain.backend.interval_s = 0.002
    job = await start(domain)
    events = await finished(domain, job.id)
    assert events == await stored(domain, job.id), "readers here see exactly what Redis holds"
    deltas = [e.payload() for e in events if e.event == "delta"]
    assert "".join(d["text"] for d in deltas) == domain.backend.text
    assert [d["totalLength"] for d in deltas] == [
        sum(len(d["text"]) for d in deltas[: i + 1]) for i in range(len(deltas))
    ]
    assert len(deltas) < 40, "deltas were coalesced"
    complete = events[-1]
    assert complete.event == "complete"
    data = complete.payload()
    assert data["result"] == {"text": domain.backend.text}
    assert data["totalLength"] == len(domain.backend.text)
    assert data["tokenUsage"] == {"inputTokens": 7, "outputTokens": 40}
    assert data["model"] == "scripted-model"
    assert data["stopReason"] == "end_turn"
    assert data["executionTimeMs"] >= 0
    kept = await domain.store.get(job.id)
    assert kept is not None
    assert kept.complete == data
    assert domain.backend.closed == 1


async def test_the_request_comes_from_the_agent(domain: Domain) -> None:
    job = await start(domain, raw={"prompt": "why?", "system": "be brief", "model": "model-b"})
    await finished(domain, job.id)
    [request] = domain.backend.requests
    assert (request.prompt, request.system, request.model) == ("why?", "be brief", "model-b")


async def test_upstream_failure_keeps_partial_output_and_fails_the_job(domain: Domain) -> None:
    domain.backend.fail_with = UpstreamUnavailable("connection lost")
    job = await start(domain)
    events = await finished(domain, job.id)
    assert "".join(e.payload()["text"] for e in events if e.event == "delta") == "Hello, world!"
    error = events[-1]
    assert error.event == "error"
    assert error.payload()["code"] == "UPSTREAM_UNAVAILABLE"
    assert error.payload()["retryable"] is True
    record = await domain.store.get(job.id)
    assert record is not None
    assert record.status is JobStatus.FAILED
    assert record.error is not None
    assert record.error["code"] == "UPSTREAM_UNAVAILABLE"


async def test_output_that_does_not_validate_is_output_invalid(domain: Domain) -> None:
    domain.backend.chunks = ['{"suggestions": [', '{"title": "half"}', "]}"]
    job = await start(
        domain,
        "feature-suggestion",
        {"pageOrComponent": "nav", "featureType": "enhancement", "priorityLevel": "low"},
    )
    events = await finished(domain, job.id)
    assert events[-1].event == "error"
    assert events[-1].payload()["code"] == "OUTPUT_INVALID"
    assert not any(e.event == "complete" for e in events)


async def test_run_timeout_ends_with_timeout_and_closes_the_backend(domain: Domain) -> None:
    domain.backend.hang = True
    domain.runner.limits = RunLimits(throttle_ms=10, run_timeout_s=0.2)
    job = await start(domain)
    events = await finished(domain, job.id)
    assert events[-1].payload()["code"] == "TIMEOUT"
    assert domain.backend.closed == 1
    record = await domain.store.get(job.id)
    assert record is not None
    assert record.status is JobStatus.FAILED


async def test_unexpected_backend_exception_is_agent_error_without_details(domain: Domain) -> None:
    domain.backend.fail_with = KeyError("secret internals")
    job = await start(domain)
    events = await finished(domain, job.id)
    data = events[-1].payload()
    assert data["code"] == "AGENT_ERROR"
    assert "secret" not in data["message"]


async def test_shutdown_cancels_runs_with_a_stored_retryable_error(domain: Domain) -> None:
    domain.backend.hang = True
    job = await start(domain)
    channel = domain.runner.channel(job.id)
    assert channel is not None
    while not any(True for _ in await stored(domain, job.id)):
        await asyncio.sleep(0.005)
    await domain.runner.aclose()
    events = await stored(domain, job.id)
    assert events[-1].event == "error"
    assert events[-1].payload()["code"] == "SHUTDOWN"
    assert events[-1].payload()["retryable"] is True
    assert channel.finished
    assert domain.backend.closed == 1, "the upstream stream was closed"
    assert domain.runner.active == 0


async def test_a_job_runs_once_even_if_started_twice(domain: Domain) -> None:
    job = await start(domain)
    with pytest.raises(RuntimeError, match="already running"):
        domain.runner.start(job)
    await finished(domain, job.id)
    assert domain.backend.started == 1


async def test_missing_job_id_is_unknown(domain: Domain) -> None:
    assert domain.runner.channel(new_job_id()) is None


async def test_cancel_through_the_inbox_of_the_running_instance(domain: Domain) -> None:
    """A cancel asked on another instance reaches the runner through Redis."""
    domain.backend.hang = True
    job = await start(domain)
    while not await stored(domain, job.id):
        await asyncio.sleep(0.005)
    await domain.leases.inbox.request_cancel(domain.runner.instance_id, job.id)
    events = await finished(domain, job.id)
    assert events[-1].payload()["code"] == "CANCELLED"
    assert events[-1].payload()["retryable"] is False
    record = await domain.store.get(job.id)
    assert record is not None
    assert record.status is JobStatus.CANCELLED
    assert domain.backend.closed == 1, "the upstream stream was closed"


async def test_a_cancel_lost_inside_an_await_still_ends_the_run(domain: Domain) -> None:
    """On Python 3.11, ``asyncio.wait_for`` (which redis-py and HTTP clients use) drops a cancel
    that arrives just as its inner step finishes: the task goes on as if never cancelled. The
    run must end anyway, at its next step."""
    inside = asyncio.Event()
    swallowed = 0

    class LosesACancel(ScriptedBackend):
        async def stream(self, request: ModelRequest) -> AsyncGenerator[BackendEvent, None]:
            nonlocal swallowed
            yield TextDelta("first ")
            inside.set()
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                swallowed += 1  # what wait_for does when its inner step has just finished
            for n in range(200):
                await asyncio.sleep(0.01)
                yield TextDelta(f"tok{n} ")

    domain.agents.backend = LosesACancel()
    job = await start(domain)
    await inside.wait()
    await domain.service.cancel("alice", job.id)
    events = await finished(domain, job.id)
    assert swallowed == 1
    assert events[-1].event == "error"
    assert events[-1].payload()["code"] == "CANCELLED"
    assert "tok1 " not in "".join(e.payload().get("text", "") for e in events), "stopped at once"
    record = await domain.store.get(job.id)
    assert record is not None
    assert record.status is JobStatus.CANCELLED


async def test_a_run_nobody_watches_is_abandoned(domain: Domain) -> None:
    domain.backend.hang = True
    domain.runner.limits = RunLimits(throttle_ms=10, run_timeout_s=30, abandon_after_s=0.5)
    job = await start(domain)  # no reader ever registers presence
    events = await finished(domain, job.id)
    assert events[-1].payload()["code"] == "ABANDONED"
    assert domain.backend.closed == 1


async def test_a_watched_run_is_not_abandoned(domain: Domain) -> None:
    domain.backend.chunks = ["a"] * 3
    domain.backend.interval_s = 0.6
    domain.runner.limits = RunLimits(throttle_ms=10, run_timeout_s=30, abandon_after_s=1.2)
    job = await start(domain)
    await domain.leases.readers.present(job.id, "reader-1")
    events = await finished(domain, job.id)
    assert events[-1].event == "complete"


async def test_a_runner_that_lost_its_lease_stops(domain: Domain) -> None:
    domain.backend.hang = True
    job = await start(domain)
    await domain.redis.delete(domain.keys.lease(job.id))
    verdict = await domain.store.declare_lost(job.id, {"code": "RUNNER_LOST"})
    assert verdict == "lost:max-takeovers"
    events = await finished(domain, job.id)
    assert events[-1].payload()["code"] == "RUNNER_LOST"
    assert len([e for e in await stored(domain, job.id) if e.terminal]) == 1
    assert domain.backend.closed == 1
