"""Idle-tick lease checks of tailing streams: many checks, one round trip, the right verdicts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from jobs.delivery.lease_checks import LeaseChecks
from jobs.events import ErrorCode, EventName
from jobs.record.replies import LeaseVerdict
from jobs.redis.keys import new_job_id
from tests.jobs.conftest import RUNNER, Domain
from tests.jobs.test_store import running

pytestmark = pytest.mark.anyio


async def test_many_checks_travel_in_one_round_trip_with_each_jobs_verdict(
    domain: Domain,
) -> None:
    alive = [await running(domain) for _ in range(5)]
    dead = [await running(domain) for _ in range(5)]
    for job in dead:
        await domain.redis.delete(domain.keys.lease(job.id))
    unknown = [new_job_id() for _ in range(5)]
    checks = LeaseChecks(domain.store)
    rounds: list[int] = []
    real = domain.store.declare_lost_many

    async def counted(job_ids: list[str], data: dict[str, Any]) -> list[LeaseVerdict]:
        rounds.append(len(job_ids))
        return await real(job_ids, data)

    domain.store.declare_lost_many = counted  # type: ignore[method-assign]
    ids = [job.id for job in alive + dead] + unknown
    # Two streams of each job ask at once: one verdict each job, shared.
    verdicts = await asyncio.gather(*(checks.verdict(job_id) for job_id in ids + ids))
    assert rounds == [len(ids)], "one round trip, each job once"
    expected = ["alive"] * 5 + ["lost:max-takeovers"] * 5 + ["not-running"] * 5
    assert verdicts == expected + expected
    for job in dead:
        tail = await domain.events.last(job.id)
        assert tail is not None
        assert tail[0].event == EventName.ERROR
        assert tail[0].payload()["code"] == ErrorCode.RUNNER_LOST
    assert await domain.redis.get(domain.keys.lease(alive[0].id)) == RUNNER


async def test_a_store_failure_reaches_every_waiting_check(domain: Domain) -> None:
    checks = LeaseChecks(domain.store)

    async def failing(job_ids: list[str], data: dict[str, Any]) -> list[LeaseVerdict]:
        raise ConnectionError("down")

    domain.store.declare_lost_many = failing  # type: ignore[method-assign]
    results = await asyncio.gather(
        *(checks.verdict(new_job_id()) for _ in range(3)), return_exceptions=True
    )
    assert [type(r) for r in results] == [ConnectionError] * 3
