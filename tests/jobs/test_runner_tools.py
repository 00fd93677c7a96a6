"""Runs of agents that act, against a real Redis: a scripted model that calls tools, a fake
toolbox, and every way such a run can end while a tool call is running."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from app.services import Services, build_services
from jobs.backends import ToolUse
from jobs.events import START, JobStatus, StoredEvent
from tests.conftest import make_settings
from tests.jobs.conftest import RUNNER, SETTINGS
from tests.support.tools import FakeToolbox, StepsBackend, answer_step, tool_step

pytestmark = pytest.mark.anyio

BLOCKING = ToolUse("toolu_block", "Read", {"block": True})
FEATURE = {"pageOrComponent": "checkout", "featureType": "enhancement", "priorityLevel": "low"}


@pytest.fixture
def toolbox() -> FakeToolbox:
    return FakeToolbox()


@pytest.fixture
def backend() -> StepsBackend:
    return StepsBackend([tool_step(BLOCKING, text="Looking."), answer_step("unused")])


@pytest.fixture
async def services(
    redis_url: str, backend: StepsBackend, toolbox: FakeToolbox
) -> AsyncIterator[Services]:
    settings = make_settings(redis_url, **SETTINGS)
    async with build_services(
        settings, backend=backend, instance_id=RUNNER, workspace=toolbox
    ) as built:
        yield built


async def start(services: Services) -> str:
    job = await services.jobs.create("alice", "chat", {"prompt": "hello"})
    claim = await services.store.claim(job.id, "alice", RUNNER)
    assert claim is not None
    assert claim.claimed
    services.runner.start(claim.job)
    return job.id


async def tool_running(toolbox: FakeToolbox) -> None:
    while not toolbox.started.is_set():
        await asyncio.sleep(0.005)


async def ended(services: Services, job_id: str) -> list[StoredEvent]:
    while services.runner.active:
        await asyncio.sleep(0.005)
    return await services.store.events.after(job_id, START)


def tool_tasks() -> list[asyncio.Task[object]]:
    return [task for task in asyncio.all_tasks() if task.get_name().startswith("tool-")]


async def test_an_agent_only_gets_the_tools_it_declares(
    services: Services, toolbox: FakeToolbox, backend: StepsBackend
) -> None:
    """chat declares no tools: a model that calls one anyway is told so, and nothing runs."""
    job_id = await start(services)
    events = await ended(services, job_id)
    complete = events[-1].payload()
    assert events[-1].event == "complete", complete
    assert complete["result"] == {"text": "unused"}, "the final step's text only"
    assert (complete["steps"], complete["toolCalls"]) == (2, 1)
    assert toolbox.calls == []
    assert backend.requests[0].tools == ()
    (result,) = [
        e.payload() for e in events if e.event == "tool" and e.payload().get("ok") is False
    ]
    assert result["id"] == "toolu_block"


async def test_a_timeout_during_a_tool_call_cancels_the_call(
    services: Services, toolbox: FakeToolbox, backend: StepsBackend
) -> None:
    services.runner.limits = replace(services.runner.limits, run_timeout_s=0.5)
    job = await services.jobs.create("alice", "feature-suggestion", FEATURE)
    claim = await services.store.claim(job.id, "alice", RUNNER)
    assert claim is not None
    services.runner.start(claim.job)
    await tool_running(toolbox)
    events = await ended(services, job.id)
    assert events[-1].payload()["code"] == "TIMEOUT"
    assert toolbox.cancelled.is_set()
    assert tool_tasks() == []
    assert backend.closed == 1
    tools = [e.payload() for e in events if e.event == "tool"]
    assert [(t["phase"], t["id"]) for t in tools] == [("call", "toolu_block")]
    assert events[0].event == "delta", "the text before the call comes first"
    record = await services.store.get(job.id)
    assert record is not None
    assert record.status is JobStatus.FAILED


async def test_shutdown_during_a_tool_call_stores_shutdown_and_cancels_the_call(
    services: Services, toolbox: FakeToolbox
) -> None:
    job = await services.jobs.create("alice", "feature-suggestion", FEATURE)
    claim = await services.store.claim(job.id, "alice", RUNNER)
    assert claim is not None
    services.runner.start(claim.job)
    await tool_running(toolbox)
    await services.runner.aclose()
    events = await services.store.events.after(job.id, START)
    assert events[-1].payload()["code"] == "SHUTDOWN"
    assert toolbox.cancelled.is_set()
    assert tool_tasks() == []
