"""Building the Redis client, and turning its failures into ``StoreUnavailable``.

The client is made once by the app's lifespan (or a CLI command) and passed down; nothing here
keeps a module-level client. Without a URL the service runs on an embedded in-process Redis
(fakeredis), which is enough for one process and for trying the service out, not for production.

The limits are chosen, not inherited from redis-py's defaults:

- connecting gives up after 2 s and a command after ``SOCKET_TIMEOUT_S``, which outlasts the
  longest blocking read we issue (the tailer's, ``jobs.delivery.tailer.BLOCK_MS``), so a dead server
  is noticed in seconds;
- a command that fails on a broken or timed-out connection is retried twice, 50-200 ms apart,
  which rides out a failover or a dropped idle connection but not an outage: during an outage
  requests get ``StoreUnavailable`` (503) within about 2 s (a run's writes are retried longer,
  see :mod:`jobs.delivery.writer`);
- the pool is bounded (``MAX_CONNECTIONS``) and *blocking*: a burst waits for a free
  connection instead of opening unbounded sockets or failing at once, for up to
  ``POOL_TIMEOUT_S`` (10 s). That wait is this process's own congestion (a thousand attaches
  at once on a busy event loop hold connections while their replies wait to be read), not a
  failure of the store, so it is not cut short into a 503: a Redis that is really down fails
  the connect within 2 s. No command on the pool blocks (the tailer's blocking reads have
  connections of their own, :func:`connect_single`);
- idle connections are health-checked after 30 s and TCP keepalive is on, so connections that
  a restart or a NAT silently killed are replaced before they fail a request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.driver_info import DriverInfo
from redis.exceptions import (
    AskError,
    ClusterError,
    ExecAbortError,
    NoScriptError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisClusterException,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from jobs import metrics
from jobs.errors import StoreUnavailable

#: The client type the rest of the code is written against (a cluster client behaves alike).
Redis = aioredis.Redis
#: What a Lua script takes as an argument.
ScriptArg = str | int | float | bytes
#: A pipeline (of either client kind) that callers queue commands on.
Pipeline = aioredis.client.Pipeline

SOCKET_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 2.0
POOL_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 200

#: Every way Redis can fail a well-formed command, with what callers are told. Connection
#: errors include refused connections, authentication and ``LOADING`` (a Redis still reading
#: its data after a restart); ``ClusterError`` includes ``CLUSTERDOWN`` and ``MASTERDOWN``;
#: ``AskError`` includes ``MOVED`` (a slot migration the client did not follow in its
#: retries). ``EXECABORT`` is a transaction Redis refused to queue (for one of these reasons).
#: ``NOSCRIPT`` is normally handled by :class:`~jobs.redis.script.Script` (it loads the
#: script again); one that still escapes (a restart between the load and the call) is a
#: transient failure like the rest.
#: A Redis at ``maxmemory`` with ``noeviction`` refuses writes until keys expire or an operator
#: acts: still 503, with a longer ``Retry-After``.
_UNAVAILABLE: tuple[tuple[type[BaseException], ...], str, int] = (
    (RedisConnectionError, RedisTimeoutError, NoScriptError, ExecAbortError),
    "the job store (Redis) is unavailable; try again shortly",
    1,
)
_FAILURES: list[tuple[tuple[type[BaseException], ...], str, int]] = [
    ((OutOfMemoryError,), "the job store (Redis) is out of memory; try again later", 30),
    ((ReadOnlyError,), "the job store (Redis) is a read-only replica (a failover is under way)", 1),
    (
        (ClusterError, RedisClusterException, AskError, TryAgainError),
        "the job store (Redis Cluster) is reorganising or down; try again shortly",
        1,
    ),
    _UNAVAILABLE,
]


#: Who the connections say they are (``CLIENT SETINFO``). Given once: left to redis-py, every
#: new connection reads the installed package's metadata (about 1 ms each, during a burst).
_DRIVER = DriverInfo(lib_version=redis.__version__)


def _options() -> dict[str, Any]:
    return {
        "driver_info": _DRIVER,
        "decode_responses": True,
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "socket_timeout": SOCKET_TIMEOUT_S,
        "socket_keepalive": True,
        "health_check_interval": 30,
        "retry": Retry(ExponentialBackoff(cap=0.2, base=0.05), retries=2),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
    }


def connect(url: str | None, *, cluster: bool = False) -> Redis:
    """A client for ``url`` (a Redis Cluster when ``cluster``), or an embedded fakeredis server
    when ``url`` is None."""
    if url is None:
        import fakeredis  # imported here: production never needs it loaded

        client: Redis = fakeredis.FakeAsyncRedis(decode_responses=True)
        return client
    if cluster:
        nodes: Any = RedisCluster.from_url(url, max_connections=MAX_CONNECTIONS, **_options())
        # A cluster client offers the same commands; the service keeps every multi-key
        # operation inside one job's hash tag, so it never needs cross-slot commands.
        cluster_client: Redis = nodes
        return cluster_client
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=MAX_CONNECTIONS, timeout=POOL_TIMEOUT_S, **_options()
    )
    return aioredis.Redis.from_pool(pool)  # the client owns the pool and closes it


def connect_single(url: str) -> Redis:
    """A client of its own with exactly one connection to the standalone Redis at ``url``, for
    a reader that blocks on it (so that it never holds one of the shared pool's)."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=1, timeout=POOL_TIMEOUT_S, **_options()
    )
    return aioredis.Redis.from_pool(pool)


def is_cluster_url(url: str | None) -> bool:
    """``redis+cluster://`` / ``rediss+cluster://`` name a cluster (an alternative to
    ``REDIS_CLUSTER=1``)."""
    return url is not None and url.split("://", 1)[0].endswith("+cluster")


def plain_url(url: str) -> str:
    """The URL redis-py understands: ``redis+cluster://h:p`` → ``redis://h:p``."""
    scheme, sep, rest = url.partition("://")
    return scheme.removesuffix("+cluster") + sep + rest


def as_domain_error(exc: BaseException) -> StoreUnavailable | None:
    """The :class:`StoreUnavailable` that a Redis failure ``exc`` means, or None if ``exc`` is
    not one (a bug, such as a malformed command, stays what it is)."""
    for classes, message, retry_after_s in _FAILURES:
        if isinstance(exc, classes):
            return StoreUnavailable(message, retry_after_s=retry_after_s)
    return None


@contextmanager
def unavailable_as_domain_error() -> Iterator[None]:
    """Re-raise every Redis failure mode (unreachable, timed out, loading, out of memory,
    read-only, cluster trouble, a lost script) as :class:`StoreUnavailable`."""
    try:
        yield
    except Exception as exc:
        error = as_domain_error(exc)
        if error is None:
            raise
        metrics.redis_error()
        raise error from exc


async def cancel_until_done(task: asyncio.Task[None] | None) -> None:
    """Stop a loop task that talks to Redis. Cancel until it is done: Python 3.11's
    ``asyncio.wait_for``, which redis-py uses, can swallow a cancel that lands as a command
    ends, and the loop would then go on (and a plain ``await task`` hang)."""
    while task is not None and not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=1)
