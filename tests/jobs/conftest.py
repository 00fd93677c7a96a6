"""Domain objects wired to the test's real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from jobs.agents import AgentRegistry, default_agents
from jobs.connection import Redis, connect
from jobs.events import EventLog
from jobs.keys import Keys
from jobs.runner import RunLimits, Runner
from jobs.service import JobService
from jobs.store import JobStore, Lifetimes
from tests.support.backends import ScriptedBackend

LIFETIMES = Lifetimes(pending_s=600, running_s=360, resume_grace_s=60, failed_retention_s=3600)


@dataclass
class Domain:
    redis: Redis
    keys: Keys
    events: EventLog
    store: JobStore
    backend: ScriptedBackend
    agents: AgentRegistry
    runner: Runner
    service: JobService


@pytest.fixture
async def aredis(redis_url: str) -> AsyncIterator[Redis]:
    client = connect(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def backend() -> ScriptedBackend:
    return ScriptedBackend()


@pytest.fixture
async def domain(aredis: Redis, backend: ScriptedBackend) -> AsyncIterator[Domain]:
    keys = Keys("jobs")
    events = EventLog(aredis, keys, maxlen=1000, live_ttl_s=LIFETIMES.running_s)
    store = JobStore(aredis, keys, events, LIFETIMES)
    agents = AgentRegistry(
        default_agents(), backend, default_model="model-a", allowed_models=["model-a", "model-b"]
    )
    runner = Runner(store, events, agents, RunLimits(10, 5.0), instance_id="test-instance")
    try:
        yield Domain(
            aredis, keys, events, store, backend, agents, runner,
            JobService(store, events, runner, agents),
        )  # fmt: skip
    finally:
        await runner.aclose()
