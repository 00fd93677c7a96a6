"""Who runs a job: its lease, and the deadline index that finds the runs whose lease lapsed.

- A runner holds ``jobs:{<id>}:lease`` (its instance id, ``LEASE_TTL_S`` expiry) and renews
  the leases of all its runs together, in one pipelined round trip, every third of the TTL.
  The renewal also reports whether the owner asked to cancel and how many streams are
  attached — what the runner needs to stop a cancelled or abandoned run.
- The readers it counts are the streams' presence entries (:mod:`jobs.delivery.presence`).
- ``jobs:leases`` indexes running jobs by lease deadline, so that live instances find the
  runs whose lease lapsed (their runner crashed, froze or handed them over) and take them
  over, at a bounded cost per sweep (no scan of the keyspace).
- Cancel requests reach the instance that runs the job through its inbox
  (:mod:`jobs.running.inbox`); the renewal's cancel flag is the fallback should one be missed.

:class:`Leases` also holds the job's :class:`~jobs.delivery.presence.Readers` (they live one
lease TTL) and the instances' :class:`~jobs.running.inbox.CancelInbox`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobs.delivery.presence import Readers
from jobs.events import now_ms
from jobs.redis.connection import Pipeline, Redis, unavailable_as_domain_error
from jobs.redis.keys import Keys
from jobs.redis.script import Script
from jobs.running.inbox import CancelInbox

RENEW = Script("jobs.running", "renew", keys=3, args=2)


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
        self.readers = Readers(redis, keys, ttl_s=lease_ttl_s)
        self.inbox = CancelInbox(redis, keys)

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
