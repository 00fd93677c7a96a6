"""The resume decisions of the client, event by event."""

from __future__ import annotations

import pytest

from jobs.client.errors import JobFailed
from jobs.client.resume import Failure, Resume


def test_an_error_event_without_an_id_means_resume_not_failure() -> None:
    # The service sends a retryable STORE_UNAVAILABLE without an id when Redis fails under a
    # stream: the run may well go on, so the client resumes from the last id it has.
    resume = Resume(None, attempts=2)
    resume.on_connect()
    data = '{"jobId":"j","status":"running","resumed":false,"timestamp":1}'
    assert resume.on_event("connected", data, "")[1] == "more"
    delta = '{"text":"a","totalLength":1,"timestamp":1}'
    assert resume.on_event("delta", delta, "5-0")[1] == "more"
    broken = '{"code":"STORE_UNAVAILABLE","message":"m","retryable":true,"timestamp":1}'
    # The SSE parser repeats the last id for an event that has none.
    assert resume.on_event("error", broken, "5-0") == (None, "resume")
    resume.on_interrupted(resume.cause)
    assert resume.headers() == {"Last-Event-ID": "5-0"}
    stored = '{"code":"TIMEOUT","message":"m","retryable":true,"timestamp":1}'
    event, then = resume.on_event("error", stored, "6-0")
    assert isinstance(event, Failure)
    assert then == "end"

    # Interrupted again and again: the client gives up with the error it was given.
    resume.on_connect()
    for _ in range(2):
        resume.on_event("error", broken, "")
        resume.on_interrupted(resume.cause)
    resume.on_event("error", broken, "")
    with pytest.raises(JobFailed) as gave_up:
        resume.on_interrupted(resume.cause)
    assert gave_up.value.code == "STORE_UNAVAILABLE"
