"""Per-user limits, enforced atomically in Redis so that they hold across instances.

- **Job creations** per minute (``RATE_LIMIT_CREATE_PER_MIN``): a sliding one-minute log in
  ``jobs:user:<owner>:creates``; a refused call learns when the oldest creation leaves the
  window (``Retry-After``).
- **Open streams** (``MAX_STREAMS_PER_USER``): ``jobs:user:<owner>:streams`` holds one entry
  per open stream, scored by when it expires. A stream refreshes its entry while open and
  removes it when it ends, however it ends; a crashed instance's entries simply expire.

A limit of 0 turns that limit off. Scores use the Redis server's clock (``TIME``), so
instances with skewed clocks still agree.
"""

from __future__ import annotations

import math
import secrets

from jobs.connection import Redis, ScriptArg, unavailable_as_domain_error
from jobs.errors import RateLimited, TooManyStreams
from jobs.keys import Keys

_NOW = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
"""

# KEYS: creates. ARGV: window_ms, limit, member. Returns 0, or ms until a slot frees.
_CREATE = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, oldest[2] + ARGV[1] - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 0
"""
)

# KEYS: streams. ARGV: ttl_ms, limit, member. Returns 1 if the stream holds a slot, else 0.
_ACQUIRE = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[3]) == false
   and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""
)

WINDOW_MS = 60_000


class Limits:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        creates_per_min: int,
        max_streams: int,
        stream_ttl_s: float,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.creates_per_min = creates_per_min
        self.max_streams = max_streams
        self.stream_ttl_s = stream_ttl_s
        self._create = redis.register_script(_CREATE)
        self._acquire = redis.register_script(_ACQUIRE)

    async def count_creation(self, owner: str) -> None:
        """Count one job creation for ``owner``, or raise :class:`RateLimited`."""
        if self.creates_per_min <= 0:
            return
        args: list[ScriptArg] = [WINDOW_MS, self.creates_per_min, secrets.token_hex(8)]
        with unavailable_as_domain_error():
            wait_ms = await self._create(keys=[self.keys.user_creates(owner)], args=args)
        if wait_ms:
            raise RateLimited(self.creates_per_min, retry_after_s=math.ceil(wait_ms / 1000))

    async def open_stream(self, owner: str, stream_id: str) -> None:
        """Take (or refresh) a stream slot for ``owner``, or raise :class:`TooManyStreams`."""
        if self.max_streams <= 0:
            return
        ttl_ms = int(self.stream_ttl_s * 1000)
        with unavailable_as_domain_error():
            held = await self._acquire(
                keys=[self.keys.user_streams(owner)], args=[ttl_ms, self.max_streams, stream_id]
            )
        if not held:
            raise TooManyStreams(self.max_streams, retry_after_s=math.ceil(self.stream_ttl_s / 3))

    async def close_stream(self, owner: str, stream_id: str) -> None:
        if self.max_streams <= 0:
            return
        with unavailable_as_domain_error():
            await self.redis.zrem(self.keys.user_streams(owner), stream_id)
