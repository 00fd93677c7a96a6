"""The CLI's text after a ``rewind``: the result is the rewound text; a terminal shows the cut
and reprints the kept part of the cut line, a pipe keeps the exact bytes and says so on
stderr. The events come from a stand-in for the client (no service sends a rewind on demand;
the takeover tests cover the real ones)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from jobs.client.api import JobsClient
from jobs.client.output import Console, follow
from jobs.client.resume import Complete, Connected, Delta, Event, Rewind
from jobs.events import JobStatus

USAGE = {"inputTokens": 1, "outputTokens": 1}


class Canned:
    """Yields the given events, as ``JobsClient.events`` would."""

    def __init__(self, events: list[Event]) -> None:
        self._events = events

    async def events(self, job_id: str, *, last_event_id: str | None) -> AsyncIterator[Event]:
        for event in self._events:
            yield event


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def events() -> list[Event]:
    def delta(text: str, total: int) -> Delta:
        return Delta(text=text, total_length=total, timestamp=1)

    complete: dict[str, Any] = {
        "result": {"text": "one\ntwo, again"},
        "totalLength": 14,
        "tokenUsage": USAGE,
        "executionTimeMs": 1,
        "model": "demo",
        "timestamp": 1,
    }
    return [
        Connected(job_id="j", status=JobStatus.RUNNING, resumed=False, timestamp=1),
        delta("one\ntw", 6),
        delta("o, fir", 12),
        Rewind(total_length=9, reason="RUNNER_LOST", timestamp=1),
        delta("again", 14),
        Complete.model_validate(complete),
    ]


async def run(out: io.StringIO, err: io.StringIO) -> str:
    console = Console(out, err, as_json=False, quiet=False)
    client = cast(JobsClient, Canned(events()))
    complete, text = await follow(client, "j", console, last_event_id=None)
    assert complete.total_length == len(text)
    return text


@pytest.mark.anyio
async def test_on_a_pipe_the_bytes_stay_and_stderr_says_what_was_rewritten() -> None:
    out, err = io.StringIO(), io.StringIO()
    text = await run(out, err)
    assert text == "one\ntwo, again"
    assert out.getvalue() == "one\ntwo, firagain"
    assert "taken over (RUNNER_LOST)" in err.getvalue()
    assert "last 3 characters were rewritten" in err.getvalue()


@pytest.mark.anyio
async def test_on_a_terminal_the_kept_part_of_the_cut_line_is_printed_again() -> None:
    out, err = Terminal(), io.StringIO()
    text = await run(out, err)
    assert text == "one\ntwo, again"
    # The cut line ends where it was; a new one restarts it from its kept part.
    assert out.getvalue() == "one\ntwo, fir\ntwo, again\n"
    assert "3 characters rewritten" in err.getvalue()
