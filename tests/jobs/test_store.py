"""The job record in a real Redis: TTLs, the atomic claim, the terminal transaction."""

from __future__ import annotations

import asyncio

import pytest

from jobs.delivery.eventlog import Batch
from jobs.events import START, ErrorCode, EventName, JobStatus, StoredEvent, error_payload
from jobs.record.model import Job
from jobs.record.replies import LeaseVerdict
from jobs.redis.keys import new_job_id
from tests.jobs.conftest import LIFETIMES, RUNNER, Domain

pytestmark = pytest.mark.anyio


def a_job(owner: str = "alice") -> Job:
    return Job(id=new_job_id(), owner=owner, agent="chat", input={"prompt": "hi", "maxTokens": 5})


async def test_create_stores_the_hash_with_the_pending_ttl(domain: Domain) -> None:
    job = a_job()
    await domain.store.create(job)
    key = domain.keys.job(job.id)
    fields = await domain.redis.hgetall(key)
    assert fields["owner"] == "alice"
    assert fields["status"] == "pending"
    assert fields["agent"] == "chat"
    assert fields["input"] == '{"prompt":"hi","maxTokens":5}'
    assert 0 < await domain.redis.ttl(key) <= LIFETIMES.pending_s
    assert await domain.store.get(job.id) == job


async def test_claim_is_atomic_under_concurrency(domain: Domain) -> None:
    job = a_job()
    await domain.store.create(job)
    results = await asyncio.gather(
        *(domain.store.claim(job.id, "alice", f"runner-{n}") for n in range(50))
    )
    claimed = [r for r in results if r is not None and r.claimed]
    assert len(claimed) == 1
    winner = claimed[0].job
    assert winner.status is JobStatus.RUNNING
    stored = await domain.store.get(job.id)
    assert stored is not None
    assert stored.runner == winner.runner
    assert stored.started_at_ms is not None
    ttl = await domain.redis.ttl(domain.keys.job(job.id))
    assert 0 < ttl <= LIFETIMES.running_s < LIFETIMES.pending_s, "the claim set the run's TTL"


async def test_claim_refuses_another_owner_and_leaves_the_job_pending(domain: Domain) -> None:
    job = a_job()
    await domain.store.create(job)
    result = await domain.store.claim(job.id, "mallory", "runner")
    assert result is not None
    seen, claimed = result.job, result.claimed
    assert not claimed
    assert seen.owner == "alice"
    stored = await domain.store.get(job.id)
    assert stored is not None
    assert stored.status is JobStatus.PENDING


async def test_claim_of_a_missing_job_is_none(domain: Domain) -> None:
    assert await domain.store.claim(new_job_id(), "alice", "runner") is None


async def running(domain: Domain, owner: str = "alice") -> Job:
    job = a_job(owner)
    await domain.store.create(job)
    claim = await domain.store.claim(job.id, owner, RUNNER)
    assert claim is not None
    assert claim.claimed
    return claim.job


async def test_success_compacts_the_record_and_keeps_events_for_the_grace(domain: Domain) -> None:
    job = await running(domain)
    assert await domain.redis.get(domain.keys.lease(job.id)) == RUNNER
    delta = StoredEvent("1-0", EventName.DELTA, '{"text":"x","totalLength":1}')
    assert await domain.events.append_many([Batch(job.id, RUNNER, START, [delta])]) == ["ok"]
    event = await domain.store.finish(
        job, RUNNER, EventName.COMPLETE, {"result": {"text": "x"}}, JobStatus.COMPLETED
    )
    kept = await domain.store.get(job.id)
    assert kept is not None
    assert kept.status is JobStatus.COMPLETED
    assert kept.complete == {"result": {"text": "x"}}
    assert kept.input == {}  # compact: the input is not kept
    assert kept.finished_at_ms is not None
    assert kept.finished_at_ms >= (kept.started_at_ms or 0)
    ttl_s = await domain.redis.ttl(domain.keys.job(job.id))
    assert 0 < ttl_s <= LIFETIMES.result_ttl_s
    assert not await domain.redis.exists(domain.keys.lease(job.id))
    events_key = domain.keys.events(job.id)
    assert 0 < await domain.redis.ttl(events_key) <= LIFETIMES.resume_grace_s
    tail = await domain.events.last(job.id)
    assert tail is not None
    assert tail[0] == event
    assert tail[1] == "alice"


async def test_failure_keeps_the_record_with_status_and_error(domain: Domain) -> None:
    job = await running(domain)
    data = error_payload(ErrorCode.AGENT_ERROR, "nope", retryable=False)
    assert (
        await domain.store.finish(job, RUNNER, EventName.ERROR, data, JobStatus.FAILED) is not None
    )
    stored = await domain.store.get(job.id)
    assert stored is not None
    assert stored.status is JobStatus.FAILED
    assert stored.error == data
    ttl = await domain.redis.ttl(domain.keys.job(job.id))
    assert LIFETIMES.resume_grace_s < ttl <= LIFETIMES.failed_retention_s
    assert 0 < await domain.redis.ttl(domain.keys.events(job.id)) <= LIFETIMES.resume_grace_s


async def test_only_the_runner_holding_the_job_can_finish_it(domain: Domain) -> None:
    job = await running(domain)
    data = error_payload(ErrorCode.TIMEOUT, "t", retryable=True)
    assert (
        await domain.store.finish(job, "someone-else", EventName.ERROR, data, JobStatus.FAILED)
        is None
    )
    assert (
        await domain.store.finish(job, RUNNER, EventName.ERROR, data, JobStatus.FAILED) is not None
    )
    again = await domain.store.finish(
        job, RUNNER, EventName.COMPLETE, {"result": {}}, JobStatus.COMPLETED
    )
    assert again is None, "a job ends once"
    assert await domain.redis.xlen(domain.keys.events(job.id)) == 1


async def test_cancel_a_pending_job_ends_it_at_once(domain: Domain) -> None:
    job = a_job()
    await domain.store.create(job)
    data = error_payload(ErrorCode.CANCELLED, "c", retryable=False)
    assert await domain.store.cancel(job.id, "mallory", data) == ("forbidden", "")
    assert await domain.store.cancel(job.id, "alice", data) == ("cancelled", job.agent)
    stored = await domain.store.get(job.id)
    assert stored is not None
    assert stored.status is JobStatus.CANCELLED
    assert await domain.store.cancel(job.id, "alice", data) == ("finished", "cancelled")
    claim = await domain.store.claim(job.id, "alice", RUNNER)
    assert claim is not None
    assert not claim.claimed, "a cancelled job never runs"


async def test_cancel_a_running_job_asks_its_runner_unless_the_runner_is_gone(
    domain: Domain,
) -> None:
    job = await running(domain)
    data = error_payload(ErrorCode.CANCELLED, "c", retryable=False)
    assert await domain.store.cancel(job.id, "alice", data) == ("requested", RUNNER)
    states = await domain.leases.renew(dict.fromkeys([job.id], RUNNER))
    assert states[job.id].cancel_requested
    await domain.redis.delete(domain.keys.lease(job.id))  # the runner died
    assert await domain.store.cancel(job.id, "alice", data) == ("cancelled", job.agent)
    tail = await domain.events.last(job.id)
    assert tail is not None
    assert tail[0].payload()["code"] == "CANCELLED"


async def test_a_lost_runner_is_declared_once(domain: Domain) -> None:
    job = await running(domain)
    data = error_payload(ErrorCode.RUNNER_LOST, "gone", retryable=True)
    assert await domain.store.declare_lost(job.id, data) == "alive"
    await domain.redis.delete(domain.keys.lease(job.id))
    verdicts = await asyncio.gather(*(domain.store.declare_lost(job.id, data) for _ in range(20)))
    assert verdicts.count(LeaseVerdict.LOST_MAX_TAKEOVERS) == 1
    assert set(verdicts) == {"lost:max-takeovers", "not-running"}
    assert await domain.redis.xlen(domain.keys.events(job.id)) == 1
    stored = await domain.store.get(job.id)
    assert stored is not None
    assert stored.status is JobStatus.FAILED
    assert not (await domain.leases.renew(dict.fromkeys([job.id], RUNNER)))[job.id].held


async def test_the_pending_index_follows_every_move_in_and_out_of_pending(domain: Domain) -> None:
    store = domain.store
    jobs = [a_job() for _ in range(4)]
    for job in jobs:
        await store.create(job)
    assert await store.pending.count() == 4
    assert await domain.redis.zcard(domain.keys.pending()) == 4

    mallory = await store.claim(jobs[0].id, "mallory", RUNNER)  # not hers: stays pending
    draining = await store.claim(jobs[0].id, "alice", "")  # a draining instance claims nothing
    assert mallory is not None
    assert not mallory.claimed
    assert draining is not None
    assert not draining.claimed
    assert await store.pending.count() == 4

    claim = await store.claim(jobs[0].id, "alice", RUNNER)
    assert claim is not None
    assert claim.claimed
    assert await store.pending.count() == 3
    await store.unclaim(jobs[0].id, RUNNER)  # its stream was refused: pending again
    assert await store.pending.count() == 4

    cancelled = {"code": ErrorCode.CANCELLED.value, "message": "cancelled"}
    assert (await store.cancel(jobs[1].id, "alice", cancelled))[0] == "cancelled"
    assert await store.pending.count() == 3
    await store.discard(jobs[2])  # a creation the rate limit refused
    assert await store.pending.count() == 2

    # A running job that is cancelled was not in the index, and takes nothing out of it.
    run = await running(domain)
    assert await store.pending.count() == 2
    assert (await store.cancel(run.id, "alice", cancelled))[0] == "requested"
    assert await store.pending.count() == 2
    ttl_ms = await domain.redis.pttl(domain.keys.pending())
    assert 0 < ttl_ms <= LIFETIMES.pending_s * 1000, "the index expires when its jobs have"
