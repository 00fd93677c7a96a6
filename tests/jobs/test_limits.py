"""The per-user limits in a real Redis: the one-minute creation window and its Retry-After,
stream slots that are refreshed, given back or simply expire, and a limit of 0 that is off.

The window is moved by rewriting the scores Redis holds (measured on its own clock), so no
test waits a minute."""

from __future__ import annotations

from typing import Any

import pytest

from jobs.errors import RateLimited, TicketsRateLimited, TooManyStreams
from jobs.record.limits import Check, Limits
from jobs.redis.connection import Redis
from jobs.redis.keys import Keys, new_job_id

pytestmark = pytest.mark.anyio

KEYS = Keys("jobs")


def limits(aredis: Redis, *, creates: int = 2, streams: int = 2, ttl_s: float = 30) -> Limits:
    return Limits(aredis, KEYS, creates_per_min=creates, max_streams=streams, stream_ttl_s=ttl_s)


async def check(limits: Limits, limit: Check | None) -> None:
    assert limit is not None
    async with limits.redis.pipeline(transaction=False) as pipe:
        limit.queue(pipe)
        [reply] = await pipe.execute()
    limit.verdict(reply)


async def create(limits: Limits, owner: str = "alice") -> None:
    await check(limits, limits.creation(owner, new_job_id()))


async def open_stream(limits: Limits, stream_id: str, owner: str = "alice") -> None:
    await check(limits, limits.open_stream(owner, stream_id))


async def redis_now_ms(aredis: Redis) -> int:
    seconds, micros = await aredis.time()
    return int(seconds) * 1000 + int(micros) // 1000


async def age_entries(aredis: Redis, key: str, by_ms: int) -> None:
    """Move every entry of ``key`` ``by_ms`` into the past (or, negative, the future)."""
    entries: Any = await aredis.zrange(key, 0, -1, withscores=True)
    for member, score in entries:
        await aredis.zadd(key, {member: score - by_ms}, xx=True)


async def test_the_creation_window_refuses_the_third_and_says_when_to_retry(
    aredis: Redis,
) -> None:
    rate = limits(aredis, creates=2)
    await create(rate)
    await create(rate)
    with pytest.raises(RateLimited) as refused:
        await create(rate)
    assert 59 <= refused.value.retry_after_s <= 60, "the oldest creation has just been made"
    key = KEYS.user_creates("alice")
    assert await aredis.zcard(key) == 2, "a refused creation is not counted"
    assert 0 < await aredis.pttl(key) <= 60_000
    await create(rate, owner="bob")  # another owner has a window of their own


async def test_retry_after_is_when_the_oldest_creation_leaves_the_window(aredis: Redis) -> None:
    rate = limits(aredis, creates=2)
    key = KEYS.user_creates("alice")
    await create(rate)
    await age_entries(aredis, key, 50_000)  # the first creation was 50 s ago
    await create(rate)
    with pytest.raises(RateLimited) as refused:
        await create(rate)
    assert refused.value.retry_after_s in (10, 11), "60 s window - 50 s elapsed, rounded up"

    await age_entries(aredis, key, 9_500)  # 59.5 s and 9.5 s ago: still in the window
    with pytest.raises(RateLimited) as refused:
        await create(rate)
    assert refused.value.retry_after_s == 1, "half a second is rounded up to a whole one"

    await age_entries(aredis, key, 1_000)  # the oldest is 60.5 s old: out of the window
    await create(rate)
    with pytest.raises(RateLimited):
        await create(rate)


async def test_stream_slots_are_held_refreshed_and_given_back(aredis: Redis) -> None:
    slots = limits(aredis, streams=2, ttl_s=30)
    key = KEYS.user_streams("alice")
    await open_stream(slots, "s1")
    await open_stream(slots, "s2")
    with pytest.raises(TooManyStreams) as refused:
        await open_stream(slots, "s3")
    assert refused.value.retry_after_s == 10, "a third of the 30 s slot TTL"
    await open_stream(slots, "s1")  # a held slot is refreshed even at the limit
    before = await redis_now_ms(aredis)
    score = await aredis.zscore(key, "s1")
    assert score is not None
    assert before < score <= before + 30_000 + 1_000, "scored by when it expires"
    assert sorted(await aredis.zrange(key, 0, -1)) == ["s1", "s2"]

    await slots.close_stream("alice", "s2")
    await open_stream(slots, "s3")
    assert sorted(await aredis.zrange(key, 0, -1)) == ["s1", "s3"]


async def test_a_crashed_instances_slots_expire_on_their_own(aredis: Redis) -> None:
    slots = limits(aredis, streams=1, ttl_s=30)
    await open_stream(slots, "from-a-dead-instance")
    with pytest.raises(TooManyStreams):
        await open_stream(slots, "s2")
    await age_entries(aredis, KEYS.user_streams("alice"), 31_000)  # nobody refreshed it
    await open_stream(slots, "s2")
    assert await aredis.zrange(KEYS.user_streams("alice"), 0, -1) == ["s2"]


async def test_a_limit_of_zero_is_off_and_touches_nothing(aredis: Redis) -> None:
    off = limits(aredis, creates=0, streams=0)
    assert off.creation("alice", new_job_id()) is None
    assert off.open_stream("alice", "s1") is None
    await off.close_stream("alice", "s1")
    assert await aredis.keys("*") == []


async def test_tickets_are_counted_per_user_in_a_sliding_minute(aredis: Redis) -> None:
    rate = Limits(
        aredis, KEYS, creates_per_min=0, max_streams=0, stream_ttl_s=30, tickets_per_min=2
    )
    await rate.ticket("alice")
    await rate.ticket("alice")
    await age_entries(aredis, KEYS.user_tickets("alice"), 20_000)
    with pytest.raises(TicketsRateLimited) as refused:
        await rate.ticket("alice")
    assert 38 <= refused.value.retry_after_s <= 40, "the oldest leaves the window in ~40 s"
    assert await aredis.zcard(KEYS.user_tickets("alice")) == 2, "a refusal is not counted"
    await rate.ticket("bob")  # per user
    await age_entries(aredis, KEYS.user_tickets("alice"), 41_000)
    await rate.ticket("alice")
    assert 0 < await aredis.pttl(KEYS.user_tickets("alice")) <= 60_000, "the log expires"


async def test_a_ticket_limit_of_0_is_off(aredis: Redis) -> None:
    rate = Limits(aredis, KEYS, creates_per_min=0, max_streams=0, stream_ttl_s=30)
    for _ in range(5):
        await rate.ticket("alice")
    assert await aredis.exists(KEYS.user_tickets("alice")) == 0
