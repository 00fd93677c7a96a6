"""Shared fixtures: a real Redis, live servers, settings and tokens.

Tests never read the developer's environment: every variable ``Settings`` knows is removed
before each test, and tests pass what they need explicitly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Protocol

import httpx
import pytest
import redis

from app import Settings, create_app
from auth import mint_token
from jobs.backends import Backend
from jobs.running.loop import Toolbox
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.idp import IdentityProvider
from tests.support.live import LiveServer
from tests.support.redis_server import RedisServer

SECRET = "test-secret-0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    for name in ("JOBS_URL", "JOBS_TOKEN", "LOG_FORMAT", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's Redis, emptied for this test."""
    if redis_server.process is None:  # a test stopped it; bring it back
        redis_server.start()
    with redis_server.client() as client:
        client.flushall()
    return redis_server.url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A synchronous client for inspecting what the service stored."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        yield client
    finally:
        client.close()


def token(sub: str = "alice", **claims: Any) -> str:
    return mint_token(SECRET, sub, **claims)


def make_settings(redis_url: str | None, **overrides: Any) -> Settings:
    """Settings for a fast test service: real auth, a quick demo backend, short windows, and
    the sample workspace (real auth alone would leave agents without tools)."""
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "auth_jwt_secret": SECRET,
        "agent_workspace": "sample",
        "demo_tokens_per_second": 1000,
        "stream_throttle_ms": 20,
    }
    values.update(overrides)
    return Settings(**values)


class StartLive(Protocol):
    def __call__(
        self, *, backend: Backend | None = None, workspace: Toolbox | None = None, **settings: Any
    ) -> LiveServer: ...


@pytest.fixture
def live(redis_url: str) -> Iterator[StartLive]:
    """Start service instances on the test's Redis; all are stopped afterwards."""
    servers: list[LiveServer] = []

    def start(
        *, backend: Backend | None = None, workspace: Toolbox | None = None, **settings: Any
    ) -> LiveServer:
        values = make_settings(**{"redis_url": redis_url} | settings)
        app = create_app(values, backend=backend, workspace=workspace)
        server = LiveServer(app).start()
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="session")
def fake_anthropic_server() -> Iterator[FakeAnthropic]:
    fake = FakeAnthropic().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def fake_anthropic(fake_anthropic_server: FakeAnthropic) -> FakeAnthropic:
    """The session's fake Anthropic Messages API, reset; tests ``script`` its replies."""
    fake_anthropic_server.reset()
    return fake_anthropic_server


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(20.0)) as http:
        yield http


@pytest.fixture(scope="session")
def idp_server() -> Iterator[IdentityProvider]:
    provider = IdentityProvider().start()
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture
def idp(idp_server: IdentityProvider) -> IdentityProvider:
    """A local OpenID Connect provider on a free port (tests/support/idp.py), reset for this
    test: its first keys, no failures, no hits counted."""
    idp_server.reset()
    return idp_server


TokenFactory = Callable[..., str]
