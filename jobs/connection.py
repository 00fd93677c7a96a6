"""Building the Redis client, and turning its connection failures into ``StoreUnavailable``.

The client is made once by the app's lifespan (or a CLI command) and passed down; nothing here
keeps a module-level client. Without a URL the service runs on an embedded in-process Redis
(fakeredis), which is enough for one process and for trying the service out, not for production.

The limits are chosen, not inherited from redis-py's defaults:

- connecting gives up after 2 s and a command after ``SOCKET_TIMEOUT_S``, which outlasts the
  longest blocking read we issue (the tailer's, ``jobs.tailer.BLOCK_MS``), so a dead server is
  noticed in seconds;
- a command that fails on a broken or timed-out connection is retried twice, 50-200 ms apart,
  which rides out a failover or a dropped idle connection but not an outage: during an outage
  callers get ``StoreUnavailable`` (503, or a retryable ``error`` event) within about 2 s;
- the pool is bounded (``MAX_CONNECTIONS``) and *blocking*: a burst waits up to 2 s for a free
  connection instead of opening unbounded sockets or failing at once; no command on it blocks
  (the tailer's blocking reads have connections of their own, :func:`connect_single`);
- idle connections are health-checked after 30 s and TCP keepalive is on, so connections that
  a restart or a NAT silently killed are replaced before they fail a request.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ClusterError, RedisClusterException
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from jobs import metrics
from jobs.errors import StoreUnavailable

#: The client type the rest of the code is written against (a cluster client behaves alike).
Redis = aioredis.Redis
#: What a Lua script takes as an argument.
ScriptArg = str | int | float
#: A pipeline (of either client kind) that callers queue commands on.
Pipeline = aioredis.client.Pipeline

SOCKET_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 2.0
POOL_TIMEOUT_S = 2.0
MAX_CONNECTIONS = 200

_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, ClusterError, RedisClusterException)


def _options() -> dict[str, Any]:
    return {
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


@contextmanager
def unavailable_as_domain_error() -> Iterator[None]:
    """Re-raise Redis connection, timeout and cluster failures as :class:`StoreUnavailable`."""
    try:
        yield
    except _UNAVAILABLE as exc:
        metrics.redis_error()
        raise StoreUnavailable() from exc
