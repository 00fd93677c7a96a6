"""The in-memory channel of one run: ordered fan-out, resume points inside the run, the
terminal event last, and wake-ups without news."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from jobs.delivery.channel import RunChannel
from jobs.events import START, StoredEvent

pytestmark = pytest.mark.anyio

DELTAS = [StoredEvent(f"100-{n}", "delta", f'{{"n":{n}}}') for n in range(4)]
COMPLETE = StoredEvent("101-0", "complete", '{"result":{}}')


async def take(events: AsyncIterator[StoredEvent | None], count: int) -> list[StoredEvent | None]:
    return [await anext(events) for _ in range(count)]


async def test_a_reader_after_the_terminal_event_gets_the_run_and_stops() -> None:
    channel = RunChannel("j")
    for event in [*DELTAS, COMPLETE]:
        channel.publish(event)
    assert channel.finished
    assert [e async for e in channel.follow(START)] == [*DELTAS, COMPLETE]
    assert [e async for e in channel.follow("100-2")] == [DELTAS[3], COMPLETE]
    assert [e async for e in channel.follow("100-3")] == [COMPLETE]


async def test_nothing_is_published_after_the_terminal_event() -> None:
    channel = RunChannel("j")
    channel.publish(COMPLETE)
    with pytest.raises(RuntimeError, match="after its terminal event"):
        channel.publish(StoredEvent("102-0", "delta", "{}"))


async def test_follow_from_a_mid_id_then_live() -> None:
    channel = RunChannel("j")
    for event in DELTAS[:3]:
        channel.publish(event)
    reader = channel.follow("100-1")
    assert await take(reader, 1) == [DELTAS[2]]
    waiting = asyncio.create_task(take(reader, 2))
    await asyncio.sleep(0)
    assert not waiting.done(), "nothing new yet: the reader waits"
    channel.publish(DELTAS[3])
    channel.publish(COMPLETE)
    assert await waiting == [DELTAS[3], COMPLETE]
    with pytest.raises(StopAsyncIteration):
        await anext(reader)


async def test_an_id_between_stored_ids_resumes_after_it() -> None:
    # Redis ids are not dense: a client may hold any id; it gets what comes after it.
    channel = RunChannel("j")
    for event in [*DELTAS, COMPLETE]:
        channel.publish(event)
    assert [e async for e in channel.follow("100-99")] == [COMPLETE]
    assert [e async for e in channel.follow("99-0")] == [*DELTAS, COMPLETE]


async def test_every_reader_sees_every_event_in_order() -> None:
    channel = RunChannel("j")
    readers = [asyncio.create_task(_all(channel)) for _ in range(3)]
    await asyncio.sleep(0)
    for event in [*DELTAS, COMPLETE]:
        channel.publish(event)
        await asyncio.sleep(0)
    assert [await r for r in readers] == [[*DELTAS, COMPLETE]] * 3


async def test_wake_gives_a_waiting_reader_none_and_it_goes_on() -> None:
    channel = RunChannel("j")
    channel.publish(DELTAS[0])
    reader = channel.follow(START)
    assert await take(reader, 1) == [DELTAS[0]]
    woken = asyncio.create_task(take(reader, 1))
    await asyncio.sleep(0)
    channel.wake()
    assert await woken == [None]
    waiting = asyncio.create_task(take(reader, 1))
    await asyncio.sleep(0)
    channel.publish(DELTAS[1])
    assert await waiting == [DELTAS[1]], "after a wake-up, the next event is next"


async def test_a_wake_with_news_gives_the_news_not_none() -> None:
    channel = RunChannel("j")
    reader = channel.follow(START)
    waiting = asyncio.create_task(take(reader, 1))
    await asyncio.sleep(0)
    channel.publish(DELTAS[0])
    channel.wake()
    assert await waiting == [DELTAS[0]]


async def test_an_event_published_while_a_woken_reader_is_busy_is_not_missed() -> None:
    channel = RunChannel("j")
    reader = channel.follow(START)
    woken = asyncio.create_task(take(reader, 1))
    await asyncio.sleep(0)
    channel.wake()
    assert await woken == [None]
    channel.publish(COMPLETE)  # before the reader asks for its next event
    assert await asyncio.wait_for(take(reader, 1), timeout=2) == [COMPLETE]


async def test_an_unstored_terminal_event_still_ends_the_run() -> None:
    # When Redis is gone the terminal event has no id; it still comes last.
    channel = RunChannel("j")
    channel.publish(DELTAS[0])
    failed = StoredEvent(None, "error", '{"code":"STORE_UNAVAILABLE"}')
    channel.publish(failed)
    assert [e async for e in channel.follow(START)] == [DELTAS[0], failed]
    assert [e async for e in channel.follow("100-0")] == [failed]


async def _all(channel: RunChannel) -> list[StoredEvent | None]:
    return [e async for e in channel.follow(START)]
