"""A job whose runner's lease has expired never reads as ``running`` (real Redis)."""

from __future__ import annotations

import pytest

from jobs.events import ErrorCode, EventName, JobStatus
from tests.jobs.conftest import LIFETIMES, Domain
from tests.jobs.test_fencing import running

pytestmark = pytest.mark.anyio


async def test_status_of_a_job_whose_lease_expired_is_failed_and_settled(domain: Domain) -> None:
    job = await running(domain)
    assert (await domain.service.status("alice", job.id)).status is JobStatus.RUNNING
    await domain.redis.delete(domain.keys.lease(job.id))
    status = await domain.service.status("alice", job.id)
    assert status.status is JobStatus.FAILED
    assert status.error is not None
    assert status.error["code"] == ErrorCode.RUNNER_LOST
    tail = await domain.events.last(job.id)
    assert tail is not None
    assert tail[0].event == EventName.ERROR, "status and stream agree"
    assert tail[0].payload()["code"] == ErrorCode.RUNNER_LOST
    assert 0 < await domain.redis.ttl(domain.keys.job(job.id)) <= LIFETIMES.failed_retention_s
