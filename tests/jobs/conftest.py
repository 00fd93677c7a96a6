"""Domain objects wired to the test's real Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from jobs.agents import AgentRegistry, default_agents
from jobs.connection import Redis, connect
from jobs.events import EventLog
from jobs.keys import Keys
from jobs.lease import Leases
from jobs.limits import Limits
from jobs.runner import RunLimits, Runner
from jobs.service import JobService
from jobs.store import JobStore, Lifetimes
from jobs.streams import OpenStreams
from tests.support.backends import ScriptedBackend

LIFETIMES = Lifetimes(
    pending_s=600, running_s=360, resume_grace_s=60, failed_retention_s=3600, lease_s=1.5
)
RUNNER = "test-instance"


@dataclass
class Domain:
    redis: Redis
    keys: Keys
    events: EventLog
    store: JobStore
    backend: ScriptedBackend
    agents: AgentRegistry
    leases: Leases
    limits: Limits
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
    leases = Leases(aredis, keys, lease_ttl_s=LIFETIMES.lease_s)
    limits = Limits(aredis, keys, creates_per_min=0, max_streams=0, stream_ttl_s=3)
    run_limits = RunLimits(throttle_ms=10, run_timeout_s=5.0, shutdown_grace_s=0)
    runner = Runner(store, events, agents, leases, run_limits, instance_id=RUNNER)
    streams = OpenStreams(aredis, leases, limits)
    service = JobService(store, events, runner, agents, leases, limits, streams)
    await runner.open()
    try:
        yield Domain(aredis, keys, events, store, backend, agents, leases, limits, runner, service)
    finally:
        await runner.aclose()
