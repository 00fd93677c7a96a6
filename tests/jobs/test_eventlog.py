"""The event log in a real Redis: stored events have a TTL and a length bound, and are read
back after any id."""

from __future__ import annotations

import pytest

from jobs.delivery.eventlog import Batch
from jobs.events import START, EventName, StoredEvent
from tests.jobs.conftest import LIFETIMES, RUNNER, Domain
from tests.jobs.test_store import running

pytestmark = pytest.mark.anyio


async def test_appended_events_have_a_ttl_and_a_length_bound(domain: Domain) -> None:
    job_id = (await running(domain)).id
    maxlen = domain.events.maxlen
    written = maxlen * 5 // 2
    # In batches of 50, as the writer sends them: a round trip per event would outlast the
    # test's 1.5 s lease on a busy machine, and the append script refuses a runner without one.
    for first in range(0, written, 50):
        after = f"{first}-0" if first else START
        events = [
            StoredEvent(f"{n + 1}-0", EventName.DELTA, f'{{"n":{n}}}')
            for n in range(first, min(first + 50, written))
        ]
        assert await domain.events.append_many([Batch(job_id, RUNNER, after, events)]) == ["ok"]
        if first == 0:
            assert 0 < await domain.redis.ttl(domain.keys.events(job_id)) <= LIFETIMES.running_s
    length = await domain.redis.xlen(domain.keys.events(job_id))
    assert maxlen <= length < written, "approximate trimming keeps at least maxlen, bounds the rest"
    later = await domain.events.after(job_id, "1-0", count=5)
    assert len(later) == 5


async def test_event_data_is_stored_exactly_as_given(domain: Domain) -> None:
    """A run's batch travels to the append script as one JSON argument: whatever the data
    holds (escapes, quotes, non-ASCII, characters JSON must escape) comes back unchanged, and
    several runs' batches in one call each reach their own stream."""
    first, second = (await running(domain)).id, (await running(domain)).id
    awkward = [
        '{"text":"line\\nbreak \\"quoted\\" back\\\\slash"}',
        '{"text":"é ü 漢字 😀 \u2028 \u0000-escaped: \\u0000"}',
        "not JSON at all: [1, {, \x01\x1f",
        "",
    ]
    one = [StoredEvent(f"{n + 1}-0", EventName.DELTA, data) for n, data in enumerate(awkward)]
    two = [StoredEvent("1-0", EventName.TOOL, '{"n":2}')]
    verdicts = await domain.events.append_many(
        [Batch(first, RUNNER, START, one), Batch(second, RUNNER, START, two)]
    )
    assert verdicts == ["ok", "ok"]
    assert await domain.events.after(first, START) == one
    assert await domain.events.after(second, START) == two
