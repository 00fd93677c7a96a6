"""Every Redis failure mode is a 503 problem (or a terminal ``error`` event), never a 500."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from redis import exceptions

from jobs.redis.connection import as_domain_error
from tests.conftest import StartLive, token
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": f"Bearer {token()}"}
CHAT = {"agent": "chat", "input": {"prompt": "hi"}}


@pytest.mark.parametrize(
    ("error", "retry_after_s"),
    [
        (exceptions.ConnectionError("Connection refused"), 1),
        (exceptions.TimeoutError("Timeout reading from socket"), 1),
        (exceptions.BusyLoadingError("Redis is loading the dataset in memory"), 1),
        (exceptions.OutOfMemoryError("command not allowed when used memory > 'maxmemory'"), 30),
        (exceptions.ReadOnlyError("You can't write against a read only replica."), 1),
        (exceptions.NoScriptError("No matching script."), 1),
        (exceptions.ExecAbortError("Transaction discarded because of previous errors."), 1),
        (exceptions.MovedError("3999 127.0.0.1:6381"), 1),
        (exceptions.TryAgainError("Multiple keys request during rehashing of slot"), 1),
        (exceptions.ClusterDownError("The cluster is down"), 1),
        (exceptions.MasterDownError("Link with MASTER is down"), 1),
        (exceptions.SlotNotCoveredError("slot 3999 is not covered"), 1),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_every_redis_failure_mode_is_store_unavailable(
    error: Exception, retry_after_s: int
) -> None:
    domain_error = as_domain_error(error)
    assert domain_error is not None
    assert domain_error.retry_after_s == retry_after_s


def test_a_malformed_command_is_not_mistaken_for_an_outage() -> None:
    wrong_type = exceptions.ResponseError("WRONGTYPE Operation against a key")
    assert as_domain_error(wrong_type) is None


@pytest.fixture
def replica() -> Iterator[RedisServer]:
    """A read-only replica of a real primary: what a service meets during a failover."""
    with (
        RedisServer() as primary,
        RedisServer("--replicaof", "127.0.0.1", str(primary.port)) as server,
    ):
        yield server


async def test_a_read_only_replica_answers_503_not_500(
    live: StartLive, client: httpx.AsyncClient, replica: RedisServer
) -> None:
    server = live(redis_url=replica.url)
    created = await client.post(f"{server.url}/jobs", json=CHAT, headers=AUTH)
    assert created.status_code == 503, created.text
    assert created.json()["code"] == "STORE_UNAVAILABLE"
    assert "read-only" in created.json()["detail"]
    assert created.headers["Retry-After"] == "1"
