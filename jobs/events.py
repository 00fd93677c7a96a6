"""The event stream: the events a run produces, their payloads, and their Redis Stream log.

Every event a client can resume from is stored as an entry of the job's STREAM
(``jobs:{<id>}:events``) with the fields ``event`` and ``data`` (a JSON object); the entry id
is the SSE ``id:``. The terminal entry (``complete`` or ``error``) also carries ``owner``,
because after a success the job HASH is deleted and the terminal entry is what still proves
whose stream a late resume is reading.

``connected`` is per connection and never stored. Event ids compare as ``(ms, seq)`` pairs.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from redis.asyncio.cluster import RedisCluster

from jobs.connection import BLOCK_MS, Redis, ScriptArg, unavailable_as_domain_error
from jobs.errors import InvalidEventId
from jobs.keys import Keys
from jobs.model import now_ms

CONNECTED = "connected"
DELTA = "delta"
COMPLETE = "complete"
ERROR = "error"
TERMINAL = frozenset({COMPLETE, ERROR})

#: The stream id before every real one: "replay from the start".
START = "0-0"

#: ASCII digits only: ``\d`` would also match other scripts' digits ("١٢٣"), which ``int()``
#: reads but Redis refuses, mid-stream.
_EVENT_ID_RE = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")


#: Both parts of a stream id are unsigned 64-bit integers; Redis refuses anything larger.
_MAX_PART = 2**64 - 1


def check_event_id(value: str) -> str:
    """Return ``value`` if it is a Redis Stream id, else raise :class:`InvalidEventId`."""
    if _EVENT_ID_RE.fullmatch(value) is None or max(event_id_key(value)) > _MAX_PART:
        raise InvalidEventId()
    return value


def event_id_key(event_id: str) -> tuple[int, int]:
    """The sort key of a stream id."""
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq)


def dumps(data: dict[str, Any]) -> str:
    """Compact JSON, UTF-8 kept as is (the SSE frame is UTF-8). orjson: this runs for every
    event, and it is ~20x faster than the standard library here. Its output never contains a
    raw newline (they are escaped in strings), which SSE framing relies on."""
    return orjson.dumps(data).decode()


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One event. ``id`` is None only for an event that could not be stored (Redis down)."""

    id: str | None
    event: str
    data: str

    @property
    def terminal(self) -> bool:
        return self.event in TERMINAL

    def payload(self) -> dict[str, Any]:
        value: dict[str, Any] = orjson.loads(self.data)
        return value


def connected_payload(job_id: str, status: str, *, resumed: bool) -> dict[str, Any]:
    return {"jobId": job_id, "status": status, "resumed": resumed, "timestamp": now_ms()}


def delta_payload(text: str, total_length: int) -> dict[str, Any]:
    return {"text": text, "totalLength": total_length, "timestamp": now_ms()}


def error_payload(
    code: str, message: str, *, retryable: bool, retry_after_ms: int | None = None
) -> dict[str, Any]:
    """An ``error`` event; ``retryAfterMs`` only when the cause said how long to wait."""
    data: dict[str, Any] = {"code": code, "message": message, "retryable": retryable}
    if retry_after_ms is not None:
        data["retryAfterMs"] = retry_after_ms
    data["timestamp"] = now_ms()
    return data


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

    async def follow(self, job_id: str, after_id: str) -> AsyncIterator[StoredEvent | None]:
        """Yield stored events after ``after_id`` as they arrive, and None when a wait times out.

        The caller decides when to stop (at a terminal event) and what an idle tick means.
        """
        key = self.keys.events(job_id)
        last_id = after_id
        while True:
            with unavailable_as_domain_error():
                response: Any = await self.redis.xread({key: last_id}, count=500, block=BLOCK_MS)
            if not response:
                yield None
                continue
            _key, entries = response[0]
            for entry in entries:
                event = _from_entry(entry)
                last_id = entry[0]
                yield event


def _from_entry(entry: Any) -> StoredEvent:
    """A stream entry ``(id, {field: value})`` as redis-py returns it (decoded to str)."""
    entry_id, fields = entry
    return StoredEvent(entry_id, fields["event"], fields["data"])
