"""Open streams give back their owner's slot and their presence on the job however they end:
at the terminal event, dropped mid-run, cancelled while waiting, or refused while attaching.
Real Redis, the app's composition root, stream limits on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import pytest

from app.services import build_services
from jobs.errors import JobFinished, JobNotFound, NotOwner, TooManyStreams
from jobs.events import START, JobStatus, StoredEvent
from jobs.record.model import Job
from jobs.redis.keys import new_job_id
from jobs.service import Attachment
from tests.conftest import make_settings
from tests.jobs.conftest import RUNNER, SETTINGS, Domain
from tests.support.backends import ScriptedBackend

pytestmark = pytest.mark.anyio

MAX_STREAMS = 2


@pytest.fixture
async def limited(redis_url: str, backend: ScriptedBackend) -> AsyncIterator[Domain]:
    """The domain with at most ``MAX_STREAMS`` open streams per user."""
    settings = make_settings(redis_url, **SETTINGS | {"max_streams_per_user": MAX_STREAMS})
    async with build_services(settings, backend=backend, instance_id=RUNNER) as services:
        yield Domain(services, backend)


async def held(domain: Domain, job_id: str, owner: str = "alice") -> tuple[int, int, int]:
    """(slots the owner holds, presence entries on the job, streams open here)."""
    slots = await domain.redis.zcard(domain.keys.user_streams(owner))
    present = await domain.redis.zcard(domain.keys.readers(job_id))
    return slots, present, domain.service.open_streams


async def attach(domain: Domain, job: Job, after: str | None = None) -> Attachment:
    attachment = await domain.service.attach("alice", job.id, after)
    assert attachment is not None
    return attachment


async def drop(attachment: Attachment) -> None:
    """Stop reading mid-stream, as a closed connection does."""
    assert isinstance(attachment.events, AsyncGenerator)
    await attachment.events.aclose()


async def read_all(attachment: Attachment) -> list[StoredEvent]:
    return [e async for e in attachment.events if e is not None]


async def test_a_stream_read_to_its_end_gives_everything_back(limited: Domain) -> None:
    limited.backend.interval_s = 0.2  # still running when the first event is read
    job = await limited.service.create("alice", "chat", {"prompt": "hi"})
    attachment = await attach(limited, job)
    first = await anext(attachment.events)
    assert first is not None
    assert await held(limited, job.id) == (1, 1, 1), "held while open"
    events = [first, *await read_all(attachment)]
    assert events[-1].event == "complete"
    assert await held(limited, job.id) == (0, 0, 0)

    # A replay of the finished run holds a slot too, and gives it back at its end.
    assert first.id is not None
    replay = await attach(limited, job, first.id)
    assert await read_all(replay) == events[1:]
    assert await held(limited, job.id) == (0, 0, 0)


async def test_a_stream_dropped_mid_run_gives_everything_back(limited: Domain) -> None:
    limited.backend.hang = True
    job = await limited.service.create("alice", "chat", {"prompt": "hi"})
    attachment = await attach(limited, job)
    assert await anext(attachment.events) is not None
    assert await held(limited, job.id) == (1, 1, 1)
    await drop(attachment)  # the client went away
    assert await held(limited, job.id) == (0, 0, 0)


async def test_a_stream_cancelled_while_waiting_gives_everything_back(limited: Domain) -> None:
    limited.backend.hang = True
    job = await limited.service.create("alice", "chat", {"prompt": "hi"})
    attachment = await attach(limited, job)
    reading = asyncio.create_task(read_all(attachment))
    while await held(limited, job.id) != (1, 1, 1) or limited.runner.active == 0:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)  # the reader now waits for the next event
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    assert await held(limited, job.id) == (0, 0, 0)


async def test_attaches_that_fail_give_everything_back(limited: Domain) -> None:
    job = await limited.service.create("alice", "chat", {"prompt": "hi"})
    with pytest.raises(NotOwner):
        await limited.service.attach("mallory", job.id, None)
    assert await held(limited, job.id, "mallory") == (0, 0, 0)
    with pytest.raises(JobNotFound):
        await limited.service.attach("alice", new_job_id(), None)
    assert await limited.redis.zcard(limited.keys.user_streams("alice")) == 0

    events = await read_all(await attach(limited, job))
    with pytest.raises(JobFinished):  # a finished job without Last-Event-ID: 410
        await limited.service.attach("alice", job.id, None)
    terminal = events[-1].id
    assert terminal is not None
    assert await limited.service.attach("alice", job.id, terminal) is None  # seen it all: 204
    assert await held(limited, job.id) == (0, 0, 0)


async def test_a_refused_attach_holds_nothing_and_leaves_the_job_pending(limited: Domain) -> None:
    limited.backend.hang = True
    jobs = [await limited.service.create("alice", "chat", {"prompt": "hi"}) for _ in range(3)]
    open_ones = [await attach(limited, job) for job in jobs[:MAX_STREAMS]]
    for attachment in open_ones:
        assert await anext(attachment.events) is not None
    with pytest.raises(TooManyStreams):
        await attach(limited, jobs[-1])
    assert await held(limited, jobs[-1].id) == (MAX_STREAMS, 0, MAX_STREAMS)
    stored = await limited.store.get(jobs[-1].id)
    assert stored is not None
    assert stored.status is JobStatus.PENDING
    for attachment in open_ones:
        await drop(attachment)
    assert await held(limited, jobs[-1].id) == (0, 0, 0)
    assert await limited.redis.zcard(limited.keys.user_streams("alice")) == 0


async def test_streams_are_followed_from_the_channel_in_order(limited: Domain) -> None:
    limited.backend.chunks = [f"t{n} " for n in range(10)]
    job = await limited.service.create("alice", "chat", {"prompt": "hi"})
    events = await read_all(await attach(limited, job))
    assert events == await limited.events.after(job.id, START)


async def test_open_streams_are_kept_fresh_together(limited: Domain) -> None:
    limited.backend.hang = True
    job = await limited.service.create("alice", "chat", {"prompt": "hi"})
    attachment = await attach(limited, job)
    assert await anext(attachment.events) is not None
    slots, readers = limited.keys.user_streams("alice"), limited.keys.readers(job.id)
    members: Any = await limited.redis.zrange(slots, 0, -1)
    [stream_id] = members
    for key in (slots, readers):  # as if the last refresh were long ago
        await limited.redis.zadd(key, {stream_id: 1}, xx=True)
    for _ in range(300):  # a refresh comes every third of the lease TTL
        if await limited.redis.zscore(slots, stream_id) != 1:
            break
        await asyncio.sleep(0.01)
    assert (await limited.redis.zscore(slots, stream_id) or 0) > 1
    assert (await limited.redis.zscore(readers, stream_id) or 0) > 1
    assert (await limited.leases.renew(dict.fromkeys([job.id], RUNNER)))[job.id].readers == 1
    await drop(attachment)


async def zrem_calls(domain: Domain) -> int:
    stats: dict[str, Any] = await domain.redis.info("commandstats")
    return int(stats.get("cmdstat_zrem", {}).get("calls", 0))


async def test_a_stream_that_saw_its_job_settle_ends_without_a_round_trip(domain: Domain) -> None:
    """Without stream slots, a stream that delivered the stored terminal event has nothing to
    give back (settling dropped every presence on the job): its end sends Redis nothing. One
    dropped mid-run still takes its presence back at once."""
    domain.backend.interval_s = 0.05
    job = await domain.service.create("alice", "chat", {"prompt": "hi"})
    attachment = await attach(domain, job)
    assert await anext(attachment.events) is not None
    assert await held(domain, job.id) == (0, 1, 1), "present while the run goes on"
    before = await zrem_calls(domain)
    events = await read_all(attachment)
    assert events[-1].event == "complete"
    assert await held(domain, job.id) == (0, 0, 0)
    # One ZREM only: the run's own exit from the lease deadline index, none for presence.
    assert await zrem_calls(domain) == before + 1, "no presence removal after the settle"

    domain.backend.hang = True
    dropped = await domain.service.create("alice", "chat", {"prompt": "hi"})
    attachment = await attach(domain, dropped)
    assert await anext(attachment.events) is not None
    assert await held(domain, dropped.id) == (0, 1, 1)
    before = await zrem_calls(domain)  # after the claim's (out of the pending-jobs index)
    await drop(attachment)
    assert await held(domain, dropped.id) == (0, 0, 0)
    assert await zrem_calls(domain) == before + 1  # the dropped stream's presence
