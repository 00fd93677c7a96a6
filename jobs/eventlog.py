"""The event log: a job's events in its Redis Stream.

Every event a client can resume from is stored as an entry of the job's STREAM
(``jobs:{<id>}:events``) with the fields ``event`` and ``data`` (a JSON object); the entry id
is the SSE ``id:``. The terminal entry (``complete`` or ``error``) also carries ``owner``,
because after a success the job HASH is deleted and the terminal entry is what still proves
whose stream a late resume is reading.

The names, payloads and ids of the events themselves are :mod:`jobs.events`.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio.cluster import RedisCluster

from jobs.connection import Redis, ScriptArg, unavailable_as_domain_error
from jobs.events import StoredEvent, dumps
from jobs.keys import Keys

# KEYS: events. ARGV: maxlen, ttl_s, event, data. A new stream gets its TTL in the same step.
_APPEND_FIRST = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',
                      'event', ARGV[3], 'data', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return id
"""


# KEYS: one events stream per event (repeats allowed). ARGV: maxlen, ttl_s, then per event:
# first ('1' gives the stream its TTL), event, data. Returns the ids, in order.
_APPEND_MANY = """
local ids = {}
local a = 3
for i = 1, #KEYS do
  ids[i] = redis.call('XADD', KEYS[i], 'MAXLEN', '~', ARGV[1], '*',
                      'event', ARGV[a + 1], 'data', ARGV[a + 2])
  if ARGV[a] == '1' then redis.call('EXPIRE', KEYS[i], ARGV[2]) end
  a = a + 3
end
return ids
"""


class EventLog:
    """A job's events in its Redis Stream.

    ``maxlen`` bounds every stream. The runner emits at most one event per throttle window, so
    the service sizes ``maxlen`` above the most events a run can produce in ``RUN_TIMEOUT_S``:
    trimming never removes an event a client could still need.
    """

    def __init__(self, redis: Redis, keys: Keys, *, maxlen: int, live_ttl_s: int) -> None:
        self.redis = redis
        self.keys = keys
        self.maxlen = maxlen
        self.live_ttl_s = live_ttl_s
        self._append_many = redis.register_script(_APPEND_MANY)
        self.cluster = isinstance(redis, RedisCluster)

    async def append(
        self, job_id: str, event: str, data: dict[str, Any], *, first: bool = False
    ) -> StoredEvent:
        """Store one non-terminal event (a batch of one); ``first`` gives a new stream its
        TTL."""
        encoded = dumps(data)
        (entry_id,) = await self.append_many([(job_id, event, encoded, first)])
        return StoredEvent(entry_id, event, encoded)

    async def append_many(self, items: list[tuple[str, str, str, bool]]) -> list[str]:
        """Store many events, of many jobs, in one round trip; return their ids in order.

        ``items`` are ``(job_id, event, encoded data, first)``; ``first`` gives a new stream its
        TTL atomically with its first entry. On a standalone Redis the whole batch is one
        script call (one command to encode and parse, however many events); a cluster spreads
        the streams over nodes, so there it is a pipeline of one command per event (EVAL, not
        EVALSHA, for a first event: a node that never saw the script still runs it).
        """
        if not self.cluster:
            keys = [self.keys.events(job_id) for job_id, _, _, _ in items]
            args: list[ScriptArg] = [self.maxlen, self.live_ttl_s]
            for _, event, encoded, first in items:
                args += ("1" if first else "0", event, encoded)
            with unavailable_as_domain_error():
                ids: list[Any] = await self._append_many(keys=keys, args=args)
            return ids
        with unavailable_as_domain_error():
            async with self.redis.pipeline(transaction=False) as pipe:
                for job_id, event, encoded, first in items:
                    key = self.keys.events(job_id)
                    if first:
                        pipe.eval(
                            _APPEND_FIRST, 1, key, self.maxlen, self.live_ttl_s, event, encoded
                        )
                    else:
                        pipe.xadd(key, {"event": event, "data": encoded}, maxlen=self.maxlen)
                replies: list[Any] = await pipe.execute()
        return [str(entry_id) for entry_id in replies]

    async def after(self, job_id: str, after_id: str, *, count: int = 1_000) -> list[StoredEvent]:
        """Up to ``count`` stored events after ``after_id`` (exclusive), oldest first."""
        with unavailable_as_domain_error():
            entries: Any = await self.redis.xrange(
                self.keys.events(job_id), min=f"({after_id}", max="+", count=count
            )
        return [_from_entry(entry) for entry in entries]

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
