"""Event ids as clients send them back."""

from __future__ import annotations

import pytest

from jobs.errors import InvalidEventId
from jobs.events import check_event_id


def test_event_ids_must_be_redis_stream_ids() -> None:
    assert check_event_id("1795245343471-0") == "1795245343471-0"
    assert check_event_id("18446744073709551615-18446744073709551615")
    # Twenty digits, but past 2**64 - 1: Redis would refuse it mid-stream (found by
    # schemathesis as a broken stream), so it is a 400 up front.
    for bad in ("0-50087873854034205544", "18446744073709551616-0", "1-", "-1", "1-1-1", "x"):
        with pytest.raises(InvalidEventId):
            check_event_id(bad)
