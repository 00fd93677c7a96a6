"""Building the Redis client, and turning its connection failures into ``StoreUnavailable``.

The client is made once by the app's lifespan (or a CLI command) and passed down; nothing here
keeps a module-level client. Without a URL the service runs on an embedded in-process Redis
(fakeredis), which is enough for one process and for trying the service out, not for production.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from jobs.errors import StoreUnavailable

Redis = aioredis.Redis

#: A socket read must outlast the longest blocking XREAD we issue, or the read itself times out.
SOCKET_TIMEOUT_S = 10.0
#: How long a blocking XREAD waits before the reader wakes up to check on the run.
BLOCK_MS = 5_000


def connect(url: str | None, *, max_connections: int = 1_000) -> Redis:
    """A client for ``url``, or an embedded fakeredis server when ``url`` is None.

    Failures are bounded on purpose: connecting gives up after 2 s, a command after
    ``SOCKET_TIMEOUT_S``, and a failed command is retried twice with a short backoff before the
    caller sees ``StoreUnavailable``.
    """
    if url is None:
        import fakeredis  # imported here: production never needs it loaded

        client: Redis = fakeredis.FakeAsyncRedis(decode_responses=True)
        return client
    return aioredis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=2.0,
        socket_timeout=SOCKET_TIMEOUT_S,
        socket_keepalive=True,
        health_check_interval=30,
        max_connections=max_connections,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
    )


@contextmanager
def unavailable_as_domain_error() -> Iterator[None]:
    """Re-raise Redis connection and timeout failures as :class:`StoreUnavailable`."""
    try:
        yield
    except (RedisConnectionError, RedisTimeoutError) as exc:
        raise StoreUnavailable() from exc
