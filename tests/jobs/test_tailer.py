"""The tailer against a real Redis: many jobs through a few connections, each subscriber's
events in order and gap-free, and every subscriber ended when Redis fails."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
import redis.asyncio as aioredis

from jobs.delivery.eventlog import EventLog
from jobs.delivery.tailer import BUFFER, Tailer
from jobs.errors import StoreUnavailable
from jobs.events import START, StoredEvent
from jobs.redis.connection import POOL_TIMEOUT_S, Redis, connect, connect_single
from jobs.redis.keys import Keys, new_job_id
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio


#: The shared pool's size here: far fewer connections than tailed jobs, so a design that held
#: one per tailed job would run out of them.
SHARED_POOL = 10


@pytest.fixture
async def shared(redis_url: str) -> AsyncIterator[Redis]:
    pool = aioredis.BlockingConnectionPool.from_url(
        redis_url, max_connections=SHARED_POOL, timeout=POOL_TIMEOUT_S, decode_responses=True
    )
    client = aioredis.Redis.from_pool(pool)
    try:
        yield client
    finally:
        await client.aclose()


def event_log(client: Redis) -> EventLog:
    return EventLog(client, Keys(), maxlen=100_000, live_ttl_s=60)


async def append_many(events: EventLog, items: list[tuple[str, str, str]]) -> None:
    """Store ``(job_id, event, data)`` entries as a run would, in one pipeline (plain XADD:
    the tailer reads streams, whoever wrote them; fencing is the writer's, tested there)."""
    async with events.redis.pipeline(transaction=False) as pipe:
        for job_id, name, data in items:
            pipe.xadd(events.keys.events(job_id), {"event": name, "data": data})
        await pipe.execute()


async def append(events: EventLog, job_id: str, n: int, *, last: bool = False) -> StoredEvent:
    name = "complete" if last else "delta"
    data = json.dumps({"n": n})
    entry_id = await events.redis.xadd(events.keys.events(job_id), {"event": name, "data": data})
    return StoredEvent(str(entry_id), name, data)


async def collect(source: AsyncIterator[StoredEvent | None], count: int) -> list[int]:
    """The ``n`` of the next ``count`` events (idle ticks skipped)."""
    seen: list[int] = []
    async for event in source:
        if event is not None:
            seen.append(json.loads(event.data)["n"])
            if len(seen) == count:
                break
    return seen


def clients(url: str) -> tuple[int, int]:
    """The server's ``connected_clients`` and ``blocked_clients`` (not counting the asker)."""
    with redis.Redis.from_url(url) as client:
        info = client.info("clients")
    return int(info["connected_clients"]) - 1, int(info["blocked_clients"])


async def test_many_jobs_are_tailed_in_order_through_a_few_connections(
    redis_url: str, shared: Redis
) -> None:
    events = event_log(shared)
    jobs = [new_job_id() for _ in range(300)]
    async with Tailer(
        events, connect=lambda: connect_single(redis_url), keys_per_read=100
    ) as tailer:
        readers = [tailer.follow(job_id, START) for job_id in jobs]
        tasks = [asyncio.create_task(collect(r, 20)) for r in readers]
        await asyncio.sleep(0.5)  # every reader subscribed, waiting for news
        connected, blocked = clients(redis_url)
        assert blocked <= 3, "one blocking read per reader"
        assert connected <= SHARED_POOL + 3
        for n in range(20):
            await append_many(events, [(j, "delta", json.dumps({"n": n})) for j in jobs])
        results = await asyncio.wait_for(asyncio.gather(*tasks), 30)
        assert results == [list(range(20))] * len(jobs)
        assert tailer.connections == 3, "100 jobs per reader"
        for r in readers:
            await r.aclose()
        assert tailer.tailed == 0


async def test_late_subscribers_share_the_job_and_start_where_they_ask(
    redis_url: str, shared: Redis
) -> None:
    events = event_log(shared)
    job_id = new_job_id()
    ids = [(await append(events, job_id, n)).id for n in range(5)]
    async with Tailer(events, connect=lambda: connect_single(redis_url)) as tailer:
        early = tailer.follow(job_id, START)
        assert await collect(early, 5) == [0, 1, 2, 3, 4]  # caught up from what is stored
        waiting = asyncio.create_task(collect(early, 3))
        await asyncio.sleep(0.2)
        late = tailer.follow(job_id, str(ids[2]))
        assert await collect(late, 2) == [3, 4]
        for n in range(5, 8):
            await append(events, job_id, n)
        assert await collect(late, 3) == [5, 6, 7]
        assert await asyncio.wait_for(waiting, 10) == [5, 6, 7]
        assert tailer.tailed == 1, "both subscribers read one key"
        await append(events, job_id, 8, last=True)
        ending = await asyncio.wait_for(anext(late), 10)
        assert ending is not None
        assert ending.event == "complete"
        await early.aclose()
        await late.aclose()
        assert tailer.tailed == 0


async def test_a_cancelled_subscriber_leaves_nothing_behind_and_quiet_ones_tick(
    redis_url: str, shared: Redis
) -> None:
    events = event_log(shared)
    job_id = new_job_id()
    async with Tailer(events, connect=lambda: connect_single(redis_url), idle_s=0.2) as tailer:
        follow = tailer.follow(job_id, START)
        assert await anext(follow) is None, "a quiet job gives idle ticks"

        async def read_all() -> None:
            async for _ in tailer.follow(job_id, START):
                pass

        task = asyncio.create_task(read_all())
        await asyncio.sleep(0.3)
        assert tailer.tailed == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await follow.aclose()
        assert tailer.tailed == 0


async def test_a_slow_subscriber_does_not_hold_back_a_fast_one(
    redis_url: str, shared: Redis
) -> None:
    events = event_log(shared)
    job_id = new_job_id()
    total = BUFFER * 3
    async with Tailer(events, connect=lambda: connect_single(redis_url)) as tailer:
        await append(events, job_id, 0)
        slow, fast = tailer.follow(job_id, START), tailer.follow(job_id, START)
        assert await collect(slow, 1) == [0]
        assert await collect(fast, 1) == [0]
        fast_task = asyncio.create_task(collect(fast, total - 1))
        for start in range(1, total, 100):
            batch = [(job_id, "delta", json.dumps({"n": n})) for n in range(start, start + 100)]
            await append_many(events, batch[: total - start])
        assert await asyncio.wait_for(fast_task, 30) == list(range(1, total))
        # The slow one took nothing meanwhile; it still gets every event, in order.
        assert await asyncio.wait_for(collect(slow, total - 1), 30) == list(range(1, total))
        await slow.aclose()
        await fast.aclose()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


async def test_redis_failing_ends_every_subscriber_and_the_tailer_recovers(
    own_redis: RedisServer,
) -> None:
    client = connect(own_redis.url)
    events = event_log(client)
    jobs = [new_job_id() for _ in range(50)]
    try:
        async with Tailer(events, connect=lambda: connect_single(own_redis.url)) as tailer:
            readers = [tailer.follow(job_id, START) for job_id in jobs]
            outcomes = [asyncio.create_task(collect(r, 1)) for r in readers]
            await asyncio.sleep(0.3)
            own_redis.stop()
            done = await asyncio.wait_for(asyncio.gather(*outcomes, return_exceptions=True), 30)
            assert all(isinstance(outcome, StoreUnavailable) for outcome in done), done
            assert tailer.tailed == 0

            own_redis.start()  # same port, empty
            job_id = new_job_id()
            again = tailer.follow(job_id, START)
            waiting = asyncio.create_task(collect(again, 2))
            await asyncio.sleep(0.3)
            await append(events, job_id, 0)
            await append(events, job_id, 1)
            assert await asyncio.wait_for(waiting, 10) == [0, 1]
            await again.aclose()
    finally:
        await client.aclose()
