"""The client side of a job's event stream: its typed events and the decisions of a
resumable attach (:class:`Resume`), shared by the async and the sync client. The errors it
raises are :mod:`jobs.client.errors`.

Reconnecting starts only once a stream was open: a wrong URL or a refused first attach fails
at once, except that a first attach refused for ``TOO_MANY_STREAMS`` (the caller's other
streams hold every slot) waits its ``Retry-After`` and tries again when ``first_waits`` is set
(the clients set it unless retries are off). While reconnecting, 429 (``TOO_MANY_STREAMS``:
the dropped stream's slot is not yet released) and 502-504 are retried too, after their
``Retry-After``.
"""

from __future__ import annotations

import json
from enum import StrEnum

import httpx2
from pydantic import Field, ValidationError

from jobs.client.errors import (
    ClientError,
    ConnectionFailed,
    JobCancelled,
    JobFailed,
    ProblemError,
    StreamEnded,
)
from jobs.events import CANCEL_CODES, START, ErrorCode
from jobs.events import EventName as Name
from jobs.schemas import (
    CompleteEvent,
    ConnectedEvent,
    DeltaEvent,
    ErrorEvent,
    Problem,
    RewindEvent,
    ToolEvent,
)

# -- events ----------------------------------------------------------------------------------


class Connected(ConnectedEvent):
    """A connection opened (``resumed`` on a reconnect). Never stored: it has no id."""


class Delta(DeltaEvent):
    """The next piece of the output. ``id`` is its stream id (what a resume sends)."""

    id: str = Field(default="", exclude=True)


class Tool(ToolEvent):
    """A tool call started (``phase`` ``call``) or ended (``result``). Its ``id`` is the
    call's; ``event_id`` is its stream id (what a resume sends)."""

    event_id: str = Field(default="", exclude=True)


class Rewind(RewindEvent):
    """The output is cut back to its first ``total_length`` characters (the run was taken
    over, and the interrupted step is written again); :class:`Output` applies it."""

    id: str = Field(default="", exclude=True)


class Complete(CompleteEvent):
    """The run finished; ``result`` is the agent's result."""

    id: str = Field(default="", exclude=True)


class Failure(ErrorEvent):
    """The run ended with an ``error`` event."""

    id: str = Field(default="", exclude=True)


Event = Connected | Delta | Tool | Rewind | Complete | Failure
#: Every event name the service sends (checked against ``jobs.events.Event`` by a test).
TYPES: dict[str, type[Event]] = {
    Name.CONNECTED: Connected,
    Name.DELTA: Delta,
    Name.TOOL: Tool,
    Name.REWIND: Rewind,
    Name.COMPLETE: Complete,
    Name.ERROR: Failure,
}


class Output:
    """The agent's output as the events tell it: each :class:`Delta` appended, each
    :class:`Rewind` applied. After ``complete``, :attr:`text` is the whole output and its
    length is ``complete.total_length``."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self.length = 0

    @property
    def text(self) -> str:
        text = "".join(self._parts)
        self._parts = [text]
        return text

    def apply(self, event: Event) -> str:
        """Apply ``event`` (a delta or a rewind; others change nothing); return the text a
        rewind cut off ("" otherwise)."""
        if isinstance(event, Delta):
            self._parts.append(event.text)
            self.length += len(event.text)
            return ""
        if isinstance(event, Rewind) and event.total_length < self.length:
            text = self.text
            self._parts = [text[: event.total_length]]
            self.length = event.total_length
            return text[event.total_length :]
        return ""


class Then(StrEnum):
    """What follows an event in the stream (:meth:`Resume.on_event`)."""

    MORE = "more"  # more events: read on
    END = "end"  # a terminal event: the stream is done
    RESUME = "resume"  # the stream broke: reconnect


def job_failed(event: Failure) -> JobFailed:
    return JobCancelled(event) if event.code in CANCEL_CODES else JobFailed(event)


def problem_error(response: httpx2.Response) -> ProblemError:
    """The error for a 4xx/5xx ``response`` (whose body has been read)."""
    problem = None
    if "json" in response.headers.get("content-type", ""):
        try:
            problem = Problem.model_validate_json(response.content)
        except ValidationError:
            problem = None
    if problem is not None:
        error = ProblemError(response.status_code, problem.code, problem.detail, problem)
    else:
        text = response.text.strip()[:200] or response.reason_phrase
        error = ProblemError(response.status_code, f"HTTP_{response.status_code}", text)
    retry_after = response.headers.get("retry-after", "")
    if retry_after.isdigit():
        error.retry_after_s = float(retry_after)
    return error


# -- resuming --------------------------------------------------------------------------------

#: How many times a first attach waits out TOO_MANY_STREAMS (each wait its Retry-After, a few
#: seconds): long enough for another stream of the caller's to finish a typical run.
MAX_FIRST_WAITS = 120


class Resume:
    """The decisions of one resumable attach, shared by the async and sync clients: what to
    send, what each event means, and whether (and after how long) to reconnect."""

    def __init__(
        self, last_event_id: str | None, attempts: int, *, first_waits: bool = False
    ) -> None:
        self.first_waits = first_waits
        #: First attaches refused for TOO_MANY_STREAMS so far (they wait; not reconnects).
        self.waits = 0
        self.last_id = last_event_id
        self.opened = False
        self.failures = 0
        self.attempts = attempts
        self.wait_s = 0.0
        #: Why the last connection ended early (None: it ended without saying).
        self.cause: Exception | None = None
        self._previous_id = ""

    def headers(self) -> dict[str, str]:
        last = self.last_id or (START if self.opened else None)
        return {"Last-Event-ID": last} if last else {}

    def on_response(self, response: httpx2.Response) -> None:
        """Called on a non-200 answer, after its body has been read: raise, or return to retry."""
        if response.status_code == 204:
            raise StreamEnded(f"the stream has no events after {self.last_id}")
        error = problem_error(response)
        if not self.opened and self.first_waits and error.code == "TOO_MANY_STREAMS":
            self.waits += 1
            if self.waits > MAX_FIRST_WAITS:
                raise error
            self.wait_s = error.retry_after_s or 1.0
            return
        if not self.opened or response.status_code not in (429, 502, 503, 504):
            raise error
        self._failed(error, error.retry_after_s)

    def on_connect(self) -> None:
        self.opened = True
        self.cause = None
        self._previous_id = ""

    def on_event(self, event: str, data: str, sse_id: str) -> tuple[Event | None, Then]:
        """The typed event (None to skip it) and what follows (:class:`Then`): more events,
        the end (a terminal event), or a resume (the stream broke; reconnect)."""
        kind = TYPES.get(event)
        if kind is None:  # an event this client does not know: skip it
            return None, Then.MORE
        # The SSE parser keeps the last id for events that send none (as the SSE spec says);
        # an event without its own id is one the service could not store.
        own_id = sse_id if sse_id and sse_id != self._previous_id else ""
        self._previous_id = sse_id
        payload = json.loads(data)
        if kind is Tool:
            payload["eventId"] = own_id  # its own "id" is the tool call's
        elif kind is not Connected:
            payload["id"] = own_id
        typed = kind.model_validate(payload)
        if own_id:
            self.last_id = own_id
            self.failures = 0
        if isinstance(typed, Failure):
            if not own_id and typed.code == ErrorCode.STORE_UNAVAILABLE:
                # Redis failed under this stream, not necessarily under the run: resume.
                self.cause = job_failed(typed)
                return None, Then.RESUME
            return typed, Then.END
        return typed, Then.END if isinstance(typed, Complete) else Then.MORE

    def on_interrupted(self, cause: Exception | None) -> None:
        """The connection dropped, or ended without a terminal event: retry, or raise."""
        if not self.opened:
            raise ConnectionFailed(f"could not reach the service: {cause}") from cause
        self._failed(cause, None)

    def _failed(self, cause: Exception | None, wait_s: float | None) -> None:
        self.failures += 1
        if self.failures > self.attempts:
            if isinstance(cause, ClientError):
                raise cause
            raise ConnectionFailed(
                f"the stream was interrupted and {self.attempts} reconnects failed"
            ) from cause
        self.wait_s = wait_s if wait_s is not None else min(0.1 * 2 ** (self.failures - 1), 2.0)
