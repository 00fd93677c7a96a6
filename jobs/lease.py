"""Liveness in Redis: who runs a job (its lease), who watches it (its readers), and how one
instance asks another to stop a run (its inbox).

- A runner holds ``jobs:{<id>}:lease`` (its instance id, ``LEASE_TTL_S`` expiry) and renews
  the leases of all its runs together, in one pipelined round trip, every third of the TTL.
  The renewal also reports whether the owner asked to cancel and how many streams are
  attached — what the runner needs to stop a cancelled or abandoned run.
- Every open stream, on any instance, keeps a presence entry in ``jobs:{<id>}:readers`` that
  expires unless refreshed; a crashed instance's entries lapse on their own.
- ``jobs:instance:<id>:inbox`` carries cancel requests to the instance that runs the job, so
  a cancel takes effect within a second wherever it was asked; the renewal's cancel flag is
  the fallback should a request be missed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.exceptions import NoScriptError

from jobs.connection import Pipeline, Redis, unavailable_as_domain_error
from jobs.keys import Keys

# KEYS: lease, job, readers. ARGV: runner, lease_ms.
# Returns {held (0|1), cancel requested (0|1), live readers}.
_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {0, 0, 0} end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local t = redis.call('TIME')
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', t[1] * 1000 + math.floor(t[2] / 1000))
local cancel = redis.call('HGET', KEYS[2], 'cancel') and 1 or 0
return {1, cancel, redis.call('ZCARD', KEYS[3])}
"""

# KEYS: readers. ARGV: member, ttl_ms. Scores are expiry times on the Redis server's clock,
# so instances with skewed clocks agree on who is present.
_PRESENT = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZADD', KEYS[1], now + ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2] * 2)
"""

#: How long a cancel request waits in an inbox for an instance that has gone away.
INBOX_TTL_S = 60


@dataclass(frozen=True, slots=True)
class LeaseState:
    held: bool
    cancel_requested: bool
    readers: int


class Leases:
    def __init__(self, redis: Redis, keys: Keys, *, lease_ttl_s: float) -> None:
        self.redis = redis
        self.keys = keys
        self.lease_ttl_s = lease_ttl_s
        self._renew = redis.register_script(_RENEW)

    @property
    def renew_every_s(self) -> float:
        return self.lease_ttl_s / 3

    async def renew(self, runner: str, job_ids: list[str]) -> dict[str, LeaseState]:
        """Renew ``runner``'s leases on ``job_ids`` in one round trip."""
        if not job_ids:
            return {}
        lease_ms = int(self.lease_ttl_s * 1000)
        with unavailable_as_domain_error():
            try:
                replies = await self._renew_all(runner, job_ids, lease_ms)
            except NoScriptError:
                # Only a Redis that lost its script cache (a restart) gets here; load it again.
                await self.redis.script_load(_RENEW)
                replies = await self._renew_all(runner, job_ids, lease_ms)
        return {
            job_id: LeaseState(bool(held), bool(cancel), int(readers))
            for job_id, (held, cancel, readers) in zip(job_ids, replies, strict=True)
        }

    async def _renew_all(self, runner: str, job_ids: list[str], lease_ms: int) -> list[Any]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                keys = [self.keys.lease(job_id), self.keys.job(job_id), self.keys.readers(job_id)]
                await self._renew(keys=keys, args=[runner, lease_ms], client=pipe)
            replies: list[Any] = await pipe.execute()
        return replies

    def queue_present(self, pipe: Pipeline, job_id: str, stream_id: str) -> None:
        """Queue marking stream ``stream_id`` as attached to the job for one lease TTL (EVAL:
        it shares pipelines with other keys' commands)."""
        ttl_ms = int(self.lease_ttl_s * 1000)
        pipe.eval(_PRESENT, 1, self.keys.readers(job_id), stream_id, ttl_ms)

    async def present(self, job_id: str, stream_id: str) -> None:
        """Mark stream ``stream_id`` as attached to the job for one lease TTL."""
        with unavailable_as_domain_error():
            async with self.redis.pipeline(transaction=False) as pipe:
                self.queue_present(pipe, job_id, stream_id)
                await pipe.execute()

    async def absent(self, job_id: str, stream_id: str) -> None:
        with unavailable_as_domain_error():
            await self.redis.zrem(self.keys.readers(job_id), stream_id)

    async def request_cancel(self, instance_id: str, job_id: str) -> None:
        """Ask instance ``instance_id`` to cancel its run of ``job_id``."""
        key = self.keys.inbox(instance_id)
        with unavailable_as_domain_error():
            # MULTI/EXEC: the list is never created without its TTL (one key: cluster-safe).
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.rpush(key, job_id)
                pipe.expire(key, INBOX_TTL_S)
                await pipe.execute()

    async def next_request(self, instance_id: str, *, timeout_s: float) -> str | None:
        """The next job id this instance is asked to cancel, waiting up to ``timeout_s``."""
        with unavailable_as_domain_error():
            reply: Any = await self.redis.blpop([self.keys.inbox(instance_id)], timeout=timeout_s)
        return None if reply is None else str(reply[1])
