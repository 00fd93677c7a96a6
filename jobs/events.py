"""The event vocabulary: every name, code and payload shape a stream carries, declared once.

This is the one module that knows what the events are called, which of them end a stream,
which run-ending codes exist and what job status each ending means. The server builds its
payloads here, the client (``jobs.client``) parses with the same names, and every other place
that spells one of them (OpenAPI, metrics, ops, the Lua scripts' arguments, the JavaScript
client) derives it from here or is checked against it by a test. It imports nothing beyond the
standard library and orjson, so the client can use it without the server's dependencies.

``connected`` is per connection and never stored; every other event is stored in the job's
Redis Stream (see :mod:`jobs.delivery.eventlog`) and its entry id is the SSE ``id:``. Event ids
compare as ``(ms, seq)`` pairs.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson


class EventName(StrEnum):
    """The SSE event names. Each knows whether it is :attr:`stored` and :attr:`terminal`;
    every list of names elsewhere (OpenAPI, the clients) derives from these two."""

    CONNECTED = "connected"
    DELTA = "delta"
    TOOL = "tool"
    REWIND = "rewind"
    COMPLETE = "complete"
    ERROR = "error"

    @property
    def stored(self) -> bool:
        """Kept in the job's Redis Stream, with its entry id as the SSE ``id:`` (an ``error``
        that could not be stored is the one exception, sent without one)."""
        return self is not EventName.CONNECTED

    @property
    def terminal(self) -> bool:
        """The server closes the stream after it: the run has ended."""
        return self in (EventName.COMPLETE, EventName.ERROR)


#: The events after which the server closes the stream.
TERMINAL = frozenset(event for event in EventName if event.terminal)
#: The events kept in the job's stream (resumable with ``Last-Event-ID``).
STORED = frozenset(event for event in EventName if event.stored)


class JobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


class ErrorCode(StrEnum):
    """The ``code`` of an ``error`` event: why a run ended without a result."""

    AGENT_ERROR = "AGENT_ERROR"
    OUTPUT_INVALID = "OUTPUT_INVALID"
    AGENT_MAX_STEPS = "AGENT_MAX_STEPS"
    UPSTREAM_RATE_LIMITED = "UPSTREAM_RATE_LIMITED"
    UPSTREAM_OVERLOADED = "UPSTREAM_OVERLOADED"
    UPSTREAM_UNAVAILABLE = "UPSTREAM_UNAVAILABLE"
    TIMEOUT = "TIMEOUT"
    CANCELLED = "CANCELLED"
    ABANDONED = "ABANDONED"
    RUNNER_LOST = "RUNNER_LOST"
    SHUTDOWN = "SHUTDOWN"
    #: The run spent its RUN_TOKEN_BUDGET: it stopped after the model call that crossed it.
    BUDGET_EXHAUSTED = "BUDGET_EXHAUSTED"
    #: The one error a stream may send without an id, and then end without the run having
    #: ended: the store was unreachable, so a reconnect may resume.
    STORE_UNAVAILABLE = "STORE_UNAVAILABLE"


#: Why a ``rewind`` cut the output back: the runner was lost, or its instance shut down.
REWIND_REASONS = (ErrorCode.RUNNER_LOST, ErrorCode.SHUTDOWN)

#: Endings that are a stop, not a failure: the job's status is ``cancelled``.
CANCEL_CODES = frozenset({ErrorCode.CANCELLED, ErrorCode.ABANDONED})


def status_of(event: str, code: str | None = None) -> JobStatus:
    """The status of a job whose terminal event is ``event`` (with ``code`` for an error)."""
    if event == EventName.COMPLETE:
        return JobStatus.COMPLETED
    return JobStatus.CANCELLED if code in CANCEL_CODES else JobStatus.FAILED


#: The stream id before every real one: "replay from the start".
START = "0-0"

#: ASCII digits only: ``\d`` would also match other scripts' digits ("١٢٣"), which ``int()``
#: reads but Redis refuses, mid-stream.
_EVENT_ID_RE = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")

#: Both parts of a stream id are unsigned 64-bit integers; Redis refuses anything larger.
_MAX_PART = 2**64 - 1


def is_event_id(value: str) -> bool:
    """Whether ``value`` is a Redis Stream id (two unsigned 64-bit integers)."""
    return _EVENT_ID_RE.fullmatch(value) is not None and max(event_id_key(value)) <= _MAX_PART


def at_most(limit: int) -> str:
    """A regex for the decimal numbers from 0 to ``limit`` (leading zeros allowed, at most as
    many digits as ``limit`` has): what :func:`is_event_id` accepts per part."""
    digits = str(limit)
    n = len(digits)
    # [0-9], not \d: Python's \d also matches other scripts' digits (ECMA-262's does not).
    branches = [rf"[0-9]{{1,{n - 1}}}", rf"0[0-9]{{{n - 1}}}"]
    for i, digit in enumerate(digits):
        low = 1 if i == 0 else 0
        if int(digit) > low:
            high = int(digit) - 1
            smaller = f"[{low}-{high}]" if high > low else str(low)
            rest = n - i - 1
            branches.append(digits[:i] + smaller + (rf"[0-9]{{{rest}}}" if rest else ""))
    branches.append(digits)
    return "(?:" + "|".join(branches) + ")"


_PART = at_most(_MAX_PART)
EVENT_ID_PATTERN = f"^{_PART}-{_PART}$"
#: A resume parameter may also be empty: no event seen (what a first EventSource sends).
RESUME_PATTERN = f"^({_PART}-{_PART})?$"


def event_id_key(event_id: str) -> tuple[int, int]:
    """The sort key of a stream id."""
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq)


def now_ms() -> int:
    """Wall-clock Unix time in milliseconds: the unit of every timestamp we store or send."""
    return time.time_ns() // 1_000_000


def dumps(data: dict[str, Any]) -> str:
    """Compact JSON, UTF-8 kept as is (the SSE frame is UTF-8). orjson: this runs for every
    event, and it is ~20x faster than the standard library here. Its output never contains a
    raw newline (they are escaped in strings), which SSE framing relies on."""
    return orjson.dumps(data).decode()


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One event. ``id`` is None only for an event that could not be stored (Redis down)."""

    id: str | None
    event: str
    data: str
    #: What a runner taking the run over needs and clients never see (stored, not sent).
    journal: str | None = None

    @classmethod
    def unstored(cls, event: str, data: str) -> StoredEvent:
        """An event that was not stored (Redis was unavailable, or an ending only readers
        here learn): it has no id."""
        return cls(None, event, data)

    @property
    def terminal(self) -> bool:
        return self.event in TERMINAL

    def payload(self) -> dict[str, Any]:
        value: dict[str, Any] = orjson.loads(self.data)
        return value

    @property
    def status(self) -> JobStatus:
        """The status of a job that ended with this (terminal) event."""
        code = self.payload().get("code") if self.event == EventName.ERROR else None
        return status_of(self.event, code)


def connected_payload(job_id: str, status: str, *, resumed: bool) -> dict[str, Any]:
    return {"jobId": job_id, "status": status, "resumed": resumed, "timestamp": now_ms()}


def delta_payload(text: str, total_length: int) -> dict[str, Any]:
    return {"text": text, "totalLength": total_length, "timestamp": now_ms()}


def rewind_payload(total_length: int, reason: ErrorCode) -> dict[str, Any]:
    """A ``rewind``: the output is cut back to its first ``total_length`` characters, and the
    deltas that follow continue from there (a new runner took the run over and could not
    continue the interrupted model step)."""
    assert reason in REWIND_REASONS
    return {"totalLength": total_length, "reason": reason.value, "timestamp": now_ms()}


class ToolPhase(StrEnum):
    """A ``tool`` event's ``phase``: a call starts, or it ended with a result."""

    CALL = "call"
    RESULT = "result"


def tool_call_payload(tool_id: str, name: str, tool_input: Any) -> dict[str, Any]:
    return {
        "id": tool_id,
        "name": name,
        "phase": ToolPhase.CALL.value,
        "input": tool_input,
        "timestamp": now_ms(),
    }


def tool_result_payload(
    tool_id: str, name: str, *, ok: bool, summary: str, duration_ms: int
) -> dict[str, Any]:
    return {
        "id": tool_id,
        "name": name,
        "phase": ToolPhase.RESULT.value,
        "ok": ok,
        "summary": summary,
        "durationMs": duration_ms,
        "timestamp": now_ms(),
    }


def error_payload(
    code: ErrorCode, message: str, *, retryable: bool, retry_after_ms: int | None = None
) -> dict[str, Any]:
    """An ``error`` event; ``retryAfterMs`` only when the cause said how long to wait."""
    data: dict[str, Any] = {"code": code.value, "message": message, "retryable": retryable}
    if retry_after_ms is not None:
        data["retryAfterMs"] = retry_after_ms
    data["timestamp"] = now_ms()
    return data


def error_event(
    code: ErrorCode, message: str, *, retryable: bool, retry_after_ms: int | None = None
) -> StoredEvent:
    """An ``error`` event that is not (or could not be) stored: it has no id."""
    payload = error_payload(code, message, retryable=retryable, retry_after_ms=retry_after_ms)
    return StoredEvent.unstored(EventName.ERROR, dumps(payload))
