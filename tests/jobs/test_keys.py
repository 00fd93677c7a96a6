"""Key names: one module, one hash tag per job."""

from __future__ import annotations

import pytest

from jobs.errors import InvalidJobId
from jobs.events import JobStatus
from jobs.record.model import Job
from jobs.redis.keys import Keys, check_job_id, new_job_id


def test_the_key_layout_operators_see() -> None:
    """The one test that spells key names by hand: this layout is the operators' contract
    (README), so every other test builds names with ``Keys``."""
    job_id = "0123456789abcdef0123456789abcdef"
    keys = Keys("jobs")
    assert keys.job(job_id) == "jobs:{0123456789abcdef0123456789abcdef}"
    assert keys.events(job_id) == "jobs:{0123456789abcdef0123456789abcdef}:events"
    assert keys.lease(job_id) == "jobs:{0123456789abcdef0123456789abcdef}:lease"
    assert keys.readers(job_id) == "jobs:{0123456789abcdef0123456789abcdef}:readers"
    assert keys.user_creates("alice") == "jobs:user:alice:creates"
    assert keys.user_streams("alice") == "jobs:user:alice:streams"
    assert keys.user_tickets("alice") == "jobs:user:alice:tickets"
    assert keys.pending() == "jobs:pending"
    assert keys.inbox("i-1") == "jobs:instance:i-1:inbox"
    assert keys.custom_agent("alice", "chat") == "jobs:user:alice:agent:chat"
    assert keys.is_custom_agent("jobs:user:alice:agent:chat")
    assert not keys.is_custom_agent("jobs:user:alice:streams")
    assert keys.job_keys_pattern == "jobs:{*}*"
    assert keys.all_pattern == "jobs:*"
    assert Keys("staging").job(job_id) == "staging:{0123456789abcdef0123456789abcdef}"


def test_a_job_id_is_read_back_from_its_keys_only() -> None:
    keys = Keys("jobs")
    job_id = new_job_id()
    for key in keys.job_keys(job_id):
        assert keys.job_id_of(key) == job_id
    assert keys.job_id_of("other:{x}") is None
    assert keys.job_id_of("jobs:{not-a-job-id}:events") is None
    assert keys.job_id_of(Keys("staging").job(job_id)) is None
    assert keys.job_id_of(keys.user_streams("alice")) is None


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
