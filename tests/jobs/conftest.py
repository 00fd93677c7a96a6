"""Domain objects wired to the test's real Redis, by the same composition root as the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from app.services import Services, build_services, lifetimes
from jobs.agents import AgentRegistry
from jobs.delivery.eventlog import EventLog
from jobs.record.limits import Limits
from jobs.record.store import JobStore
from jobs.redis.connection import Redis, connect
from jobs.redis.keys import Keys
from jobs.running.lease import Leases
from jobs.running.runner import Runner
from jobs.service import JobService
from tests.conftest import make_settings
from tests.support.backends import ScriptedBackend

SETTINGS = {
    "stream_throttle_ms": 10,
    "run_timeout_s": 5.0,
    "lease_ttl_s": 1.5,
    "shutdown_grace_s": 0,
    "max_takeovers": 0,  # a lapsed lease ends the run (tests/jobs/test_takeover.py: takeovers)
    "rate_limit_create_per_min": 0,
    "max_streams_per_user": 0,
    "allowed_models": "model-a,model-b",
}
LIFETIMES = lifetimes(make_settings(None, **SETTINGS))
RUNNER = "test-instance"


@dataclass
class Domain:
    services: Services
    backend: ScriptedBackend

    @property
    def redis(self) -> Redis:
        return self.services.redis

    @property
    def keys(self) -> Keys:
        return self.services.keys

    @property
    def store(self) -> JobStore:
        return self.services.store

    @property
    def events(self) -> EventLog:
        return self.services.store.events

    @property
    def agents(self) -> AgentRegistry:
        return self.services.agents

    @property
    def runner(self) -> Runner:
        return self.services.runner

    @property
    def service(self) -> JobService:
        return self.services.jobs

    @property
    def leases(self) -> Leases:
        return self.services.jobs.leases

    @property
    def limits(self) -> Limits:
        return self.services.jobs.limits


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
async def domain(redis_url: str, backend: ScriptedBackend) -> AsyncIterator[Domain]:
    settings = make_settings(redis_url, **SETTINGS)
    async with build_services(settings, backend=backend, instance_id=RUNNER) as services:
        yield Domain(services, backend)
