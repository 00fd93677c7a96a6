"""The job service in domain terms against a real Redis: creation and its rate limit, status
after the record is gone, cancel wherever the run is, and what attaching decides."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from app.services import build_services
from jobs.errors import InputInvalid, JobNotFound, NotOwner, RateLimited
from jobs.events import JobStatus, StoredEvent
from jobs.redis.keys import new_job_id
from tests.conftest import make_settings
from tests.jobs.conftest import RUNNER, SETTINGS, Domain
from tests.support.backends import ScriptedBackend

#: Job records only (not their streams, leases or readers).
RECORDS = "jobs:{*}"

pytestmark = pytest.mark.anyio


@pytest.fixture
async def rate_limited(redis_url: str, backend: ScriptedBackend) -> AsyncIterator[Domain]:
    """The domain with at most two job creations per user and minute."""
    settings = make_settings(redis_url, **SETTINGS | {"rate_limit_create_per_min": 2})
    async with build_services(settings, backend=backend, instance_id=RUNNER) as services:
        yield Domain(services, backend)


async def run_to_end(domain: Domain, job_id: str) -> list[StoredEvent]:
    attachment = await domain.service.attach("alice", job_id, None)
    assert attachment is not None
    return [e async for e in attachment.events if e is not None]


async def test_create_stores_the_validated_input(domain: Domain) -> None:
    job = await domain.service.create("alice", "chat", {"prompt": "hi", "model": "model-b"})
    stored = await domain.store.get(job.id)
    assert stored is not None
    assert (stored.owner, stored.agent, stored.status) == ("alice", "chat", JobStatus.PENDING)
    assert stored.input == {"prompt": "hi", "model": "model-b", "maxTokens": 1024}, (
        "defaults filled"
    )
    with pytest.raises(InputInvalid):
        await domain.service.create("alice", "chat", {"prompt": "hi", "model": "not-allowed"})
    assert len(await domain.redis.keys(RECORDS)) == 1, "nothing stored"


async def test_a_rate_limited_creation_leaves_no_record(rate_limited: Domain) -> None:
    made = [await rate_limited.service.create("alice", "chat", {"prompt": "hi"}) for _ in "ab"]
    with pytest.raises(RateLimited) as refused:
        await rate_limited.service.create("alice", "chat", {"prompt": "hi"})
    assert refused.value.retry_after_s > 0
    records = await rate_limited.redis.keys(RECORDS)
    assert sorted(records) == sorted(rate_limited.keys.job(job.id) for job in made)


async def test_status_after_success_comes_from_the_terminal_event(domain: Domain) -> None:
    job = await domain.service.create("alice", "chat", {"prompt": "hi"})
    events = await run_to_end(domain, job.id)
    assert events[-1].event == "complete"
    await domain.redis.delete(domain.keys.job(job.id))  # RESULT_TTL_S has passed (or was 0)
    status = await domain.service.status("alice", job.id)
    assert status.status is JobStatus.COMPLETED
    assert status.complete == events[-1].payload()
    with pytest.raises(NotOwner):
        await domain.service.status("mallory", job.id)
    with pytest.raises(JobNotFound):
        await domain.service.status("alice", new_job_id())


async def test_cancel_is_idempotent_and_only_the_owners(domain: Domain) -> None:
    job = await domain.service.create("alice", "chat", {"prompt": "hi"})
    with pytest.raises(NotOwner):
        await domain.service.cancel("mallory", job.id)
    await domain.service.cancel("alice", job.id)
    await domain.service.cancel("alice", job.id)
    assert (await domain.service.status("alice", job.id)).status is JobStatus.CANCELLED
    with pytest.raises(JobNotFound):
        await domain.service.cancel("alice", new_job_id())


async def test_cancel_of_a_run_on_another_instance_goes_to_its_inbox(domain: Domain) -> None:
    job = await domain.service.create("alice", "chat", {"prompt": "hi"})
    claim = await domain.store.claim(job.id, "alice", "instance-b")
    assert claim is not None
    assert claim.claimed
    await domain.service.cancel("alice", job.id)
    assert await domain.leases.inbox.next_request("instance-b", timeout_s=1) == job.id
    assert await domain.leases.inbox.next_request(RUNNER, timeout_s=0.1) is None


async def test_a_resume_after_success_replays_after_the_given_id(domain: Domain) -> None:
    job = await domain.service.create("alice", "chat", {"prompt": "hi"})
    events = await run_to_end(domain, job.id)
    assert len(events) >= 2
    middle = events[0].id
    assert middle is not None
    replay = await domain.service.attach("alice", job.id, middle)
    assert replay is not None
    assert replay.resumed
    assert replay.status is JobStatus.COMPLETED
    assert [e async for e in replay.events if e is not None] == events[1:]
    with pytest.raises(NotOwner):
        await domain.service.attach("mallory", job.id, middle)
