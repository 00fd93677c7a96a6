"""Leases, presence and cancel requests in a real Redis: what one renewal reports for each
state a run can be in, and the inbox that carries cancels between instances."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jobs.events import ErrorCode, error_payload
from jobs.record.model import Job
from jobs.redis.keys import new_job_id
from jobs.running.inbox import INBOX_TTL_S
from jobs.running.lease import LeaseState
from tests.jobs.conftest import RUNNER, SETTINGS, Domain

pytestmark = pytest.mark.anyio

LEASE_TTL_MS = 1_500
assert SETTINGS["lease_ttl_s"] == LEASE_TTL_MS / 1000, "the domain fixture's lease TTL"


async def running(domain: Domain, owner: str = "alice") -> Job:
    job = Job(id=new_job_id(), owner=owner, agent="chat", input={"prompt": "hi"})
    await domain.store.create(job)
    claim = await domain.store.claim(job.id, owner, RUNNER)
    assert claim is not None
    assert claim.claimed
    return claim.job


async def test_a_renewal_reports_each_runs_state_in_one_call(domain: Domain) -> None:
    held, cancelled, lost, foreign = [await running(domain) for _ in range(4)]
    data = error_payload(ErrorCode.CANCELLED, "c", retryable=False)
    assert await domain.store.cancel(cancelled.id, "alice", data) == ("requested", RUNNER)
    await domain.redis.delete(domain.keys.lease(lost.id))
    await domain.redis.set(domain.keys.lease(foreign.id), "another-instance", px=LEASE_TTL_MS)

    states = await domain.leases.renew(
        dict.fromkeys([held.id, cancelled.id, lost.id, foreign.id], RUNNER)
    )
    assert states == {
        held.id: LeaseState(held=True, cancel_requested=False, readers=0),
        cancelled.id: LeaseState(held=True, cancel_requested=True, readers=0),
        lost.id: LeaseState(held=False, cancel_requested=False, readers=0),
        foreign.id: LeaseState(held=False, cancel_requested=False, readers=0),
    }
    assert await domain.redis.get(domain.keys.lease(foreign.id)) == "another-instance"
    assert not await domain.redis.exists(domain.keys.lease(lost.id)), "a lost lease stays lost"
    assert await domain.leases.renew(dict.fromkeys([], RUNNER)) == {}


async def test_a_renewal_extends_only_the_runners_own_lease(domain: Domain) -> None:
    job = await running(domain)
    lease = domain.keys.lease(job.id)
    await domain.redis.pexpire(lease, 200)
    await domain.leases.renew(dict.fromkeys([job.id], RUNNER))
    assert 200 < await domain.redis.pttl(lease) <= LEASE_TTL_MS

    await domain.redis.pexpire(lease, 200)
    assert not (await domain.leases.renew(dict.fromkeys([job.id], "someone-else")))[job.id].held
    assert 0 < await domain.redis.pttl(lease) <= 200, "another runner's renewal extends nothing"


async def test_readers_are_counted_until_they_leave_or_their_presence_lapses(
    domain: Domain,
) -> None:
    job = await running(domain)
    await domain.leases.readers.present(job.id, "r1")
    await domain.leases.readers.present(job.id, "r2")
    await domain.leases.readers.present(job.id, "r2")  # a refresh, not another reader
    assert (await domain.leases.renew(dict.fromkeys([job.id], RUNNER)))[job.id].readers == 2
    await domain.leases.readers.absent(job.id, "r1")
    assert (await domain.leases.renew(dict.fromkeys([job.id], RUNNER)))[job.id].readers == 1

    readers = domain.keys.readers(job.id)
    entries: Any = await domain.redis.zrange(readers, 0, -1, withscores=True)
    [(_, expires_at_ms)] = entries
    await domain.redis.zadd(readers, {"r2": expires_at_ms - LEASE_TTL_MS - 1_000}, xx=True)
    assert (await domain.leases.renew(dict.fromkeys([job.id], RUNNER)))[job.id].readers == 0, (
        "r2 lapsed"
    )
    assert await domain.redis.zcard(readers) == 0, "the renewal dropped the lapsed entry"


async def test_a_renewal_survives_a_redis_that_lost_its_scripts(domain: Domain) -> None:
    job = await running(domain)
    await domain.redis.script_flush()
    assert (await domain.leases.renew(dict.fromkeys([job.id], RUNNER)))[job.id].held


async def test_cancel_requests_reach_the_instance_inbox_in_order(domain: Domain) -> None:
    first, second = new_job_id(), new_job_id()
    await domain.leases.inbox.request_cancel("instance-b", first)
    await domain.leases.inbox.request_cancel("instance-b", second)
    inbox = domain.keys.inbox("instance-b")
    assert 0 < await domain.redis.ttl(inbox) <= INBOX_TTL_S, "unread requests expire"
    assert await domain.leases.inbox.next_request("instance-a", timeout_s=0.1) is None
    assert await domain.leases.inbox.next_request("instance-b", timeout_s=1) == first
    assert await domain.leases.inbox.next_request("instance-b", timeout_s=1) == second
    assert await domain.leases.inbox.next_request("instance-b", timeout_s=0.1) is None


async def test_a_waiting_instance_gets_a_request_as_it_arrives(domain: Domain) -> None:
    job_id = new_job_id()
    waiting = asyncio.create_task(domain.leases.inbox.next_request("instance-b", timeout_s=5))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await domain.leases.inbox.request_cancel("instance-b", job_id)
    assert await waiting == job_id
