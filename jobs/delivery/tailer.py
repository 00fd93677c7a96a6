"""Tailing the event logs of runs elsewhere, through a bounded number of Redis connections.

A stream whose run is on another instance (or finished) reads the job's Redis Stream. A
blocking ``XREAD`` per stream would hold one pooled connection each, so a few hundred such
streams would exhaust the pool. The :class:`Tailer` multiplexes them instead:

- *Catch-up first.* A new subscriber reads what is already stored with plain ``XRANGE`` pages
  on the shared pool (brief, non-blocking commands), so a resume or a replay is served at once,
  and then registers its cursor for live entries.
- *One reader per group of jobs.* On a standalone Redis each reader task owns ONE dedicated
  connection (its own pool of size one, not the shared pool) and loops
  ``XREAD COUNT n BLOCK <ms> STREAMS k1 .. kN id1 .. idN`` over up to ``KEYS_PER_READ`` jobs;
  more jobs start another reader. 2,000 tailed jobs cost two connections.
- *Short blocks pick up newcomers.* A read blocks at most ``BLOCK_MS`` (100 ms): a job that
  starts being tailed meanwhile joins the next read. This was chosen over waking the reader
  with ``CLIENT UNBLOCK`` (a second connection, and a client id that changes when the
  connection is replaced) because its cost is small: one ``XREAD`` per reader per 100 ms
  while nothing happens, and a newcomer has already caught up from ``XRANGE``.
- *A cluster is polled.* ``XREAD`` over many keys needs them in one slot, and every job has
  its own hash tag, so on a Redis Cluster one reader polls every tailed job with a pipeline
  of non-blocking single-key ``XREAD`` s (the cluster client sends one batch per node, holding
  one pooled connection per node for the round trip), and sleeps ``BLOCK_MS`` after a poll
  that found nothing.
- *One cursor per job.* Subscribers of the same job share its key in the read, from the
  oldest cursor among them; each gets only the entries after its own cursor, so each one's
  events are a gap-free sequence. A subscriber holds at most ``BUFFER`` entries it has not
  taken yet; while it is full it is left out of the reads (its client sets the pace).
- *Idle ticks.* A subscriber that waits ``idle_s`` (1 s) without news gets a None, as before:
  the service checks the runner's lease on it.
- *Failures end every subscriber.* When a read fails (Redis is unavailable), every subscriber
  of that reader gets :class:`~jobs.errors.StoreUnavailable` from its iterator and is dropped;
  the reader's connection is re-established on its next read, for new subscribers.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio.cluster import RedisCluster

from jobs.delivery.eventlog import EventLog
from jobs.errors import StoreUnavailable
from jobs.events import StoredEvent, event_id_key
from jobs.redis.connection import Redis, unavailable_as_domain_error

# The logger keeps its name from before the module moved (operators' filters use it).
logger = logging.getLogger("jobs.tailer")

#: The longest a read blocks (or a cluster poll sleeps) before newcomers are picked up.
BLOCK_MS = 100
#: The most jobs one reader (one connection) reads in one ``XREAD``.
KEYS_PER_READ = 1_000
#: The most entries read per job per read, and the most a subscriber holds untaken.
BUFFER = 500
#: A subscriber that waits this long without news gets a None (an idle tick).
IDLE_S = 1.0


@dataclass(eq=False, slots=True)
class _Subscriber:
    cursor: str
    entries: deque[StoredEvent] = field(default_factory=deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    error: StoreUnavailable | None = None

    @property
    def wanting(self) -> bool:
        return self.error is None and len(self.entries) < BUFFER

    def fail(self, error: StoreUnavailable) -> None:
        self.error = error
        self.ready.set()


@dataclass(eq=False, slots=True)
class _Feed:
    """The subscribers of one job, and the reader that reads its key."""

    key: str
    reader: _Reader
    subscribers: set[_Subscriber] = field(default_factory=set)

    def start(self) -> str | None:
        """Where to read from: the oldest cursor of those with room, or None (nobody has)."""
        cursors = [s.cursor for s in self.subscribers if s.wanting]
        return min(cursors, key=event_id_key) if cursors else None

    def deliver(self, start: str, entries: list[Any]) -> None:
        """Hand each subscriber with room the entries after its own cursor. The entries are
        every stored one after ``start``, in order, so a subscriber whose cursor is older than
        ``start`` (it joined during the read) gets nothing now rather than a gap."""
        floor = event_id_key(start)
        for subscriber in self.subscribers:
            if not subscriber.wanting or event_id_key(subscriber.cursor) < floor:
                continue
            seen = event_id_key(subscriber.cursor)
            fresh = [e for e in entries if event_id_key(e[0]) > seen]
            if fresh:
                subscriber.entries.extend(_stored(entry) for entry in fresh)
                subscriber.cursor = fresh[-1][0]
                subscriber.ready.set()


class _Reader:
    """One loop reading a group of jobs' keys on one connection (or, on a cluster, polling)."""

    def __init__(self, redis: Redis, *, owned: bool, cluster: bool) -> None:
        self.redis = redis
        self.owned = owned
        self.cluster = cluster
        self.feeds: dict[str, _Feed] = {}  # job id -> feed
        self.work = asyncio.Event()
        self.task = asyncio.create_task(self._run(), name="tailer-reader")

    async def aclose(self) -> None:
        self.task.cancel()
        await asyncio.wait([self.task], timeout=5)
        self.fail_all(StoreUnavailable())
        if self.owned:
            await self.redis.aclose()

    def fail_all(self, error: StoreUnavailable) -> None:
        for feed in self.feeds.values():
            for subscriber in feed.subscribers:
                subscriber.fail(error)
        self.feeds.clear()

    async def _run(self) -> None:
        while True:
            starts = {f.key: (f, s) for f in self.feeds.values() if (s := f.start()) is not None}
            if not starts:
                self.work.clear()
                await self.work.wait()
                continue
            try:
                replies = await self._read({key: start for key, (_, start) in starts.items()})
            except StoreUnavailable as exc:
                logger.warning("tailing %d jobs failed: Redis is unavailable", len(self.feeds))
                self.fail_all(exc)
                continue
            except Exception:
                logger.exception("tailing %d jobs failed", len(self.feeds))
                self.fail_all(StoreUnavailable())
                continue
            for key, entries in replies:
                feed, start = starts[key]
                feed.deliver(start, entries)
            if self.cluster and not replies:
                await asyncio.sleep(BLOCK_MS / 1000)

    async def _read(self, cursors: dict[str, str]) -> list[tuple[str, list[Any]]]:
        """The new entries of each key after its cursor, ``[(key, entries), ...]``."""
        with unavailable_as_domain_error():
            if not self.cluster:
                streams: dict[Any, Any] = dict(cursors)
                response: Any = await self.redis.xread(streams, count=BUFFER, block=BLOCK_MS)
                return [(key, entries) for key, entries in response or []]
            async with self.redis.pipeline(transaction=False) as pipe:
                for key, cursor in cursors.items():
                    pipe.xread({key: cursor}, count=BUFFER)
                replies: list[Any] = await pipe.execute()
        return [(r[0][0], r[0][1]) for r in replies if r]


class Tailer:
    """Live entries of many jobs' event logs, read through a few connections.

    ``connect`` makes a reader's dedicated client (standalone Redis); without it readers use
    the shared client (the embedded fakeredis, or a cluster, which is polled).
    """

    def __init__(
        self,
        events: EventLog,
        *,
        connect: Callable[[], Redis] | None = None,
        keys_per_read: int = KEYS_PER_READ,
        idle_s: float = IDLE_S,
    ) -> None:
        self.events = events
        self.connect = connect
        self.cluster = isinstance(events.redis, RedisCluster)
        self.keys_per_read = keys_per_read
        self.idle_s = idle_s
        self._readers: list[_Reader] = []
        self._closed = False

    @property
    def tailed(self) -> int:
        """How many jobs are being tailed."""
        return sum(len(reader.feeds) for reader in self._readers)

    @property
    def connections(self) -> int:
        """How many readers (each one connection, or one poll loop on a cluster) exist."""
        return len(self._readers)

    async def __aenter__(self) -> Tailer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop every reader; its subscribers end with ``StoreUnavailable``."""
        self._closed = True
        readers, self._readers = self._readers, []
        for reader in readers:
            await reader.aclose()

    async def follow(self, job_id: str, after_id: str) -> AsyncGenerator[StoredEvent | None, None]:
        """Yield the stored events after ``after_id`` as they arrive, and None when ``idle_s``
        passes without one. Raises ``StoreUnavailable`` when Redis fails under it.

        The caller decides when to stop (at a terminal event) and what an idle tick means.
        """
        cursor = after_id
        while True:  # catch up with what is stored already
            page = await self.events.after(job_id, cursor, count=BUFFER)
            for event in page:
                yield event
                if event.terminal:
                    return
            if page and page[-1].id is not None:
                cursor = page[-1].id
            if len(page) < BUFFER:
                break
        subscriber = _Subscriber(cursor)
        feed = self._subscribe(job_id, subscriber)
        try:
            while True:
                while subscriber.entries:
                    yield subscriber.entries.popleft()
                    if len(subscriber.entries) == BUFFER - 1:
                        feed.reader.work.set()  # it has room again: read for it
                if subscriber.error is not None:
                    raise subscriber.error
                subscriber.ready.clear()
                try:
                    await asyncio.wait_for(subscriber.ready.wait(), self.idle_s)
                except TimeoutError:
                    yield None
        finally:
            self._unsubscribe(job_id, subscriber)

    def _subscribe(self, job_id: str, subscriber: _Subscriber) -> _Feed:
        if self._closed:
            raise StoreUnavailable()
        feed = self._find(job_id)
        if feed is None:
            reader = self._reader_with_room()
            feed = _Feed(self.events.keys.events(job_id), reader)
            reader.feeds[job_id] = feed
        feed.subscribers.add(subscriber)
        feed.reader.work.set()
        return feed

    def _unsubscribe(self, job_id: str, subscriber: _Subscriber) -> None:
        feed = self._find(job_id)
        if feed is None or subscriber not in feed.subscribers:
            return  # already dropped (its reader failed, or the tailer closed)
        feed.subscribers.discard(subscriber)
        if not feed.subscribers:
            del feed.reader.feeds[job_id]

    def _find(self, job_id: str) -> _Feed | None:
        for reader in self._readers:
            if (feed := reader.feeds.get(job_id)) is not None:
                return feed
        return None

    def _reader_with_room(self) -> _Reader:
        for reader in self._readers:
            if self.cluster or len(reader.feeds) < self.keys_per_read:
                return reader
        if self.connect is None or self.cluster:
            reader = _Reader(self.events.redis, owned=False, cluster=self.cluster)
        else:
            reader = _Reader(self.connect(), owned=True, cluster=False)
        self._readers.append(reader)
        return reader


def _stored(entry: Any) -> StoredEvent:
    """A stream entry ``(id, {field: value})`` as redis-py returns it (decoded to str)."""
    entry_id, fields = entry
    return StoredEvent(entry_id, fields["event"], fields["data"])
