"""Liveness in Redis: who runs a job (its lease), who watches it (its readers), and how one
instance asks another to stop a run (its inbox).

- A runner holds ``jobs:{<id>}:lease`` (its instance id, ``LEASE_TTL_S`` expiry) and renews
  the leases of all its runs together, in one pipelined round trip, every third of the TTL.
  The renewal also reports whether the owner asked to cancel and how many streams are
  attached — what the runner needs to stop a cancelled or abandoned run.
- Every open stream, on any instance, keeps a presence entry in ``jobs:{<id>}:readers`` that
  expires unless refreshed; a crashed instance's entries lapse on their own.
- ``jobs:leases`` indexes running jobs by lease deadline, so that live instances find the
  runs whose lease lapsed (their runner crashed, froze or handed them over) and take them
  over, at a bounded cost per sweep (no scan of the keyspace);
- ``jobs:instance:<id>:inbox`` carries cancel requests to the instance that runs the job, so
  a cancel takes effect within a second wherever it was asked; the renewal's cancel flag is
  the fallback should a request be missed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobs.events import now_ms
from jobs.redis.connection import Pipeline, Redis, unavailable_as_domain_error
from jobs.redis.keys import Keys
from jobs.redis.script import Script

RENEW = Script("jobs.running", "renew", keys=3, args=2)
PRESENT = Script("jobs.delivery", "present", keys=1, args=2)

#: How long a cancel request waits in an inbox for an instance that has gone away.
INBOX_TTL_S = 60


def instance_of(runner: str) -> str:
    """The instance a runner name belongs to: after ``k`` takeovers a run's runner is named
    ``<instance>#<k>``, so the old runner's writes stay fenced off even on the same instance."""
    return runner.partition("#")[0]


@dataclass(frozen=True, slots=True)
class LeaseState:
    held: bool
    cancel_requested: bool
    readers: int


class Leases:
    def __init__(
        self, redis: Redis, keys: Keys, *, lease_ttl_s: float, index_ttl_s: float = 360
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.lease_ttl_s = lease_ttl_s
        #: The deadline index lives as long as a run may (refreshed by every renewal).
        self.index_ttl_ms = int(index_ttl_s * 1000)

    @property
    def renew_every_s(self) -> float:
        return self.lease_ttl_s / 3

    async def renew(self, runners: dict[str, str]) -> dict[str, LeaseState]:
        """Renew the leases of ``runners`` (job id → runner name) in one round trip, and their
        deadlines in the index the takeover sweep reads."""
        if not runners:
            return {}
        lease_ms = int(self.lease_ttl_s * 1000)
        with unavailable_as_domain_error():
            replies = await self._renew_all(runners, lease_ms)
        return {
            job_id: LeaseState(bool(held), bool(cancel), int(readers))
            for job_id, (held, cancel, readers) in zip(runners, replies, strict=True)
        }

    async def _renew_all(self, runners: dict[str, str], lease_ms: int) -> list[Any]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for job_id, runner in runners.items():
                keys = [self.keys.lease(job_id), self.keys.job(job_id), self.keys.readers(job_id)]
                RENEW.queue(pipe, keys, [runner, lease_ms])
            self._queue_deadlines(pipe, list(runners), now_ms() + lease_ms)
            replies: list[Any] = await pipe.execute()
        return replies[: len(runners)]

    def _queue_deadlines(self, pipe: Pipeline, job_ids: list[str], deadline_ms: int) -> None:
        key = self.keys.lease_deadlines()
        pipe.zadd(key, dict.fromkeys(job_ids, deadline_ms))
        pipe.pexpire(key, self.index_ttl_ms)

    async def index(self, job_id: str, *, deadline_ms: int | None = None) -> None:
        """Put the job in the deadline index (a run starts, or is handed over: then its
        deadline is now)."""
        deadline = now_ms() + int(self.lease_ttl_s * 1000) if deadline_ms is None else deadline_ms
        with unavailable_as_domain_error():
            async with self.redis.pipeline(transaction=False) as pipe:
                self._queue_deadlines(pipe, [job_id], deadline)
                await pipe.execute()

    async def lapsed(self, *, limit: int) -> list[str]:
        """Up to ``limit`` jobs whose lease deadline has passed, the oldest first: one
        ``ZRANGEBYSCORE … LIMIT``, whatever the number of jobs."""
        key = self.keys.lease_deadlines()
        with unavailable_as_domain_error():
            due: list[str] = await self.redis.zrangebyscore(key, "-inf", now_ms(), 0, limit)  # type: ignore[assignment]
        return due

    async def forget(self, job_ids: list[str]) -> None:
        """Take jobs that no longer run out of the deadline index."""
        if job_ids:
            with unavailable_as_domain_error():
                await self.redis.zrem(self.keys.lease_deadlines(), *job_ids)

    def queue_present(self, pipe: Pipeline, job_id: str, stream_id: str) -> None:
        """Queue marking stream ``stream_id`` as attached to the job for one lease TTL."""
        ttl_ms = int(self.lease_ttl_s * 1000)
        PRESENT.queue(pipe, [self.keys.readers(job_id)], [stream_id, ttl_ms])

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
