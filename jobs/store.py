"""The job record in Redis: create, load, claim atomically, finish.

Claiming is one Lua script so that "is it pending, and is it yours?" and "it is running now"
happen as one step: two simultaneous attaches (on one instance or several) can never both see
``pending``, so the agent runs exactly once per job. Finishing is one MULTI transaction that
stores the terminal event and settles the record, so a reader never sees one without the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobs.connection import Redis, unavailable_as_domain_error
from jobs.events import EventLog, StoredEvent, dumps
from jobs.keys import Keys
from jobs.model import Job, JobStatus, now_ms

# KEYS[1] job hash; ARGV owner, startedAt, runner, ttl_ms.
# Returns nil (no job), or {claimed (0|1), field, value, ...}.
_CLAIM = """
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return nil end
local owner, status
for i = 1, #fields, 2 do
  if fields[i] == 'owner' then owner = fields[i + 1] end
  if fields[i] == 'status' then status = fields[i + 1] end
end
if owner ~= ARGV[1] or status ~= 'pending' then
  table.insert(fields, 1, 0)
  return fields
end
redis.call('HSET', KEYS[1], 'status', 'running', 'startedAt', ARGV[2], 'runner', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local claimed = redis.call('HGETALL', KEYS[1])
table.insert(claimed, 1, 1)
return claimed
"""


@dataclass(frozen=True, slots=True)
class Lifetimes:
    """How long each kind of key lives, in seconds."""

    pending_s: int  # JOB_TTL_S
    running_s: int  # an upper bound on one run, with room to finish
    resume_grace_s: int  # RESUME_GRACE_S
    failed_retention_s: int  # FAILED_RETENTION_S


class JobStore:
    """The job HASHes of one key prefix, and the terminal transaction over HASH and STREAM."""

    def __init__(self, redis: Redis, keys: Keys, events: EventLog, lifetimes: Lifetimes) -> None:
        self.redis = redis
        self.keys = keys
        self.events = events
        self.lifetimes = lifetimes
        self._claim = redis.register_script(_CLAIM)

    async def ping(self) -> None:
        with unavailable_as_domain_error():
            await self.redis.ping()

    async def create(self, job: Job) -> None:
        """Store a new pending job with its ``JOB_TTL_S`` lifetime."""
        key = self.keys.job(job.id)
        with unavailable_as_domain_error():
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping=job.to_hash())  # type: ignore[arg-type]
                pipe.expire(key, self.lifetimes.pending_s)
                await pipe.execute()

    async def get(self, job_id: str) -> Job | None:
        with unavailable_as_domain_error():
            fields: dict[str, str] = await self.redis.hgetall(self.keys.job(job_id))  # type: ignore[assignment]
        return Job.from_hash(fields) if fields else None

    async def ttl_s(self, job_id: str) -> int | None:
        """Seconds the job record has left, or None if it has none (or no record)."""
        with unavailable_as_domain_error():
            ttl = await self.redis.ttl(self.keys.job(job_id))
        return ttl if ttl >= 0 else None

    async def claim(self, job_id: str, owner: str, runner: str) -> tuple[Job, bool] | None:
        """Load the job and, if ``owner``'s and pending, mark it running in the same step.

        Returns None for no job, else the job as it now is and whether this call claimed it.
        """
        ttl_ms = self.lifetimes.running_s * 1000
        with unavailable_as_domain_error():
            reply: list[Any] | None = await self._claim(
                keys=[self.keys.job(job_id)], args=[owner, now_ms(), runner, ttl_ms]
            )
        if reply is None:
            return None
        claimed, *flat = reply
        fields = dict(zip(flat[::2], flat[1::2], strict=True))
        return Job.from_hash(fields), bool(claimed)

    async def finish(
        self, job: Job, event: str, data: dict[str, Any], status: JobStatus
    ) -> StoredEvent:
        """Store the terminal event and settle the job, in one transaction.

        Success deletes the record; the events stay ``RESUME_GRACE_S`` for late resumes. Any
        other ending keeps the record ``FAILED_RETENTION_S`` with its status and error.
        """
        encoded = dumps(data)
        key = self.keys.job(job.id)
        with unavailable_as_domain_error():
            async with self.redis.pipeline(transaction=True) as pipe:
                self.events.queue_terminal(
                    pipe,
                    job.id,
                    event,
                    encoded,
                    owner=job.owner,
                    ttl_s=self.lifetimes.resume_grace_s,
                )
                if status is JobStatus.COMPLETED:
                    pipe.delete(key)
                else:
                    # The whole record, not two fields: should the HASH have expired meanwhile,
                    # it is written back complete rather than as a fragment.
                    settled = job.to_hash() | {"status": status.value, "error": encoded}
                    pipe.hset(key, mapping=settled)  # type: ignore[arg-type]
                    pipe.expire(key, self.lifetimes.failed_retention_s)
                entry_id, *_ = await pipe.execute()
        return StoredEvent(str(entry_id), event, encoded)
