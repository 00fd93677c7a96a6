"""Reading job keys straight from Redis, for operators (``python -m jobs ops``).

Everything here finds keys with SCAN (never KEYS, which blocks Redis while it walks the whole
keyspace) and reads them in pipelined batches, so it is safe against a production Redis. Key
names come from :mod:`jobs.redis.keys` only.

A job is what its keys say: the record (HASH) while it exists, else its event stream. After a
success the record is deleted at once while the events stay ``RESUME_GRACE_S``: such a job is
reported ``completed``, its owner read from the terminal event. A failed or cancelled job
keeps its record ``FAILED_RETENTION_S``, with the terminal ``error`` event in it.

Purging deletes one job's keys together, in one script that first checks the job still has
the status it was chosen for: a job that moved on meanwhile is left alone.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio.cluster import RedisCluster

from jobs.events import CANCEL_CODES, TERMINAL, JobStatus, now_ms, status_of
from jobs.record.pending import PendingIndex
from jobs.redis.connection import Redis, unavailable_as_domain_error
from jobs.redis.keys import Keys
from jobs.redis.script import Script

#: Jobs read per pipelined round trip.
BATCH = 200
#: What SCAN is asked to walk per call (a hint: larger is fewer round trips).
SCAN_COUNT = 1000
#: A job whose record is gone and whose stream has no terminal event (it expired mid-run).
UNKNOWN = "unknown"

PURGE = Script("jobs.ops", "purge", keys=(4, 5), args=1 + len(CANCEL_CODES))


@dataclass(slots=True)
class JobSummary:
    """One job as ``ops list`` shows it."""

    id: str
    status: str
    owner: str | None = None
    agent: str | None = None
    created_at_ms: int | None = None  # the record's createdAt, else the first event's time
    ttl_s: int | None = None  # of the record, else of the events
    events: int = 0
    error: dict[str, Any] | None = None
    runner: str | None = None
    lease: str | None = None  # the instance holding the run's lease

    @property
    def error_code(self) -> str | None:
        return self.error.get("code") if self.error else None

    def age_s(self, now: int | None = None) -> float | None:
        if self.created_at_ms is None:
            return None
        return ((now or now_ms()) - self.created_at_ms) / 1000

    def to_json(self) -> dict[str, Any]:
        return {
            "jobId": self.id,
            "status": self.status,
            "owner": self.owner,
            "agent": self.agent,
            "createdAt": self.created_at_ms,
            "ttlS": self.ttl_s,
            "events": self.events,
            "error": self.error,
            "runner": self.runner,
            "lease": self.lease,
        }


@dataclass(slots=True)
class StoredEntry:
    id: str
    event: str
    data: Any
    owner: str | None = None


@dataclass(slots=True)
class JobDetail:
    """One job as ``ops show`` shows it: its record, every key's TTL, readers and events."""

    summary: JobSummary
    record: dict[str, str]
    ttls_s: dict[str, int | None]
    readers: list[tuple[str, int]]
    entries: list[StoredEntry] = field(default_factory=list)


@dataclass(slots=True)
class Stats:
    by_status: dict[str, int]
    streams: int
    events: int
    job_keys: int
    job_memory_bytes: int
    other_keys: int
    other_memory_bytes: int
    redis_used_memory_bytes: int | None
    #: Custom agents: configuration, the one key family without a TTL.
    custom_agents: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "jobs": sum(self.by_status.values()),
            "byStatus": self.by_status,
            "streams": self.streams,
            "events": self.events,
            "jobKeys": self.job_keys,
            "jobMemoryBytes": self.job_memory_bytes,
            "otherKeys": self.other_keys,
            "otherMemoryBytes": self.other_memory_bytes,
            "redisUsedMemoryBytes": self.redis_used_memory_bytes,
            "customAgents": self.custom_agents,
        }


def _ttl(value: int) -> int | None:
    return value if value >= 0 else None


def _entry(raw: Any) -> StoredEntry:
    entry_id, fields = raw
    try:
        data = json.loads(fields.get("data", "null"))
    except ValueError:
        data = fields.get("data")
    return StoredEntry(entry_id, fields.get("event", "?"), data, fields.get("owner"))


def _terminal_status(entry: StoredEntry) -> str | None:
    if entry.event not in TERMINAL:
        return None
    code = entry.data.get("code") if isinstance(entry.data, dict) else None
    return status_of(entry.event, code).value


class Inspector:
    """Read-mostly access to one key prefix's jobs."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys
        self.pending = PendingIndex(redis, keys, cluster=isinstance(redis, RedisCluster))

    async def job_ids(self) -> AsyncIterator[str]:
        """Every job with a key under the prefix, each once (SCAN; a job whose keys appear
        or vanish during the scan may be missed, as SCAN guarantees)."""
        seen: set[str] = set()
        with unavailable_as_domain_error():
            async for key in self.redis.scan_iter(
                match=self.keys.job_keys_pattern, count=SCAN_COUNT
            ):
                job_id = self.keys.job_id_of(key)
                if job_id is not None and job_id not in seen:
                    seen.add(job_id)
                    yield job_id

    async def summaries(self, job_ids: list[str]) -> list[JobSummary]:
        """The jobs named, read in pipelined batches; jobs with no record and no events (their
        keys expired meanwhile, or only a lease was left) are left out."""
        found: list[JobSummary] = []
        for start in range(0, len(job_ids), BATCH):
            batch = job_ids[start : start + BATCH]
            pipe = self.redis.pipeline(transaction=False)
            for job_id in batch:
                events = self.keys.events(job_id)
                pipe.hgetall(self.keys.job(job_id))
                pipe.ttl(self.keys.job(job_id))
                pipe.ttl(events)
                pipe.xlen(events)
                pipe.xrange(events, count=1)
                pipe.xrevrange(events, count=1)
                pipe.get(self.keys.lease(job_id))
            with unavailable_as_domain_error():
                replies = await pipe.execute()
            for index, job_id in enumerate(batch):
                summary = _summarize(job_id, *replies[index * 7 : index * 7 + 7])
                if summary is not None:
                    found.append(summary)
        return found

    async def find(
        self, *, status: str | None = None, owner: str | None = None
    ) -> list[JobSummary]:
        """Every job, oldest first, optionally only those with ``status`` / ``owner``."""
        job_ids = [job_id async for job_id in self.job_ids()]
        jobs = await self.summaries(job_ids)
        jobs = [
            job
            for job in jobs
            if (status is None or job.status == status) and (owner is None or job.owner == owner)
        ]
        jobs.sort(key=lambda job: (job.created_at_ms or 0, job.id))
        return jobs

    async def detail(self, job_id: str) -> JobDetail | None:
        """Everything stored about one job, or None if nothing is."""
        summaries = await self.summaries([job_id])
        if not summaries:
            return None
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(self.keys.job(job_id))
        for key in self.keys.job_keys(job_id):
            pipe.ttl(key)
        pipe.zrange(self.keys.readers(job_id), 0, -1, withscores=True)
        pipe.xrange(self.keys.events(job_id))
        with unavailable_as_domain_error():
            record, *rest = await pipe.execute()
        ttls, readers, entries = rest[:4], rest[4], rest[5]
        names = ("record", "events", "lease", "readers")
        return JobDetail(
            summary=summaries[0],
            record=record,
            ttls_s={
                name: (ttl if ttl >= 0 else None)
                for name, ttl in zip(names, ttls, strict=True)
                if ttl != -2
            },
            readers=[(member, int(score)) for member, score in readers],
            entries=[_entry(raw) for raw in entries],
        )

    async def follow(self, job_id: str, after_id: str = "0-0") -> AsyncIterator[StoredEntry | None]:
        """The job's stored events after ``after_id`` as they arrive; None on an idle second."""
        key = self.keys.events(job_id)
        last_id = after_id
        while True:
            with unavailable_as_domain_error():
                response: Any = await self.redis.xread({key: last_id}, count=500, block=1000)
            if not response:
                yield None
                continue
            for raw in response[0][1]:
                last_id = raw[0]
                yield _entry(raw)

    async def purge(self, job: JobSummary) -> bool:
        """Delete ``job``'s keys if it still has the status it had when listed."""
        keys = self.keys.job_keys(job.id) + self.pending.script_keys()
        with unavailable_as_domain_error():
            deleted = await PURGE.call(self.redis, keys, [job.status, *sorted(CANCEL_CODES)])
        if deleted and self.pending.separate:
            await self.pending.remove(job.id)
        return bool(deleted)

    async def stats(self) -> Stats:
        """Counts by status, streams and events, and the memory the prefix's keys use."""
        job_keys: list[str] = []
        other_keys: list[str] = []
        with unavailable_as_domain_error():
            async for key in self.redis.scan_iter(match=self.keys.all_pattern, count=SCAN_COUNT):
                (job_keys if self.keys.job_id_of(key) else other_keys).append(key)
        job_ids = sorted({job_id for key in job_keys if (job_id := self.keys.job_id_of(key))})
        jobs = await self.summaries(job_ids)
        by_status: dict[str, int] = {status.value: 0 for status in JobStatus}
        for job in jobs:
            by_status[job.status] = by_status.get(job.status, 0) + 1
        streams = sum(1 for key in job_keys if key.endswith(":events"))
        with unavailable_as_domain_error():
            memory = await self._memory(job_keys), await self._memory(other_keys)
            info: dict[str, Any] = await self.redis.info("memory")
        used = info.get("used_memory")
        return Stats(
            by_status=by_status,
            streams=streams,
            events=sum(job.events for job in jobs),
            job_keys=len(job_keys),
            job_memory_bytes=memory[0],
            other_keys=len(other_keys),
            other_memory_bytes=memory[1],
            redis_used_memory_bytes=int(used) if used is not None else None,
            custom_agents=sum(1 for key in other_keys if self.keys.is_custom_agent(key)),
        )

    async def _memory(self, keys: list[str]) -> int:
        total = 0
        for start in range(0, len(keys), BATCH):
            pipe = self.redis.pipeline(transaction=False)
            for key in keys[start : start + BATCH]:
                pipe.memory_usage(key)
            total += sum(size or 0 for size in await pipe.execute())
        return total


def _summarize(
    job_id: str,
    record: dict[str, str],
    record_ttl: int,
    events_ttl: int,
    length: int,
    first: list[Any],
    last: list[Any],
    lease: str | None,
) -> JobSummary | None:
    terminal = _entry(last[0]) if last else None
    first_ms = int(first[0][0].partition("-")[0]) if first else None
    if record:
        error = record.get("error")
        return JobSummary(
            id=job_id,
            status=record.get("status", UNKNOWN),
            owner=record.get("owner"),
            agent=record.get("agent"),
            created_at_ms=int(record["createdAt"]) if "createdAt" in record else first_ms,
            ttl_s=_ttl(record_ttl),
            events=length,
            error=json.loads(error) if error else None,
            runner=record.get("runner"),
            lease=lease,
        )
    if terminal is None and not length:
        return None
    status = (_terminal_status(terminal) if terminal else None) or UNKNOWN
    error = terminal.data if terminal and terminal.event == "error" else None
    return JobSummary(
        id=job_id,
        status=status,
        owner=terminal.owner if terminal else None,
        created_at_ms=first_ms,
        ttl_s=_ttl(events_ttl),
        events=length,
        error=error if isinstance(error, dict) else None,
        lease=lease,
    )
