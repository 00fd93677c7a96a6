"""The deployment's pending jobs, for the ``jobs_pending`` gauge: ``jobs:pending``.

A ZSET of job ids scored by when their pending record expires (Unix ms, on the Redis server's
clock). A job enters it when it is created (or put back to pending: ``JobStore.unclaim``) and
leaves it when it is claimed, cancelled while pending, or purged (``ops purge``). On a
standalone Redis the script that changes the job updates the index in the same step
(``jobs.record.store``, ``jobs.ops.inspection``; ``lua/pending.lua`` is the addition they
share), so the count is exact. On a Redis Cluster the index is in another slot than the job's
keys, so it is kept with commands of its own, as the per-owner listing index is
(``jobs.record.listing``): a creation's in the same round trip, the others right after the
script that moved the job; an instance that dies in between leaves an entry that counts until
its score passes.

A job that expires while pending leaves no trace to remove it by: entries whose score has
passed are dropped when the count is read (one script: trim, then ``ZCARD``) and at every
addition, so the set never holds more than the jobs created in the last ``JOB_TTL_S``; the key
itself expires ``JOB_TTL_S`` after the latest addition, when every entry it holds has expired
too (never sooner: an instance with a shorter ``JOB_TTL_S`` does not shorten it).
"""

from __future__ import annotations

import contextlib

from jobs.errors import StoreUnavailable
from jobs.redis.connection import Pipeline, Redis, unavailable_as_domain_error
from jobs.redis.keys import Keys
from jobs.redis.script import Script

PENDING_ADD = Script("jobs.record", "pending_add", keys=1, args=2, includes=("pending",))
PENDING_COUNT = Script("jobs.record", "pending_count", keys=1, args=0)


class PendingIndex:
    """The pending-jobs index of one key prefix."""

    def __init__(self, redis: Redis, keys: Keys, *, cluster: bool) -> None:
        self.redis = redis
        self.key = keys.pending()
        #: Whether the job scripts cannot take the index (a Redis Cluster: another slot);
        #: then the ``add``/``remove`` methods keep it.
        self.separate = cluster

    def script_keys(self) -> list[str]:
        """The key a job script is given to update the index itself: none on a cluster."""
        return [] if self.separate else [self.key]

    def queue_add(self, pipe: Pipeline, job_id: str, ttl_s: int) -> None:
        """Queue adding a job (EVAL: it shares a pipeline with other keys' commands)."""
        PENDING_ADD.queue(pipe, [self.key], [job_id, ttl_s * 1000])

    async def add(self, job_id: str, ttl_s: int) -> None:
        """Add a job, if Redis answers (see :meth:`remove`)."""
        with contextlib.suppress(StoreUnavailable), unavailable_as_domain_error():
            await PENDING_ADD.call(self.redis, [self.key], [job_id, ttl_s * 1000])

    async def remove(self, job_id: str) -> None:
        """Remove a job, if Redis answers: the index only feeds a gauge, so a failure (counted
        as a Redis error) must not fail what moved the job, which has happened already."""
        with contextlib.suppress(StoreUnavailable), unavailable_as_domain_error():
            await self.redis.zrem(self.key, job_id)

    async def count(self) -> int:
        """How many jobs are pending in the whole deployment (one round trip)."""
        with unavailable_as_domain_error():
            pending: int = await PENDING_COUNT.call(self.redis, [self.key], [])
        return pending
