"""The event log in a real Redis: stored events have a TTL and a length bound, and are read
back after any id."""

from __future__ import annotations

import pytest

from jobs.events import Event
from jobs.keys import new_job_id
from tests.jobs.conftest import LIFETIMES, Domain

pytestmark = pytest.mark.anyio


async def test_appended_events_have_a_ttl_and_a_length_bound(domain: Domain) -> None:
    job_id = new_job_id()
    first = await domain.events.append(job_id, Event.DELTA, {"n": 0}, first=True)
    assert 0 < await domain.redis.ttl(domain.keys.events(job_id)) <= LIFETIMES.running_s
    maxlen = domain.events.maxlen
    written = maxlen * 5 // 2
    for n in range(1, written):
        await domain.events.append(job_id, Event.DELTA, {"n": n})
    length = await domain.redis.xlen(domain.keys.events(job_id))
    assert maxlen <= length < written, "approximate trimming keeps at least maxlen, bounds the rest"
    after = await domain.events.after(job_id, first.id or "", count=5)
    assert len(after) == 5
