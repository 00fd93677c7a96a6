"""SSE framing: the fast path writes exactly what sse-starlette's encoder would."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from sse_starlette import ServerSentEvent

from app.sse import SEP, frame
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
