"""Fenced, idempotent appends on a real Redis.

Nothing is appended after a job's terminal entry or by a runner whose lease is gone; a batch
sent twice stores its text once; every append gives the stream its TTL.
"""

from __future__ import annotations

import asyncio

import pytest

from jobs.delivery.eventlog import Batch
from jobs.events import START, ErrorCode, EventName, StoredEvent, error_payload
from jobs.record.model import Job
from tests.jobs.conftest import LIFETIMES, RUNNER, Domain

pytestmark = pytest.mark.anyio


async def running(domain: Domain) -> Job:
    job = await domain.service.create("alice", "chat", {"prompt": "hi"})
    claim = await domain.store.claim(job.id, "alice", RUNNER)
    assert claim is not None
    assert claim.claimed
    return claim.job


async def start(domain: Domain) -> Job:
    """A job claimed and running on the domain's runner."""
    job = await running(domain)
    domain.runner.start(job)
    return job


def delta(entry_id: str, text: str) -> StoredEvent:
    return StoredEvent(entry_id, EventName.DELTA, f'{{"text":"{text}"}}')


async def texts(domain: Domain, job_id: str) -> list[str]:
    return [e.payload().get("text", e.event) for e in await domain.events.after(job_id, START)]


async def test_a_batch_sent_again_stores_its_text_once(domain: Domain) -> None:
    job = await running(domain)
    first = Batch(job.id, RUNNER, START, [delta("5-0", "a"), delta("5-1", "b")])
    assert await domain.events.append_many([first]) == ["ok"]
    # The reply was lost: the writer sends the same batch again, with more queued behind it.
    again = Batch(job.id, RUNNER, START, [*first.entries, delta("6-0", "c")])
    assert await domain.events.append_many([again]) == ["ok"]
    assert await texts(domain, job.id) == ["a", "b", "c"]
    later = Batch(job.id, RUNNER, "6-0", [delta("7-0", "d")])
    assert await domain.events.append_many([later]) == ["ok"]
    assert await texts(domain, job.id) == ["a", "b", "c", "d"]


async def test_lost_entries_are_a_gap_not_overwritten(domain: Domain) -> None:
    job = await running(domain)
    assert await domain.events.append_many([Batch(job.id, RUNNER, START, [delta("1-0", "a")])])
    # The runner saw 2-0 stored, but the store no longer has it (a stale snapshot).
    refused = await domain.events.append_many([Batch(job.id, RUNNER, "2-0", [delta("3-0", "c")])])
    assert refused == ["gap"]
    assert await texts(domain, job.id) == ["a"]


async def test_nothing_is_appended_after_the_terminal_entry(domain: Domain) -> None:
    job = await running(domain)
    verdict = await domain.store.declare_lost(job.id, {"code": "RUNNER_LOST"})
    assert verdict == "alive"
    await domain.redis.delete(domain.keys.lease(job.id))
    assert await domain.store.declare_lost(job.id, {"code": "RUNNER_LOST"}) == "lost:max-takeovers"
    late = Batch(job.id, RUNNER, START, [delta(f"{2**40}-0", "late")])
    assert await domain.events.append_many([late]) == ["fenced"]
    assert await texts(domain, job.id) == ["error"]


async def test_a_runner_without_its_lease_or_its_job_is_fenced(domain: Domain) -> None:
    mine, stolen, gone = await running(domain), await running(domain), await running(domain)
    await domain.redis.delete(domain.keys.lease(mine.id))
    await domain.redis.set(domain.keys.lease(stolen.id), "another-instance")
    await domain.redis.delete(domain.keys.job(gone.id))  # Redis restarted empty, say
    other = await running(domain)
    batches = [Batch(j.id, RUNNER, START, [delta("1-0", "x")]) for j in (mine, stolen, gone, other)]
    assert await domain.events.append_many(batches) == ["fenced", "fenced", "fenced", "ok"]
    for job in (mine, stolen, gone):
        assert not await domain.redis.exists(domain.keys.events(job.id)), "nothing written"


async def test_every_append_gives_the_stream_its_ttl(domain: Domain) -> None:
    job = await running(domain)
    key = domain.keys.events(job.id)
    assert await domain.events.append_many([Batch(job.id, RUNNER, START, [delta("1-0", "a")])])
    # A stream that lost its TTL (or was recreated after a restart) gets it back on the next
    # append, in the same script.
    await domain.redis.persist(key)
    assert await domain.redis.ttl(key) == -1
    assert await domain.events.append_many([Batch(job.id, RUNNER, "1-0", [delta("2-0", "b")])])
    assert 0 < await domain.redis.ttl(key) <= LIFETIMES.running_s


async def test_a_run_that_loses_its_job_stops_without_writing_again(domain: Domain) -> None:
    domain.backend.chunks = [f"w{n} " for n in range(400)]
    domain.backend.interval_s = 0.005
    job = await start(domain)
    channel = domain.runner.channel(job.id)
    assert channel is not None
    await asyncio.sleep(0.2)
    # Another instance decided the run was lost (its lease lapsed while it was frozen).
    data = error_payload(ErrorCode.RUNNER_LOST, "lost", retryable=True)
    await domain.redis.delete(domain.keys.lease(job.id))
    assert await domain.store.declare_lost(job.id, data) == "lost:max-takeovers"
    seen = [e async for e in channel.follow(START) if e is not None]
    while domain.runner.active:
        await asyncio.sleep(0.01)
    stored = await domain.events.after(job.id, START)
    assert stored[-1].event == EventName.ERROR
    assert stored[-1].payload()["code"] == ErrorCode.RUNNER_LOST, "nothing after the terminal"
    assert seen == stored, "the local reader saw the history every other reader sees"
    assert len(stored) > 1, "the run had streamed deltas before it was declared lost"
