"""The event log: a job's events in its Redis Stream.

Every event a client can resume from is stored as an entry of the job's STREAM
(``jobs:{<id>}:events``) with the fields ``event`` and ``data`` (a JSON object); the entry id
is the SSE ``id:``. The terminal entry (``complete`` or ``error``) also carries ``owner``,
because after a success the job HASH is deleted and the terminal entry is what still proves
whose stream a late resume is reading.

The names, payloads and ids of the events themselves are :mod:`jobs.events`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import orjson
from redis.asyncio.cluster import RedisCluster

from jobs.events import StoredEvent
from jobs.redis.connection import Redis, ScriptArg, unavailable_as_domain_error
from jobs.redis.keys import Keys
from jobs.redis.script import Script

# KEYS: record, lease, events per run; ARGV: maxlen, ttl_s, then one per run (lua/append.lua).
APPEND = Script("jobs.delivery", "append", keys=0, args=2, each=(3, 1))

#: What :meth:`EventLog.append_many` says of each run's batch.
Verdict = Literal["ok", "fenced", "gap"]


@dataclass(frozen=True, slots=True)
class Batch:
    """Events of one run to append, with the stream ids the runner chose for them (increasing,
    each above ``after_id``, the newest entry the runner knows is stored)."""

    job_id: str
    runner: str
    after_id: str
    entries: list[StoredEvent]


class EventLog:
    """A job's events in its Redis Stream.

    ``maxlen`` bounds every stream. The runner emits at most one event per throttle window, so
    the service sizes ``maxlen`` above the most events a run can produce in ``RUN_TIMEOUT_S``:
    trimming never removes an event a client could still need.

    Appends are *fenced* and *idempotent*, both inside the one script that writes:

    - fenced: a run's events are stored only while the job is ``running`` under that runner
      and its lease is the runner's; after a terminal entry (which settles the job) or a lost
      lease nothing more is appended, so every reader of a job sees one history;
    - idempotent: the runner chooses each entry's id, and the record keeps the newest id
      stored (``storedId``, written in the same script); an entry whose id is not above it is
      skipped, so a batch retried after an ambiguous failure (stored, but the reply was lost)
      cannot store text twice. An ``after_id`` above ``storedId`` means entries the runner
      saw stored were lost (a Redis that restarted from a stale snapshot): the script refuses
      (``gap``) rather than store text with a hole in it. In the common case (``after_id`` is
      ``storedId``) no id is compared at all;
    - every append gives the stream its TTL, so a stream that a Redis restart emptied is never
      recreated without one.
    """

    def __init__(self, redis: Redis, keys: Keys, *, maxlen: int, live_ttl_s: int) -> None:
        self.redis = redis
        self.keys = keys
        self.maxlen = maxlen
        self.live_ttl_s = live_ttl_s
        self.cluster = isinstance(redis, RedisCluster)

    async def append_many(self, batches: list[Batch]) -> list[Verdict]:
        """Append the events of many runs in one round trip; return a verdict per batch.

        On a standalone Redis all batches go to one script call (one command to encode and
        parse, however many events); a cluster spreads the streams over nodes, so there it is
        a pipeline of one script call per run.
        """
        head: list[ScriptArg] = [self.maxlen, self.live_ttl_s]
        if not self.cluster:
            keys: list[str] = []
            args: list[ScriptArg] = list(head)
            for batch in batches:
                keys += self._keys(batch.job_id)
                args.append(_batch_arg(batch))
            with unavailable_as_domain_error():
                verdicts: list[Any] = await APPEND.call(self.redis, keys, args)
            return verdicts
        with unavailable_as_domain_error():
            async with self.redis.pipeline(transaction=False) as pipe:
                for batch in batches:
                    APPEND.queue(pipe, self._keys(batch.job_id), [*head, _batch_arg(batch)])
                replies: list[Any] = await pipe.execute()
        return [reply[0] for reply in replies]

    def _keys(self, job_id: str) -> list[str]:
        return [self.keys.job(job_id), self.keys.lease(job_id), self.keys.events(job_id)]

    async def after(self, job_id: str, after_id: str, *, count: int = 1_000) -> list[StoredEvent]:
        """Up to ``count`` stored events after ``after_id`` (exclusive), oldest first."""
        with unavailable_as_domain_error():
            entries: Any = await self.redis.xrange(
                self.keys.events(job_id), min=f"({after_id}", max="+", count=count
            )
        return [_from_entry(entry) for entry in entries]

    async def journal(self, job_id: str) -> list[tuple[StoredEvent, str | None]]:
        """Every stored event of the job with its journal (None for most): what a runner
        taking the run over reads to continue it. Bounded by the stream's ``maxlen``."""
        with unavailable_as_domain_error():
            entries: Any = await self.redis.xrange(self.keys.events(job_id), count=self.maxlen)
        return [(_from_entry(entry), entry[1].get("journal")) for entry in entries]

    async def last(self, job_id: str) -> tuple[StoredEvent, str | None] | None:
        """The newest stored event and its ``owner`` field (set on terminal entries only)."""
        with unavailable_as_domain_error():
            entries: Any = await self.redis.xrevrange(self.keys.events(job_id), count=1)
        if not entries:
            return None
        return _from_entry(entries[0]), entries[0][1].get("owner")


def _from_entry(entry: Any) -> StoredEvent:
    """A stream entry ``(id, {field: value})`` as redis-py returns it (decoded to str)."""
    entry_id, fields = entry
    return StoredEvent(entry_id, fields["event"], fields["data"])


def _batch_arg(batch: Batch) -> bytes:
    """A run's batch as the script's one argument for it: ``[runner, after_id, id, event,
    data, journal, …]``."""
    flat: list[str] = [batch.runner, batch.after_id]
    for entry in batch.entries:
        assert entry.id is not None
        flat += (entry.id, entry.event, entry.data, entry.journal or "")
    return orjson.dumps(flat)
