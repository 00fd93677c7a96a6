"""The job record in Redis: create, claim, settle — each one atomic Lua script.

Scripts, not check-then-set, so that every decision about a job is taken in one step no matter
how many instances race for it:

- **create** — the new pending record, with its TTL; on a standalone Redis it also takes the
  snapshot of the owner's active custom agent (``jobs.custom_agents``) in the same step, so
  ``POST /jobs`` is one round trip (on a Redis Cluster that key is in another slot: the
  service reads it first);
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
custom agent's key that create reads and the pending-jobs index (``jobs.pending``) that create,
claim, unclaim and cancel keep, which they are given only on a standalone Redis.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript

from jobs.connection import Redis, ScriptArg, unavailable_as_domain_error
from jobs.custom_agents import snapshot
from jobs.errors import LimitExceeded
from jobs.eventlog import EventLog
from jobs.events import JobStatus, StoredEvent, dumps, now_ms
from jobs.keys import Keys
from jobs.limits import Check
from jobs.listing import JobIndex, JobQuery, Position
from jobs.model import Job
from jobs.pending import ADD_FUNCTION, PendingIndex

# KEYS: job, events, lease, readers[, webhook, webhooks_due].
# ARGV[1..4]: grace_s, retention_s, maxlen, result_ttl_s.
# The record is kept, compacted, for result_ttl_s (a failure or cancel at least retention_s);
# a completed job's input goes (only its result matters now), and its complete event's data is
# kept as 'complete'; 0 deletes it at once.
# With the two webhook keys (webhooks on), settling also records the job's delivery and makes it
# due at once, in the same step: whichever instance settles, and even if it dies right after,
# the delivery is there for any instance's sweep.
_SETTLE = """
local function settle(status, event, data, owner)
  if KEYS[6] then
    local t = redis.call('TIME')
    local at = t[1] * 1000 + math.floor(t[2] / 1000)
    local job_id = string.match(KEYS[1], '{([0-9a-f]+)}$')
    redis.call('HSET', KEYS[5], 'jobId', job_id, 'owner', owner,
               'agent', redis.call('HGET', KEYS[1], 'agent') or '', 'status', status,
               'traceparent', redis.call('HGET', KEYS[1], 'traceparent') or '',
               'data', data, 'endedAt', at, 'attempts', 0)
    -- 8 days: past any sensible retry bound; a dead letter's own TTL is set when it dies
    redis.call('EXPIRE', KEYS[5], 691200)
    redis.call('ZADD', KEYS[6], at, job_id)
  end
  local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*',
                        'event', event, 'data', data, 'owner', owner)
  redis.call('EXPIRE', KEYS[2], ARGV[1])
  local keep = tonumber(ARGV[4])
  if status ~= 'completed' then keep = math.max(keep, tonumber(ARGV[2])) end
  if keep <= 0 then
    redis.call('DEL', KEYS[1])
  else
    local t = redis.call('TIME')
    local finished = t[1] * 1000 + math.floor(t[2] / 1000)
    redis.call('HSET', KEYS[1], 'status', status, 'finishedAt', finished)
    if status == 'completed' then
      redis.call('HSET', KEYS[1], 'complete', data)
      redis.call('HDEL', KEYS[1], 'input')
    else
      redis.call('HSET', KEYS[1], 'error', data)
    end
    redis.call('HDEL', KEYS[1], 'cancel')
    redis.call('EXPIRE', KEYS[1], keep)
  end
  redis.call('DEL', KEYS[3], KEYS[4])
  return id
end
"""

# ARGV[5..8]: runner, status, event, data. Returns the entry id, or false if not ours to end.
_FINISH = (
    _SETTLE
    + """
local f = redis.call('HMGET', KEYS[1], 'owner', 'status', 'runner')
if f[2] ~= 'running' or f[3] ~= ARGV[5] then return false end
return settle(ARGV[6], ARGV[7], ARGV[8], f[1])
"""
)

# ARGV[5..6]: owner, data of the CANCELLED error; ARGV[7]: '1' when the last key is the
# pending-jobs index (standalone Redis). Returns {outcome, detail}.
_CANCEL = (
    _SETTLE
    + """
local f = redis.call('HMGET', KEYS[1], 'owner', 'status', 'runner', 'agent')
if not f[1] then return {'missing', ''} end
if f[1] ~= ARGV[5] then return {'forbidden', ''} end
-- jobs.pending: a pending job leaves the index
if f[2] == 'pending' and ARGV[7] == '1' then
  redis.call('ZREM', KEYS[#KEYS], string.match(KEYS[1], '{([0-9a-f]+)}$'))
end
local orphaned = f[2] == 'running' and redis.call('EXISTS', KEYS[3]) == 0
if f[2] == 'pending' or orphaned then
  settle('cancelled', 'error', ARGV[6], f[1])
  return {'cancelled', f[4] or ''}
end
if f[2] == 'running' then
  redis.call('HSET', KEYS[1], 'cancel', '1')
  return {'requested', f[3]}
end
return {'finished', f[2]}
"""
)

# Whether a run whose lease lapsed may be taken over once more: false, or why not (its
# takeovers are used up, or RUN_TIMEOUT_S has passed since its first start). ARGV[6..7]:
# max_takeovers, run_timeout_ms.
_BOUNDS = """
local function exhausted(started, takeovers)
  if tonumber(takeovers or '0') >= tonumber(ARGV[6]) then return 'max-takeovers' end
  local t = redis.call('TIME')
  local now = t[1] * 1000 + math.floor(t[2] / 1000)
  if now - tonumber(started or '0') >= tonumber(ARGV[7]) then return 'run-timeout' end
  return false
end
"""

# ARGV[5]: data of the RUNNER_LOST error; ARGV[6..7]: see _BOUNDS. Returns 'alive',
# 'not-running', 'orphaned' (no lease, but a live instance may take the run over) or
# 'lost:<why>' (settled as RUNNER_LOST here).
_DECLARE_LOST = (
    _SETTLE
    + _BOUNDS
    + """
local f = redis.call('HMGET', KEYS[1], 'owner', 'status', 'startedAt', 'takeovers')
if f[2] ~= 'running' then return 'not-running' end
if redis.call('EXISTS', KEYS[3]) == 1 then return 'alive' end
local why = exhausted(f[3], f[4])
if not why then return 'orphaned' end
settle('failed', 'error', ARGV[5], f[1])
return 'lost:' .. why
"""
)

# ARGV[5]: data of the RUNNER_LOST error; ARGV[6..7]: see _BOUNDS. Returns the record's
# fields (empty: no record), after settling a running job whose lease has expired and that may
# not be taken over again as RUNNER_LOST; then 'lost:<why>' first.
_CURRENT = (
    _SETTLE
    + _BOUNDS
    + """
local f = redis.call('HMGET', KEYS[1], 'owner', 'status', 'startedAt', 'takeovers')
if f[2] == 'running' and redis.call('EXISTS', KEYS[3]) == 0 then
  local why = exhausted(f[3], f[4])
  if why then
    settle('failed', 'error', ARGV[5], f[1])
    local fields = redis.call('HGETALL', KEYS[1])
    table.insert(fields, 1, 'lost:' .. why)
    return fields
  end
end
return redis.call('HGETALL', KEYS[1])
"""
)

# ARGV[5]: data of the RUNNER_LOST error; ARGV[6..7]: see _BOUNDS; ARGV[8]: the instance
# taking over, ARGV[9]: lease_ms. A running job without a lease is claimed by that instance
# under a new runner name (``<instance>#<takeovers>``: the old runner's writes stay fenced off,
# even if it is the same instance) and a new lease; or settled as RUNNER_LOST when it may not
# be taken over again. Returns {'alive'|'not-running'}, {'lost:<why>', old runner, owner}, or
# {'claimed', old runner, handedOver ('' or '1'), field, value, ...}.
_TAKE_OVER = (
    _SETTLE
    + _BOUNDS
    + """
local f = redis.call('HMGET', KEYS[1], 'owner', 'status', 'startedAt', 'takeovers', 'runner',
                     'handedOver')
if f[2] ~= 'running' then return {'not-running'} end
if redis.call('EXISTS', KEYS[3]) == 1 then return {'alive'} end
local why = exhausted(f[3], f[4])
if why then
  settle('failed', 'error', ARGV[5], f[1])
  return {'lost:' .. why, f[5] or '', f[1]}
end
local k = tonumber(f[4] or '0') + 1
local runner = ARGV[8] .. '#' .. k
redis.call('HSET', KEYS[1], 'runner', runner, 'takeovers', k)
redis.call('HDEL', KEYS[1], 'handedOver')
redis.call('SET', KEYS[3], runner, 'PX', ARGV[9])
local fields = redis.call('HGETALL', KEYS[1])
table.insert(fields, 1, f[6] or '')
table.insert(fields, 1, f[5] or '')
table.insert(fields, 1, 'claimed')
return fields
"""
)

# KEYS: job, lease. ARGV: runner. A draining instance hands its run over: its lease goes at
# once (a live instance takes the run over at its next sweep) and the record says why.
_HAND_OVER = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'handedOver', '1')
return 1
"""

# KEYS: job, then on a standalone Redis only (on a cluster they are in other slots) the
# pending-jobs index and optionally the owner's custom agent. ARGV[1]: ttl_s, ARGV[2]: the
# record's fields, a JSON array of strings [field, value, ...] (one argument, not two per
# field: encoding arguments is most of a call's client cost; every value a string, so cjson
# returns each exactly). An active custom agent (isActive true) becomes the record's
# customAgent: its stored config, untouched (decoded only to check isActive: cjson would
# re-encode [] as {}, reorder keys and reformat numbers), with version and updatedAt appended,
# which Job.from_hash reads as the same snapshot that jobs.custom_agents.snapshot makes (same
# values, same key order; only the spelling differs from Job.to_hash's: non-ASCII stays UTF-8,
# and floats below 1e-4 are written as orjson writes them). Returns that agent's {config,
# version, updatedAt}, or nil.
_CREATE = (
    ADD_FUNCTION
    + """
local fields = cjson.decode(ARGV[2])
local agent = false
if KEYS[3] then
  agent = redis.call('HMGET', KEYS[3], 'config', 'version', 'updatedAt')
  if agent[1] and cjson.decode(agent[1]).isActive == true then
    fields[#fields + 1] = 'customAgent'
    fields[#fields + 1] = string.sub(agent[1], 1, -2)
      .. ',"version":' .. agent[2] .. ',"updatedAt":' .. agent[3] .. '}'
  else
    agent = false
  end
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('EXPIRE', KEYS[1], ARGV[1])
-- jobs.pending: the new job enters the index
if KEYS[2] then pending_add(KEYS[2], string.match(KEYS[1], '{([0-9a-f]+)}$'), ARGV[1] * 1000) end
return agent
"""
)

# KEYS: job, lease, readers[, the pending-jobs index (standalone Redis)]. ARGV: owner,
# startedAt, runner ('' claims nothing: a draining instance), ttl_ms, lease_ms, reader ('' for
# none), presence_ms. Returns nil (no job), or {claimed (0|1), field, value, ...}. A reader
# joining a job it may watch (its owner's, claimed here or running) is marked present at once.
_CLAIM = """
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return nil end
local owner, status
for i = 1, #fields, 2 do
  if fields[i] == 'owner' then owner = fields[i + 1] end
  if fields[i] == 'status' then status = fields[i + 1] end
end
local claimed = 0
if owner == ARGV[1] and status == 'pending' and ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], 'status', 'running', 'startedAt', ARGV[2], 'runner', ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[5])
  fields = redis.call('HGETALL', KEYS[1])
  claimed = 1
end
if owner == ARGV[1] and ARGV[6] ~= '' and (claimed == 1 or status == 'running') then
  local t = redis.call('TIME')
  local now = t[1] * 1000 + math.floor(t[2] / 1000)
  redis.call('ZADD', KEYS[3], now + ARGV[7], ARGV[6])
  redis.call('PEXPIRE', KEYS[3], ARGV[7] * 2)
end
-- jobs.pending: a claimed job leaves the index
if claimed == 1 and KEYS[4] then
  redis.call('ZREM', KEYS[4], string.match(KEYS[1], '{([0-9a-f]+)}$'))
end
table.insert(fields, 1, claimed)
return fields
"""

# KEYS: job, lease[, the pending-jobs index (standalone Redis)]. ARGV: runner, pending_s.
# Undoes a claim whose stream was refused.
_UNCLAIM = (
    ADD_FUNCTION
    + """
local f = redis.call('HMGET', KEYS[1], 'status', 'runner')
if f[1] ~= 'running' or f[2] ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'status', 'pending')
redis.call('HDEL', KEYS[1], 'startedAt', 'runner')
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[2])
-- jobs.pending: the job is pending again
if KEYS[3] then pending_add(KEYS[3], string.match(KEYS[1], '{([0-9a-f]+)}$'), ARGV[2] * 1000) end
return 1
"""
)

CancelOutcome = Literal["missing", "forbidden", "cancelled", "requested", "finished"]


@dataclass(frozen=True, slots=True)
class Claim:
    """The answer to a claim: the job as it now is, and whether this call claimed it (and so
    must run it)."""

    job: Job
    claimed: bool


def _claim(reply: list[Any] | None) -> Claim | None:
    if reply is None:
        return None
    claimed, *flat = reply
    fields = dict(zip(flat[::2], flat[1::2], strict=True))
    return Claim(Job.from_hash(fields), bool(claimed))


def _current(flat: list[str]) -> tuple[Job | None, bool]:
    """The current script's reply: the job (None: no record), and whether it was just lost."""
    declared = bool(flat) and flat[0].startswith("lost:")
    if declared:
        flat = flat[1:]
    fields = dict(zip(flat[::2], flat[1::2], strict=True))
    return (Job.from_hash(fields) if fields else None), declared


@dataclass(frozen=True, slots=True)
class Takeover:
    """What a takeover attempt found: ``verdict`` ``claimed`` (``job`` is now this instance's,
    under ``job.runner``; ``stored_id`` is the newest event stored), ``alive``,
    ``not-running`` or ``lost:<why>`` (settled as ``RUNNER_LOST``); ``previous`` the runner
    it had, ``handed_over`` whether that runner gave it up (a drain) rather than vanished."""

    verdict: str
    previous: str = ""
    handed_over: bool = False
    job: Job | None = None
    stored_id: str = "0-0"
    owner: str = ""  # of a job settled as lost


@dataclass(frozen=True, slots=True)
class Lifetimes:
    """How long each kind of key lives, in seconds."""

    pending_s: int  # JOB_TTL_S
    running_s: int  # an upper bound on one run, with room to finish
    resume_grace_s: int  # RESUME_GRACE_S
    failed_retention_s: int  # FAILED_RETENTION_S
    lease_s: float = 15  # LEASE_TTL_S
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
        self._claim = redis.register_script(_CLAIM)
        self._unclaim = redis.register_script(_UNCLAIM)
        self._finish = redis.register_script(_FINISH)
        self._cancel = redis.register_script(_CANCEL)
        self._declare_lost = redis.register_script(_DECLARE_LOST)
        self._current = redis.register_script(_CURRENT)
        self._take_over = redis.register_script(_TAKE_OVER)
        self._hand_over = redis.register_script(_HAND_OVER)

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
        record, and the snapshot is returned (as :func:`jobs.custom_agents.snapshot` makes
        it); None when it took none. ``job.custom_agent`` must then be None: the script
        takes the snapshot, not the caller."""
        assert custom_agent is None or (job.custom_agent is None and not self.cluster)
        flat = orjson.dumps([part for item in job.to_hash().items() for part in item])
        keys = [self.keys.job(job.id), *self.pending.script_keys()]
        if custom_agent is not None:
            keys.append(custom_agent)
        with unavailable_as_domain_error():
            async with self.redis.pipeline(transaction=False) as pipe:
                if check is not None:
                    check.queue(pipe)
                self.index.queue_add(pipe, job.owner, job.id, job.created_at_ms)
                if self.pending.separate:  # before the record: a claim's removal comes after
                    self.pending.queue_add(pipe, job.id, self.lifetimes.pending_s)
                pipe.eval(_CREATE, len(keys), *keys, self.lifetimes.pending_s, flat)
                replies = await pipe.execute()
        if check is not None:
            try:
                check.verdict(replies[0])
            except LimitExceeded:
                await self.discard(job)
                raise
        taken: list[str] | None = replies[-1]
        return snapshot(*taken) if taken else None

    async def _checked(
        self, check: Check | None, script: AsyncScript, keys: list[str], args: list[ScriptArg]
    ) -> tuple[Any, Any]:
        """Run ``script`` after ``check`` (a per-user limit, if on) in one round trip; return
        the check's reply (None without one) and the script's.

        With a check, a pipeline of the two (EVAL, not EVALSHA: see ``jobs.limits`` for why
        scripts in shared pipelines are); without, the script alone, by its digest: a pipeline
        of one costs more (redis-py gives its connection back through a new task).
        """
        with unavailable_as_domain_error():
            if check is None:
                return None, await script(keys=keys, args=args)
            async with self.redis.pipeline(transaction=False) as pipe:
                check.queue(pipe)
                source = script.script
                assert isinstance(source, str)  # registered from this module's constants
                pipe.eval(source, len(keys), *keys, *args)
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
            flat: list[str] = await self._current(keys=self._settle_keys(job_id), args=args)
        return _current(flat)

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
        lease_ms = int(self.lifetimes.lease_s * 1000)
        keys = [self.keys.job(job_id), self.keys.lease(job_id), self.keys.readers(job_id)]
        keys += self.pending.script_keys()
        args: list[ScriptArg] = [owner, now_ms(), runner, self.lifetimes.running_s * 1000, lease_ms]
        checked, reply = await self._checked(check, self._claim, keys, [*args, reader, lease_ms])
        claim = _claim(reply)
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
            undone = await self._unclaim(keys=keys, args=[runner, self.lifetimes.pending_s])
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
            entry_id = await self._finish(keys=self._settle_keys(job.id), args=args)
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
            outcome, detail = await self._cancel(keys=keys, args=args)
        if outcome == "cancelled" and self.pending.separate:  # (an orphaned run is not in it)
            await self.pending.remove(job_id)
        return outcome, detail

    async def declare_lost(self, job_id: str, data: dict[str, Any]) -> str:
        """End a running job whose lease has expired and that may not be taken over again
        (``'lost:<why>'``), or say it is ``'alive'``, ``'orphaned'`` (a live instance may take
        it over) or ``'not-running'``."""
        args: list[ScriptArg] = [*self._settle_args(), dumps(data), *self._bounds()]
        with unavailable_as_domain_error():
            verdict: str = await self._declare_lost(keys=self._settle_keys(job_id), args=args)
        return verdict

    async def declare_lost_many(self, job_ids: list[str], data: dict[str, Any]) -> list[str]:
        """:meth:`declare_lost` for many jobs in one round trip (EVAL in a shared pipeline,
        as in :mod:`jobs.limits`); the verdicts in the order of ``job_ids``."""
        args: list[ScriptArg] = [*self._settle_args(), dumps(data), *self._bounds()]
        with unavailable_as_domain_error():
            async with self.redis.pipeline(transaction=False) as pipe:
                for job_id in job_ids:
                    keys = self._settle_keys(job_id)
                    pipe.eval(_DECLARE_LOST, len(keys), *keys, *args)
                verdicts: list[str] = await pipe.execute()
        return verdicts

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
                    keys = self._settle_keys(position.job_id)
                    pipe.eval(_CURRENT, len(keys), *keys, *args)
                replies: list[list[str]] = await pipe.execute()
        return [_current(flat) for flat in replies]

    async def take_over(self, job_id: str, instance: str, lost: dict[str, Any]) -> Takeover:
        """Claim a running job whose lease lapsed for ``instance`` (see :class:`Takeover`);
        exactly one of any number of simultaneous attempts claims it."""
        lease_ms = int(self.lifetimes.lease_s * 1000)
        args: list[ScriptArg] = [
            *self._settle_args(), dumps(lost), *self._bounds(), instance, lease_ms
        ]  # fmt: skip
        with unavailable_as_domain_error():
            reply: list[str] = await self._take_over(keys=self._settle_keys(job_id), args=args)
        verdict, rest = reply[0], reply[1:]
        if verdict != "claimed":
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
            released: int = await self._hand_over(keys=keys, args=[runner])
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
