"""The event vocabulary: ids as clients send them back, and what each ending means."""

from __future__ import annotations

import pytest

from jobs.events import ErrorCode, EventName, JobStatus, StoredEvent, dumps, is_event_id, status_of


def test_event_ids_must_be_redis_stream_ids() -> None:
    assert is_event_id("1795245343471-0")
    assert is_event_id("18446744073709551615-18446744073709551615")


@pytest.mark.parametrize(
    "bad",
    [
        # Twenty digits, but past 2**64 - 1: Redis would refuse it mid-stream (found by
        # schemathesis as a broken stream), so it is a 400 up front.
        "0-50087873854034205544",
        "18446744073709551616-0",
        "1-",
        "-1",
        "1-1-1",
        "x",
        # Digits of other scripts match \d but not Redis: refused before the stream opens.
        "\u0661\u0662-0",
        "1-\uff10",
    ],
)
def test_anything_else_is_not_an_event_id(bad: str) -> None:
    assert not is_event_id(bad)


@pytest.mark.parametrize(
    ("event", "code", "status"),
    [
        ("complete", None, "completed"),
        ("error", "CANCELLED", "cancelled"),
        ("error", "ABANDONED", "cancelled"),
        ("error", "RUNNER_LOST", "failed"),
        ("error", "TIMEOUT", "failed"),
    ],
)
def test_the_status_of_each_ending(event: str, code: str | None, status: str) -> None:
    assert status_of(event, code) == JobStatus(status)
    data = {"code": code} if code else {}
    assert StoredEvent("1-0", event, dumps(data)).status == JobStatus(status)


def test_names_are_the_wire_names() -> None:
    assert [e.value for e in EventName] == [
        "connected",
        "delta",
        "tool",
        "rewind",
        "complete",
        "error",
    ]
    assert ErrorCode.STORE_UNAVAILABLE == "STORE_UNAVAILABLE"
