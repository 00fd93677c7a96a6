"""The event writer against a real Redis: batches of many runs' events, published to their
channels with the ids Redis gave them, and failed batches that fail only themselves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.exceptions

from jobs.channel import RunChannel
from jobs.connection import Redis
from jobs.errors import StoreUnavailable
from jobs.eventlog import EventLog
from jobs.events import START, StoredEvent
from jobs.keys import Keys, new_job_id
from jobs.writer import EventWriter
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio

KEYS = Keys("jobs")


@pytest.fixture
def log(aredis: Redis) -> EventLog:
    return EventLog(aredis, KEYS, maxlen=1_000, live_ttl_s=60)


@pytest.fixture
async def writer(log: EventLog) -> AsyncIterator[EventWriter]:
    writer = EventWriter(log)
    writer.open()
    try:
        yield writer
    finally:
        await writer.aclose()


async def in_redis(aredis: Redis, job_id: str) -> list[StoredEvent]:
    entries: Any = await aredis.xrange(KEYS.events(job_id))
    return [StoredEvent(entry_id, f["event"], f["data"]) for entry_id, f in entries]


async def published(channel: RunChannel) -> list[StoredEvent]:
    """What the channel holds (it must end with a terminal event)."""
    return [e async for e in channel.follow(START) if e is not None]


async def test_one_batch_stores_many_runs_in_order_and_publishes_redis_ids(
    writer: EventWriter, aredis: Redis
) -> None:
    one, two = new_job_id(), new_job_id()
    channels = {one: RunChannel(one), two: RunChannel(two)}
    futures = [
        writer.submit(one, "delta", '{"n":1}', first=True, channel=channels[one]),
        writer.submit(two, "delta", '{"n":1}', first=True, channel=channels[two]),
        writer.submit(one, "delta", '{"n":2}', first=False, channel=channels[one]),
        writer.submit(one, "complete", '{"n":3}', first=False, channel=channels[one]),
        writer.submit(two, "error", '{"n":2}', first=False, channel=channels[two]),
    ]
    assert len(set(map(id, futures))) == 1, "submitted in one turn: one batch"
    await futures[0]
    stored_one = await in_redis(aredis, one)
    assert [(e.event, e.data) for e in stored_one] == [
        ("delta", '{"n":1}'),
        ("delta", '{"n":2}'),
        ("complete", '{"n":3}'),
    ]
    assert await published(channels[one]) == stored_one
    assert [(e.event, e.data) for e in await published(channels[two])] == [
        ("delta", '{"n":1}'),
        ("error", '{"n":2}'),
    ]
    assert await published(channels[two]) == await in_redis(aredis, two)
    assert 0 < await aredis.ttl(KEYS.events(one)) <= 60, "the first event gave the stream a TTL"


async def test_a_failed_batch_fails_its_future_and_the_next_batch_still_stores(
    writer: EventWriter, aredis: Redis
) -> None:
    broken, fine = new_job_id(), new_job_id()
    await aredis.set(KEYS.events(broken), "not a stream")  # XADD will answer WRONGTYPE
    channel = RunChannel(fine)
    failing = writer.submit(broken, "delta", "{}", first=True, channel=RunChannel(broken))
    writer.submit(fine, "delta", '{"lost":true}', first=True, channel=channel)
    with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
        await failing

    later = writer.submit(fine, "delta", '{"n":1}', first=True, channel=channel)
    assert later is not failing, "a new batch"
    writer.submit(fine, "complete", '{"n":2}', first=False, channel=channel)
    await later
    stored = await in_redis(aredis, fine)
    assert [e.data for e in stored] == ['{"n":1}', '{"n":2}']
    assert await published(channel) == stored, "nothing of the failed batch was published"


async def test_redis_gone_fails_the_batch_as_store_unavailable_until_it_is_back(
    writer: EventWriter, aredis: Redis, redis_server: RedisServer
) -> None:
    job_id = new_job_id()
    channel = RunChannel(job_id)
    await writer.submit(job_id, "delta", '{"n":1}', first=True, channel=channel)
    redis_server.stop()
    try:
        with pytest.raises(StoreUnavailable):
            await writer.submit(job_id, "delta", '{"lost":true}', first=False, channel=channel)
    finally:
        redis_server.start()
    await writer.submit(job_id, "complete", '{"n":2}', first=True, channel=channel)
    assert [e.data for e in await published(channel)] == ['{"n":1}', '{"n":2}']
    assert [e.data for e in await in_redis(aredis, job_id)] == ['{"n":2}'], (
        "Redis restarted empty (no persistence); the new batch stored"
    )


async def test_closing_stores_what_is_queued(log: EventLog, aredis: Redis) -> None:
    writer = EventWriter(log)
    writer.open()
    job_id = new_job_id()
    channel = RunChannel(job_id)
    writer.submit(job_id, "delta", '{"n":1}', first=True, channel=channel)
    writer.submit(job_id, "complete", '{"n":2}', first=False, channel=channel)
    await writer.aclose()
    assert [e.data for e in await in_redis(aredis, job_id)] == ['{"n":1}', '{"n":2}']
    assert await published(channel) == await in_redis(aredis, job_id)
