"""The resume decisions of the client, event by event."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from jobs.client.errors import JobFailed
from jobs.client.resume import Failure, Output, Resume, Rewind


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


def test_a_rewind_is_typed_with_its_id_and_output_applies_it() -> None:
    resume = Resume(None, attempts=2)
    resume.on_connect()
    output = Output()
    for event_id, text in (("1-0", "Hello, "), ("2-0", "wor"), ("3-0", "ld")):
        data = json.dumps({"text": text, "totalLength": 0, "timestamp": 1})
        event, then = resume.on_event("delta", data, event_id)
        assert event is not None
        assert then == "more"
        assert output.apply(event) == ""
    assert output.text == "Hello, world"
    rewind = '{"totalLength":7,"reason":"RUNNER_LOST","timestamp":1}'
    event, then = resume.on_event("rewind", rewind, "4-0")
    assert isinstance(event, Rewind)
    assert then == "more"
    assert (event.id, event.total_length, event.reason) == ("4-0", 7, "RUNNER_LOST")
    assert resume.headers() == {"Last-Event-ID": "4-0"}  # a rewind is resumable
    assert output.apply(event) == "world"
    assert (output.text, output.length) == ("Hello, ", 7)
    again = resume.on_event("delta", '{"text":"there","totalLength":12,"timestamp":1}', "5-0")
    assert again[0] is not None
    output.apply(again[0])
    assert (output.text, output.length) == ("Hello, there", 12)
    # A rewind never lengthens the output (nor does one that cuts nothing change it).
    long = Rewind(total_length=50, reason="SHUTDOWN", timestamp=1)
    assert output.apply(long) == ""
    assert output.text == "Hello, there"


def test_a_rewind_with_an_unknown_reason_is_refused() -> None:
    resume = Resume(None, attempts=2)
    resume.on_connect()
    with pytest.raises(ValidationError):
        resume.on_event("rewind", '{"totalLength":1,"reason":"OOPS","timestamp":1}', "1-0")
