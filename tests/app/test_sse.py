"""SSE framing: the fast path writes exactly what sse-starlette's encoder would."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sse_starlette import ServerSentEvent
from sse_starlette.sse import SendTimeoutError
from starlette.types import Message

from app import sse
from app.sse import SEP, JobEventStream, SendWatch, frame
from jobs.events import StoredEvent, dumps


def encoded(value: bytes | ServerSentEvent) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


@given(st.text(), st.one_of(st.none(), st.from_regex(r"\d{1,13}-\d{1,3}", fullmatch=True)))
def test_the_fast_frame_matches_the_library(text: str, event_id: str | None) -> None:
    event = StoredEvent(event_id, "delta", dumps({"text": text, "totalLength": len(text)}))
    fast = frame(event)
    assert isinstance(fast, bytes), "our JSON is always one line"
    library = ServerSentEvent(event.data, event=event.event, id=event.id, sep=SEP).encode()
    assert fast == library


def test_multi_line_data_falls_back_to_the_library() -> None:
    event = StoredEvent("1-0", "delta", "line one\nline two")
    assert encoded(frame(event)) == b"id: 1-0\nevent: delta\ndata: line one\ndata: line two\n\n"


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""


_BODY: Message = {"type": "http.response.body", "body": b"x", "more_body": True}


@pytest.mark.anyio
async def test_a_send_blocked_past_its_timeout_ends_with_send_timeout_error() -> None:
    """The one watch per loop cuts a blocked send short with the library's own error, and
    leaves the task as it found it: not cancelled (its cleanup still awaits)."""
    stream = JobEventStream(_nothing(), send_timeout=0.2)
    watch = SendWatch(period_s=0.05)
    watch.add(stream)
    never = asyncio.Event()

    async def blocked(message: Message) -> None:
        await never.wait()

    async def attempt() -> str:
        with pytest.raises(SendTimeoutError):
            await stream._send_with_timeout(blocked, _BODY)
        task = asyncio.current_task()
        assert task is not None
        assert task.cancelling() == 0
        await asyncio.sleep(0.01)  # a cancel left pending would land here
        return "cleaned up"

    assert await asyncio.wait_for(attempt(), timeout=5) == "cleaned up"
    assert stream._send_interrupted, "sse-starlette must not try another send at shutdown"
    watch.discard(stream)


@pytest.mark.anyio
async def test_sends_that_return_are_never_cut() -> None:
    stream = JobEventStream(_nothing(), send_timeout=0.1)
    watch = SendWatch(period_s=0.02)
    watch.add(stream)
    sent: list[Message] = []

    async def quick(message: Message) -> None:
        sent.append(message)

    for _ in range(5):
        await stream._send_with_timeout(quick, _BODY)
        await asyncio.sleep(0.05)  # the watch runs between sends, past the timeout
    assert len(sent) == 5
    assert not stream._send_interrupted
    watch.discard(stream)


@pytest.mark.anyio
async def test_each_blocked_send_is_cut_and_another_cancel_stays_a_cancel() -> None:
    """Two tasks send on one stream (its events and its pings): each blocked send is watched
    from its own start, and a cancel from elsewhere (the task group ending) stays a cancel."""
    stream = JobEventStream(_nothing(), send_timeout=0.3)
    watch = SendWatch(period_s=0.05)
    watch.add(stream)
    never = asyncio.Event()

    async def blocked(message: Message) -> None:
        await never.wait()

    events = asyncio.create_task(stream._send_with_timeout(blocked, _BODY))
    pings = asyncio.create_task(stream._send_with_timeout(blocked, _BODY))
    cancelled = asyncio.create_task(stream._send_with_timeout(blocked, _BODY))
    await asyncio.sleep(0.05)
    cancelled.cancel()  # before its timeout: not the watch's doing
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    for task in (events, pings):
        with pytest.raises(SendTimeoutError):
            await asyncio.wait_for(asyncio.shield(task), timeout=5)
    watch.discard(stream)


def test_a_loop_gone_takes_its_watch_along() -> None:
    before = len(sse._WATCHES)
    loop = asyncio.new_event_loop()

    async def watched() -> None:
        SendWatch.of_running_loop()

    loop.run_until_complete(watched())
    assert len(sse._WATCHES) == before + 1
    loop.close()
    del loop
    gc.collect()
    assert len(sse._WATCHES) == before, "the watch kept its loop alive"
