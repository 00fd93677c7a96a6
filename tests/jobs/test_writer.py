"""The runner's writes through a real Redis outage: retried while the run can still succeed,
otherwise a retryable ``STORE_UNAVAILABLE``; never a skipped delta."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import cast

import pytest

from app.services import build_services
from jobs.delivery.channel import RunChannel
from jobs.delivery.eventlog import Batch, EventLog, Verdict
from jobs.delivery.writer import EventWriter
from jobs.events import START, ErrorCode, EventName, JobStatus, StoredEvent
from tests.conftest import make_settings
from tests.jobs.conftest import SETTINGS, Domain
from tests.support.backends import ScriptedBackend
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio


@pytest.fixture
def persistent_redis() -> Iterator[RedisServer]:
    with RedisServer("--appendonly", "yes", "--appendfsync", "always") as server:
        yield server


@pytest.fixture
async def domain(persistent_redis: RedisServer) -> AsyncIterator[Domain]:
    backend = ScriptedBackend(chunks=[f"w{n} " for n in range(150)], interval_s=0.01)
    # A lease (and so a retry window) of 3 s: longer than the short outage below.
    settings = make_settings(persistent_redis.url, **(SETTINGS | {"lease_ttl_s": 3.0}))
    async with build_services(settings, backend=backend, instance_id="writer-test") as services:
        yield Domain(services, backend)


async def run_through_outage(
    domain: Domain, redis: RedisServer, outage_s: float
) -> tuple[str, list[StoredEvent]]:
    """Start a run, stop Redis for ``outage_s`` mid-run; return the job id and what a local
    reader saw."""
    job = await domain.service.create("alice", "chat", {"prompt": "hi"})
    claim = await domain.store.claim(job.id, "alice", "writer-test")
    assert claim is not None
    channel = domain.runner.start(claim.job)
    seen: list[StoredEvent] = []

    async def read() -> None:
        async for event in channel.follow(START):
            if event is not None:
                seen.append(event)

    reader = asyncio.create_task(read())
    await asyncio.sleep(0.4)
    await asyncio.to_thread(redis.stop)
    await asyncio.sleep(outage_s)
    await asyncio.to_thread(redis.start)
    await asyncio.wait_for(reader, 30)
    while domain.runner.active:
        await asyncio.sleep(0.01)
    return job.id, seen


def gap_free_text(events: list[StoredEvent], text: str) -> str:
    """The deltas' text, checked to be a gap-free prefix of ``text``."""
    parts: list[str] = []
    total = 0
    for event in events:
        if event.event == EventName.DELTA:
            data = event.payload()
            parts.append(data["text"])
            total += len(data["text"])
            assert data["totalLength"] == total, "a gap or a repeat"
    assert text.startswith("".join(parts))
    return "".join(parts)


async def test_a_short_outage_delays_the_run_but_loses_nothing(
    domain: Domain, persistent_redis: RedisServer
) -> None:
    job_id, events = await run_through_outage(domain, persistent_redis, outage_s=1.0)
    assert events[-1].event == EventName.COMPLETE, events[-1].data
    assert gap_free_text(events, domain.backend.text) == domain.backend.text
    stored = await domain.events.after(job_id, START)
    assert gap_free_text(stored, domain.backend.text) == domain.backend.text
    assert [e.id for e in events] == [e.id for e in stored], "readers see only stored events"


async def test_an_outage_longer_than_the_lease_ends_the_run_retryably(
    domain: Domain, persistent_redis: RedisServer
) -> None:
    job_id, events = await run_through_outage(domain, persistent_redis, outage_s=4.5)
    ending = events[-1].payload()
    assert events[-1].event == EventName.ERROR
    assert ending["code"] in (ErrorCode.STORE_UNAVAILABLE, ErrorCode.RUNNER_LOST)
    assert ending["retryable"] is True
    text = gap_free_text(events, domain.backend.text)
    assert text, "what was stored before the outage was delivered"
    assert text != domain.backend.text, "the run did not pretend to finish"
    # Redis came back after the run gave up: its ending could not be stored, and the job's
    # lease has lapsed. Reading its status settles it, so readers elsewhere get an ending too.
    assert (await domain.service.status("alice", job_id)).status is JobStatus.FAILED
    stored = await domain.events.after(job_id, START)
    stored_text = gap_free_text(stored, domain.backend.text)
    assert stored[-1].event == EventName.ERROR
    if stored_text != text:
        # The batch in flight as Redis went down was stored, its reply lost: the runner could
        # not know, so it published nothing of it. The local ending then has no id, so the
        # reader's Last-Event-ID (its last delta) resumes and gets the rest: the same history.
        assert events[-1].id is None, "an ending with an id would hide the stored rest"
        assert stored_text.startswith(text)
        assert [e.id for e in stored[: len(events) - 1]] == [e.id for e in events[:-1]]


class CountingLog:
    """An event log that records the batches of each ``append_many`` call and stores them."""

    def __init__(self) -> None:
        self.calls: list[list[tuple[str, int]]] = []

    async def append_many(self, batches: list[Batch]) -> list[Verdict]:
        self.calls.append([(batch.job_id, len(batch.entries)) for batch in batches])
        return ["ok"] * len(batches)


async def test_events_within_the_gathering_window_share_one_round_trip() -> None:
    """The first event after a quiet spell is stored at once; what the runs queue while the
    window since that batch's start lasts goes in one call, and every event is published."""
    log = CountingLog()
    writer = EventWriter(cast(EventLog, log), runner="r", retry_for_s=5, gather_s=0.2)
    channels = {job: RunChannel(job) for job in ("a", "b", "c")}
    writer.open()
    try:
        writer.submit("a", EventName.DELTA, "{}", channel=channels["a"])
        await writer.flushed("a")
        assert log.calls == [[("a", 1)]], "a lone event is not held back"
        for job in ("a", "b", "c", "b"):
            writer.submit(job, EventName.DELTA, "{}", channel=channels[job])
            await asyncio.sleep(0.02)  # flushes at unrelated moments, well within the window
        assert len(log.calls) == 1, "nothing is stored before the window ends"
        for job in channels:
            await writer.flushed(job)
        assert log.calls[1] == [("a", 1), ("b", 2), ("c", 1)]
        assert [len(channel._events) for channel in channels.values()] == [2, 2, 1]
    finally:
        await writer.aclose()
