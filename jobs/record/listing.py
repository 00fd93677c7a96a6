"""Each user's index of their jobs, for ``GET /jobs``: ``jobs:user:<owner>:jobs``.

A ZSET of job ids scored by creation time (Unix ms), added to in the same round trip as the
job's record (``JobStore.create``). It is bounded twice: at most :data:`MAX_INDEXED` entries
(the oldest go first), and entries older than the longest a record can live (pending, then
running, then kept) are dropped on every addition; the key itself expires after that horizon
once its owner stops creating jobs. An entry whose record has expired is removed when a
listing meets it. The records stay the truth: the index only says which to read, newest first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from jobs.events import JobStatus
from jobs.record.model import Job
from jobs.redis.connection import Pipeline, Redis, ScriptArg, unavailable_as_domain_error
from jobs.redis.keys import Keys
from jobs.redis.script import Script

#: The most jobs one user's index holds (and so the most ``GET /jobs`` can page through).
MAX_INDEXED = 1000

#: A listing cursor: the creation time (ms) and id of the last job of the previous page.
CURSOR_RE = re.compile(r"([0-9]{1,15})-([0-9a-f]{32})")

INDEX_ADD = Script("jobs.record", "index_add", keys=1, args=4, includes=("listing",))


@dataclass(frozen=True, order=True, slots=True)
class Position:
    """Where a job sits in its owner's listing: newest first means the greatest first."""

    created_at_ms: int
    job_id: str

    @property
    def cursor(self) -> str:
        return f"{self.created_at_ms}-{self.job_id}"

    @classmethod
    def parse(cls, cursor: str) -> Position | None:
        match = CURSOR_RE.fullmatch(cursor)
        return cls(int(match[1]), match[2]) if match else None


@dataclass(frozen=True, slots=True)
class JobQuery:
    """What ``GET /jobs`` asks for: jobs after ``before`` (exclusive), of ``status`` and
    ``agent`` when given, at most ``limit``."""

    limit: int
    before: Position | None = None
    status: JobStatus | None = None
    agent: str | None = None

    def matches(self, job: Job) -> bool:
        return (self.status is None or job.status is self.status) and (
            self.agent is None or job.agent == self.agent
        )


class JobIndex:
    """The per-user job indexes of one key prefix."""

    def __init__(self, redis: Redis, keys: Keys, *, horizon_s: int) -> None:
        self.redis = redis
        self.keys = keys
        #: The longest a job's record can live: pending, running, then kept.
        self.horizon_s = horizon_s

    def script_args(self, created_at_ms: int) -> list[ScriptArg]:
        """What a script that adds a job to the index (after ``lua/listing.lua``) is given:
        the job's creation time, the bound and the horizon (create's ARGV[3..5])."""
        return [created_at_ms, MAX_INDEXED, self.horizon_s]

    def queue_add(self, pipe: Pipeline, owner: str, job_id: str, created_at_ms: int) -> None:
        """Add a new job to its owner's index, in ``pipe``."""
        args: list[ScriptArg] = [job_id, *self.script_args(created_at_ms)]
        INDEX_ADD.queue(pipe, [self.keys.user_jobs(owner)], args)

    async def newest(self, owner: str, before: Position | None = None) -> list[Position]:
        """The owner's indexed jobs, newest first, after ``before`` (exclusive) if given."""
        with unavailable_as_domain_error():
            entries: list[tuple[str, float]] = await self.redis.zrevrange(  # type: ignore[assignment]
                self.keys.user_jobs(owner), 0, -1, withscores=True
            )
        positions = sorted((Position(int(s), job_id) for job_id, s in entries), reverse=True)
        return [p for p in positions if before is None or p < before]

    async def remove(self, owner: str, job_ids: list[str]) -> None:
        """Forget jobs whose records are gone."""
        if job_ids:
            with unavailable_as_domain_error():
                await self.redis.zrem(self.keys.user_jobs(owner), *job_ids)
