"""Reading a job's event stream over a real socket with httpx-sse."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from httpx_sse import aconnect_sse


@dataclass(frozen=True)
class Event:
    event: str
    id: str
    data: dict[str, Any]


@dataclass
class Stream:
    status_code: int
    headers: httpx.Headers
    events: list[Event] = field(default_factory=list)

    def of(self, name: str) -> list[Event]:
        return [event for event in self.events if event.event == name]

    @property
    def text(self) -> str:
        """The concatenated delta text."""
        return "".join(event.data["text"] for event in self.of("delta"))

    @property
    def last_id(self) -> str:
        stored = [event.id for event in self.events if event.event != "connected" and event.id]
        return stored[-1]


async def read_stream(
    client: httpx.AsyncClient,
    url: str,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    stop_after: int | None = None,
    stop_at: str | None = None,
) -> Stream:
    """Read ``url``'s events until the server closes the stream, or until ``stop_after`` stored
    events (or the first ``stop_at`` event) have arrived, at which point the connection is
    dropped (a client disconnect)."""
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    async with aconnect_sse(client, "GET", url, headers=all_headers, params=params) as source:
        response = source.response
        stream = Stream(response.status_code, response.headers)
        if response.status_code != 200:
            await response.aread()
            return stream
        stored = 0
        async for sse in source.aiter_sse():
            # httpx-sse turns comment lines into empty "message" events once an id was seen.
            if sse.event == "message" and not sse.data:
                continue
            stream.events.append(Event(sse.event, sse.id, json.loads(sse.data)))
            if sse.event != "connected":
                stored += 1
            if stop_after is not None and stored >= stop_after:
                break
            if stop_at is not None and sse.event == stop_at:
                break
    return stream
