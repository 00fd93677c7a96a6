"""The job record in Redis: create, claim, settle — each one atomic Lua script.

Scripts, not check-then-set, so that every decision about a job is taken in one step no matter
how many instances race for it:

- **create** — the new pending record, with its TTL; on a standalone Redis it also takes the
  snapshot of the owner's active custom agent (``jobs.record.custom_agents``) and enters the
  job in its owner's index and the pending-jobs index in the same step, so ``POST /jobs`` is
  one script by digest, or one pipeline with a rate limit (on a Redis Cluster those keys are in
  other slots: the service reads the custom agent first, and the pipeline carries the
  indexes' commands);
- **claim** — "is it pending, and is it yours?" and "it is running now, under my lease" at
  once: two simultaneous attaches (on one instance or several) can never both start the agent;
- **finish** — the runner stores its terminal event and settles the record, but only while the
  job is still ``running`` under *its* name: after a cancel or a ``RUNNER_LOST`` verdict it can
  no longer add a second ending;
- **cancel** — a pending job, or a running one whose runner is gone, is cancelled on the spot;
  a running one is flagged, and its runner (told through its inbox) ends it;
- **declare_lost** — a reader that finds a running job without a lease ends it as
  ``RUNNER_LOST``; the script settles it exactly once, however many readers notice;
- **current** — reading a job's status settles it the same way, so ``GET /jobs/{id}`` never
  reports ``running`` for a job whose runner is gone.

Settling a job stores the terminal event (with the owner, so a late resume can still be
authorised after the record is gone), gives the events ``RESUME_GRACE_S`` to live, deletes
the record on success or keeps it ``FAILED_RETENTION_S`` otherwise, and drops lease and
readers. All keys a script touches share the job's hash tag (Redis Cluster-safe), except the
custom agent's key that create reads and the two indexes create keeps (the owner's jobs,
``jobs.record.listing``; the pending jobs, ``jobs.record.pending``, which claim, unclaim and
cancel keep too): a script is given those only on a standalone Redis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio.cluster import RedisCluster

from jobs.delivery.eventlog import EventLog
from jobs.errors import LimitExceeded
from jobs.events import JobStatus, StoredEvent, dumps, now_ms
from jobs.record.custom_agents import snapshot
from jobs.record.limits import Check
from jobs.record.listing import JobIndex, JobQuery, Position
from jobs.record.model import Job
from jobs.record.pending import PendingIndex
from jobs.record.replies import (
    CancelOutcome,
    Claim,
    LeaseVerdict,
    Takeover,
    claim_of,
    current_of,
)
from jobs.redis.connection import Redis, ScriptArg, unavailable_as_domain_error
from jobs.redis.keys import Keys
from jobs.redis.script import Script

# The scripts (``lua/``; their KEYS and ARGV at the top of each file). The ones that end a job
# share the settle step (settle.lua: ARGV[1..4] grace_s, retention_s, maxlen, result_ttl_s);
# the ones that may declare a run lost also take the takeover bounds (bounds.lua: ARGV[6..7]
# max_takeovers, run_timeout_ms) beside the RUNNER_LOST error's data (ARGV[5]). Their keys are
# the job's four, and the two webhook keys when webhooks are on.
_SETTLES = ("settle",)
_BOUNDED = ("settle", "bounds")
_SETTLE_KEYS = (4, 6)
CREATE = Script(
    "jobs.record", "create", keys=(1, 3, 4), args=(2, 5), includes=("pending", "listing")
)
CLAIM = Script("jobs.record", "claim", keys=(3, 4), args=7)
UNCLAIM = Script("jobs.record", "unclaim", keys=(2, 3), args=2, includes=("pending",))
FINISH = Script("jobs.record", "finish", keys=_SETTLE_KEYS, args=8, includes=_SETTLES)
CANCEL = Script("jobs.record", "cancel", keys=(4, 5, 6, 7), args=7, includes=_SETTLES)
DECLARE_LOST = Script("jobs.record", "declare_lost", keys=_SETTLE_KEYS, args=7, includes=_BOUNDED)
CURRENT = Script("jobs.record", "current", keys=_SETTLE_KEYS, args=7, includes=_BOUNDED)
TAKE_OVER = Script("jobs.record", "take_over", keys=_SETTLE_KEYS, args=9, includes=_BOUNDED)
HAND_OVER = Script("jobs.record", "hand_over", keys=2, args=1)


@dataclass(frozen=True, slots=True)
class Lifetimes:
    """How long each kind of key lives, in seconds."""

    pending_s: int  # JOB_TTL_S
    running_s: int  # an upper bound on one run, with room to finish
    resume_grace_s: int  # RESUME_GRACE_S
    failed_retention_s: int  # FAILED_RETENTION_S
    lease_ttl_s: float = 15  # LEASE_TTL_S
    result_ttl_s: int = 0  # RESULT_TTL_S (0: a completed job's record is deleted at once)
    run_timeout_s: float = 300  # RUN_TIMEOUT_S, from a run's first start
    max_takeovers: int = 2  # MAX_TAKEOVERS


def _horizon_s(lifetimes: Lifetimes) -> int:
    """The longest a job's record can live: pending, running, then kept."""
    kept_s = max(lifetimes.result_ttl_s, lifetimes.failed_retention_s)
    return lifetimes.pending_s + lifetimes.running_s + kept_s


class JobStore:
    """The job HASHes of one key prefix, and the scripts that decide a job's fate."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        events: EventLog,
        lifetimes: Lifetimes,
        *,
        webhooks: bool = False,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.events = events
        self.lifetimes = lifetimes
        #: Whether ``redis`` is a Redis Cluster client: then no script may touch a job's keys
        #: and another key (different slots), so :meth:`create` takes no custom agent's key.
        self.cluster = isinstance(redis, RedisCluster)
        #: Whether settling a job enqueues its webhook (``WEBHOOK_URL`` set).
        self.webhooks = webhooks
        self.index = JobIndex(redis, keys, horizon_s=_horizon_s(lifetimes))
        self.pending = PendingIndex(redis, keys, cluster=self.cluster)

    async def ping(self) -> None:
        with unavailable_as_domain_error():
            await self.redis.ping()

    async def create(
        self, job: Job, *, check: Check | None = None, custom_agent: str | None = None
    ) -> dict[str, Any] | None:
        """Store a new pending job with its ``JOB_TTL_S`` lifetime, in the same round trip as
        ``check`` (a per-user limit); a refused check removes the record again (the rare path
        pays a second round trip) and raises.

        ``custom_agent`` is the owner's custom agent's key, on a standalone Redis only (see
        :attr:`cluster`): if that agent is active, the same script stores its snapshot in the
        record, and the snapshot is returned (as :func:`jobs.record.custom_agents.snapshot` makes
        it); None when it took none. ``job.custom_agent`` must then be None: the script
        takes the snapshot, not the caller."""
        assert custom_agent is None or (job.custom_agent is None and not self.cluster)
        flat = orjson.dumps([part for item in job.to_hash().items() for part in item])
        keys = [self.keys.job(job.id)]
        args: list[ScriptArg] = [self.lifetimes.pending_s, flat]
        if not self.cluster:  # the script keeps both indexes too
            keys += [self.pending.key, self.keys.user_jobs(job.owner)]
            args += self.index.script_args(job.created_at_ms)
            if custom_agent is not None:
                keys.append(custom_agent)
        if self.cluster:
            checked, taken = await self._create_on_cluster(job, check, keys, args)
        else:
            checked, taken = await self._checked(check, CREATE, keys, args)
        if check is not None:
            try:
                check.verdict(checked)
            except LimitExceeded:
                await self.discard(job)
                raise
        return snapshot(*taken) if taken else None

    async def _create_on_cluster(
        self, job: Job, check: Check | None, keys: list[str], args: list[ScriptArg]
    ) -> tuple[Any, Any]:
        """:meth:`_checked` for create on a cluster: the indexes are in other slots than the
        job's, so their commands of their own ride in the same pipeline."""
        with unavailable_as_domain_error():
            async with self.redis.pipeline(transaction=False) as pipe:
                if check is not None:
                    check.queue(pipe)
                self.index.queue_add(pipe, job.owner, job.id, job.created_at_ms)
                # Before the record: a claim's removal comes after it.
                self.pending.queue_add(pipe, job.id, self.lifetimes.pending_s)
                CREATE.queue(pipe, keys, args)
                replies: list[Any] = await pipe.execute()
        return (replies[0] if check is not None else None), replies[-1]

    async def _checked(
        self, check: Check | None, script: Script, keys: list[str], args: list[ScriptArg]
    ) -> tuple[Any, Any]:
        """Run ``script`` after ``check`` (a per-user limit, if on) in one round trip; return
        the check's reply (None without one) and the script's.

        With a check, a pipeline of the two; without, the script alone: a pipeline of one
        costs more (redis-py gives its connection back through a new task).
        """
        with unavailable_as_domain_error():
            if check is None:
                return None, await script.call(self.redis, keys, args)
            async with self.redis.pipeline(transaction=False) as pipe:
                check.queue(pipe)
                script.queue(pipe, keys, args)
                checked, reply = await pipe.execute()
        return checked, reply

    async def discard(self, job: Job) -> None:
        """Remove a job that was created but must not exist (its creation was refused)."""
        with unavailable_as_domain_error():
            await self.redis.delete(self.keys.job(job.id))
        await self.index.remove(job.owner, [job.id])
        await self.pending.remove(job.id)

    async def get(self, job_id: str) -> Job | None:
        with unavailable_as_domain_error():
            fields: dict[str, str] = await self.redis.hgetall(self.keys.job(job_id))  # type: ignore[assignment]
        return Job.from_hash(fields) if fields else None

    async def current(self, job_id: str, lost: dict[str, Any]) -> tuple[Job | None, bool]:
        """The job as it is now, and whether this call ended it: a ``running`` job whose
        lease has expired and that may not be taken over again (``MAX_TAKEOVERS``,
        ``RUN_TIMEOUT_S``) is settled as failed with ``lost`` (the ``RUNNER_LOST`` error) in
        the same step, so its status and its stream agree; one that may stays ``running``
        until a live instance takes it over."""
        args: list[ScriptArg] = [*self._settle_args(), dumps(lost), *self._bounds()]
        with unavailable_as_domain_error():
            flat: list[str] = await CURRENT.call(self.redis, self._settle_keys(job_id), args)
        return current_of(flat)

    async def ttl_s(self, job_id: str) -> int | None:
        """Seconds the job record has left, or None if it has none (or no record)."""
        with unavailable_as_domain_error():
            ttl = await self.redis.ttl(self.keys.job(job_id))
        return ttl if ttl >= 0 else None

    async def claim(
        self, job_id: str, owner: str, runner: str, reader: str = "", *, check: Check | None = None
    ) -> Claim | None:
        """Load the job and, if ``owner``'s and pending, mark it running under ``runner``'s
        lease in the same step (``runner`` "": never; a draining instance starts no runs);
        ``reader`` (a stream id) is marked present on the job if the owner may watch it.
        ``check`` (a per-user limit) travels in the same round trip; if it
        refuses, a claim this call made is undone and the refusal raised. None: no such job."""
        lease_ms = int(self.lifetimes.lease_ttl_s * 1000)
        keys = [self.keys.job(job_id), self.keys.lease(job_id), self.keys.readers(job_id)]
        keys += self.pending.script_keys()
        args: list[ScriptArg] = [owner, now_ms(), runner, self.lifetimes.running_s * 1000, lease_ms]
        checked, reply = await self._checked(check, CLAIM, keys, [*args, reader, lease_ms])
        claim = claim_of(reply)
        if claim is not None and claim.claimed and self.pending.separate:
            await self.pending.remove(job_id)
        if check is not None:
            try:
                check.verdict(checked)
            except LimitExceeded:
                if claim is not None and claim.claimed:
                    await self.unclaim(job_id, runner)
                raise
        return claim

    async def unclaim(self, job_id: str, runner: str) -> None:
        """Put a job ``runner`` just claimed back to pending (its stream was refused)."""
        keys = [self.keys.job(job_id), self.keys.lease(job_id), *self.pending.script_keys()]
        with unavailable_as_domain_error():
            undone = await UNCLAIM.call(self.redis, keys, [runner, self.lifetimes.pending_s])
        if undone and self.pending.separate:
            await self.pending.add(job_id, self.lifetimes.pending_s)

    async def finish(
        self, job: Job, runner: str, event: str, data: dict[str, Any], status: JobStatus
    ) -> StoredEvent | None:
        """Store ``runner``'s terminal event and settle the job; None if the job is no longer
        running under ``runner`` (cancelled, or declared lost, meanwhile)."""
        encoded = dumps(data)
        args: list[ScriptArg] = [*self._settle_args(), runner, status.value, event, encoded]
        with unavailable_as_domain_error():
            entry_id = await FINISH.call(self.redis, self._settle_keys(job.id), args)
        return StoredEvent(str(entry_id), event, encoded) if entry_id else None

    async def cancel(
        self, job_id: str, owner: str, data: dict[str, Any]
    ) -> tuple[CancelOutcome, str]:
        """Cancel ``owner``'s job: at once if pending or orphaned; by request if running
        (``("requested", runner)``: the caller must tell that runner); ``("cancelled",
        agent)`` when this call ended it."""
        indexed = self.pending.script_keys()
        args: list[ScriptArg] = [*self._settle_args(), owner, dumps(data), "1" if indexed else ""]
        keys = self._settle_keys(job_id) + indexed
        with unavailable_as_domain_error():
            outcome, detail = await CANCEL.call(self.redis, keys, args)
        if outcome == "cancelled" and self.pending.separate:  # (an orphaned run is not in it)
            await self.pending.remove(job_id)
        return outcome, detail

    async def declare_lost(self, job_id: str, data: dict[str, Any]) -> LeaseVerdict:
        """End a running job whose lease has expired and that may not be taken over again
        (``'lost:<why>'``), or say it is ``'alive'``, ``'orphaned'`` (a live instance may take
        it over) or ``'not-running'``."""
        args: list[ScriptArg] = [*self._settle_args(), dumps(data), *self._bounds()]
        with unavailable_as_domain_error():
            verdict: str = await DECLARE_LOST.call(self.redis, self._settle_keys(job_id), args)
        return LeaseVerdict(verdict)

    async def declare_lost_many(
        self, job_ids: list[str], data: dict[str, Any]
    ) -> list[LeaseVerdict]:
        """:meth:`declare_lost` for many jobs in one round trip; the verdicts in the order of
        ``job_ids``."""
        args: list[ScriptArg] = [*self._settle_args(), dumps(data), *self._bounds()]
        with unavailable_as_domain_error():
            async with self.redis.pipeline(transaction=False) as pipe:
                for job_id in job_ids:
                    DECLARE_LOST.queue(pipe, self._settle_keys(job_id), args)
                verdicts: list[str] = await pipe.execute()
        return [LeaseVerdict(verdict) for verdict in verdicts]

    async def page(
        self, owner: str, query: JobQuery, lost: dict[str, Any]
    ) -> tuple[list[Job], Position | None, int]:
        """A page of ``owner``'s jobs matching ``query``, newest first; the position to go on
        from (None: the last page); and how many running jobs it found lost and settled
        (each read as :meth:`current` reads a job). Jobs whose records are gone leave the
        index."""
        found: list[Job] = []
        gone: list[str] = []
        lost_count = 0
        candidates = await self.index.newest(owner, query.before)
        batch_size = query.limit + 1
        for start in range(0, len(candidates), batch_size):
            batch = candidates[start : start + batch_size]
            jobs = await self._current_many(batch, lost)
            for position, (job, declared) in zip(batch, jobs, strict=True):
                lost_count += declared
                if job is None:
                    gone.append(position.job_id)
                elif job.owner == owner and query.matches(job):
                    found.append(job)
            if len(found) > query.limit:
                break
        await self.index.remove(owner, gone)
        more = len(found) > query.limit
        found = found[: query.limit]
        last = Position(found[-1].created_at_ms, found[-1].id) if more else None
        return found, last, lost_count

    async def _current_many(
        self, positions: list[Position], lost: dict[str, Any]
    ) -> list[tuple[Job | None, bool]]:
        """:meth:`current` for several jobs in one round trip."""
        args: list[ScriptArg] = [*self._settle_args(), dumps(lost), *self._bounds()]
        with unavailable_as_domain_error():
            async with self.redis.pipeline(transaction=False) as pipe:
                for position in positions:
                    CURRENT.queue(pipe, self._settle_keys(position.job_id), args)
                replies: list[list[str]] = await pipe.execute()
        return [current_of(flat) for flat in replies]

    async def take_over(self, job_id: str, instance: str, lost: dict[str, Any]) -> Takeover:
        """Claim a running job whose lease lapsed for ``instance`` (see :class:`Takeover`);
        exactly one of any number of simultaneous attempts claims it."""
        lease_ms = int(self.lifetimes.lease_ttl_s * 1000)
        args: list[ScriptArg] = [
            *self._settle_args(), dumps(lost), *self._bounds(), instance, lease_ms
        ]  # fmt: skip
        with unavailable_as_domain_error():
            reply: list[str] = await TAKE_OVER.call(self.redis, self._settle_keys(job_id), args)
        verdict, rest = LeaseVerdict(reply[0]), reply[1:]
        if verdict is not LeaseVerdict.CLAIMED:
            previous, owner = [*rest, "", ""][:2]
            return Takeover(verdict, previous, owner=owner)
        previous, handed_over, *flat = rest
        fields = dict(zip(flat[::2], flat[1::2], strict=True))
        stored_id = fields.get("storedId") or "0-0"
        return Takeover(verdict, previous, handed_over == "1", Job.from_hash(fields), stored_id)

    async def hand_over(self, job_id: str, runner: str) -> bool:
        """Give up ``runner``'s lease on the job so that a live instance takes it over now."""
        keys = [self.keys.job(job_id), self.keys.lease(job_id)]
        with unavailable_as_domain_error():
            released: int = await HAND_OVER.call(self.redis, keys, [runner])
        return bool(released)

    def _bounds(self) -> list[ScriptArg]:
        lifetimes = self.lifetimes
        return [lifetimes.max_takeovers, int(lifetimes.run_timeout_s * 1000)]

    def _settle_keys(self, job_id: str) -> list[str]:
        keys = self.keys
        names = [keys.job(job_id), keys.events(job_id), keys.lease(job_id), keys.readers(job_id)]
        if self.webhooks:
            names += [keys.webhook(job_id), keys.webhooks_due()]
        return names

    def _settle_args(self) -> list[ScriptArg]:
        lifetimes = self.lifetimes
        return [
            lifetimes.resume_grace_s,
            lifetimes.failed_retention_s,
            self.events.maxlen,
            lifetimes.result_ttl_s,
        ]
