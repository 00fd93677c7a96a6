"""Key names: one module, one hash tag per job."""

from __future__ import annotations

import pytest

from jobs.errors import InvalidJobId
from jobs.events import JobStatus
from jobs.keys import Keys, check_job_id, new_job_id
from jobs.model import Job


def test_keys_share_the_job_hash_tag() -> None:
    keys = Keys("jobs")
    job_id = new_job_id()
    assert keys.job(job_id) == f"jobs:{{{job_id}}}"
    assert keys.events(job_id) == f"jobs:{{{job_id}}}:events"
    assert keys.job_id_of(keys.events(job_id)) == job_id
    assert keys.job_id_of("other:{x}") is None


def test_job_ids_are_checked() -> None:
    job_id = new_job_id()
    assert check_job_id(job_id) == job_id
    assert new_job_id() != job_id
    for bad in ("", "x" * 32, job_id.upper(), job_id + "0", "}" + job_id[1:]):
        with pytest.raises(InvalidJobId):
            check_job_id(bad)


def test_job_round_trips_through_its_hash() -> None:
    job = Job(
        id=new_job_id(), owner="o", agent="chat", input={"prompt": "é"},
        status=JobStatus.FAILED, started_at_ms=5, runner="r", error={"code": "TIMEOUT"},
    )  # fmt: skip
    assert Job.from_hash(job.to_hash()) == job
    assert JobStatus.FAILED.finished
    assert not JobStatus.RUNNING.finished
