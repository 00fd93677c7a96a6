"""A small Python client for the job service, async (:class:`JobsClient`) and sync
(:class:`SyncJobsClient`), with the same methods::

    async with JobsClient("http://127.0.0.1:8000", token=token) as jobs:
        job = await jobs.start("chat", {"prompt": "Hello"})
        async for event in jobs.events(job.job_id):
            if isinstance(event, Delta):
                print(event.text, end="", flush=True)
        # or, all at once: complete = await jobs.run("chat", {"prompt": "Hello"})

``events`` yields typed events (:class:`Connected`, :class:`Delta`, then :class:`Complete` or
:class:`Failure`) and **resumes by itself**: when the connection drops, or the service ends it
cleanly without a terminal event (as an instance does when it shuts down), it reconnects with
``Last-Event-ID`` and carries on with the next event, so the text has no gap and no repeat.
Each reconnect yields a fresh :class:`Connected` (``resumed=True``). ``attach`` and ``run``
consume the events and return the :class:`Complete` event, or raise.

Errors, all carrying a machine-readable ``code``::

    ClientError
    ├── ProblemError        the service answered 4xx/5xx (``status``, ``code``, ``detail``)
    ├── JobFailed           the run ended with an ``error`` event (``code``, ``retryable``)
    │   └── JobCancelled    ... because it was cancelled (``CANCELLED``) or abandoned
    ├── StreamEnded         nothing after the given Last-Event-ID (the service said 204)
    └── ConnectionFailed    the service could not be reached, or reconnecting gave up

Reconnecting starts only once a stream was open: a wrong URL or a refused first attach fails
at once. While reconnecting, 429 (``TOO_MANY_STREAMS``: the dropped stream's slot is not yet
released) and 503 are retried too, after their ``Retry-After``.

The client uses ``httpx2`` (already the anthropic SDK's HTTP client, so it adds no
dependency), whose built-in Server-Sent Events parser ignores comment lines such as the
service's ``: ping``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from types import TracebackType
from typing import Any, Self

import httpx2
from pydantic import Field, ValidationError

from jobs.schemas import (
    COMPLETE,
    CONNECTED,
    DELTA,
    ERROR,
    AgentInfo,
    AgentList,
    CompleteEvent,
    ConnectedEvent,
    DeltaEvent,
    ErrorEvent,
    JobCreated,
    JobState,
    Problem,
)

__all__ = [
    "ClientError",
    "Complete",
    "Connected",
    "ConnectionFailed",
    "Delta",
    "Event",
    "Failure",
    "JobCancelled",
    "JobFailed",
    "JobsClient",
    "ProblemError",
    "StreamEnded",
    "SyncJobsClient",
]

DEFAULT_URL = "http://127.0.0.1:8000"
#: Resume from the very start: what a reconnect sends when no stored event was seen yet.
START = "0-0"
#: The service pings idle streams every STREAM_PING_S (15 s); silence for longer than this
#: means the connection is dead, and the stream is resumed.
STREAM_READ_TIMEOUT_S = 45.0
#: Error codes that mean the job was stopped on purpose, not that it failed.
CANCEL_CODES = frozenset({"CANCELLED", "ABANDONED"})


# -- events ----------------------------------------------------------------------------------


class Connected(ConnectedEvent):
    """A connection opened (``resumed`` on a reconnect). Never stored: it has no id."""


class Delta(DeltaEvent):
    """The next piece of the output. ``id`` is its stream id (what a resume sends)."""

    id: str = Field(default="", exclude=True)


class Complete(CompleteEvent):
    """The run finished; ``result`` is the agent's result."""

    id: str = Field(default="", exclude=True)


class Failure(ErrorEvent):
    """The run ended with an ``error`` event."""

    id: str = Field(default="", exclude=True)


Event = Connected | Delta | Complete | Failure
_TYPES: dict[str, type[Event]] = {
    CONNECTED: Connected,
    DELTA: Delta,
    COMPLETE: Complete,
    ERROR: Failure,
}


# -- errors ----------------------------------------------------------------------------------


class ClientError(Exception):
    """Base of the client's errors; ``code`` is machine-readable."""

    code: str = "CLIENT_ERROR"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ProblemError(ClientError):
    """The service answered with a problem document (or, from a proxy, another error)."""

    def __init__(self, status: int, code: str, detail: str, problem: Problem | None = None):
        super().__init__(f"{status} {code}: {detail}", code=code)
        self.status = status
        self.detail = detail
        self.problem = problem
        self.retry_after_s: float | None = None


class JobFailed(ClientError):
    """The run ended with an ``error`` event; ``event`` is that event."""

    def __init__(self, event: Failure) -> None:
        super().__init__(f"{event.code}: {event.message}", code=event.code)
        self.event = event
        self.retryable = event.retryable


class JobCancelled(JobFailed):
    """The run was cancelled by its owner (``CANCELLED``) or nobody watched it (``ABANDONED``)."""


class StreamEnded(ClientError):
    code = "STREAM_ENDED"


class ConnectionFailed(ClientError):
    code = "CONNECTION_FAILED"


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


class _Resume:
    """The decisions of one resumable attach, shared by the async and sync clients: what to
    send, what each event means, and whether (and after how long) to reconnect."""

    def __init__(self, last_event_id: str | None, attempts: int) -> None:
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
        if not self.opened or response.status_code not in (429, 502, 503, 504):
            raise error
        self._failed(error, error.retry_after_s)

    def on_connect(self) -> None:
        self.opened = True
        self.cause = None
        self._previous_id = ""

    def on_event(self, event: str, data: str, sse_id: str) -> tuple[Event | None, str]:
        """The typed event (None to skip it) and what follows: ``"more"`` events, the
        ``"end"`` (a terminal event), or ``"resume"`` (the stream broke; reconnect)."""
        kind = _TYPES.get(event)
        if kind is None:  # an event this client does not know: skip it
            return None, "more"
        # The SSE parser keeps the last id for events that send none (as the SSE spec says);
        # an event without its own id is one the service could not store.
        own_id = sse_id if sse_id and sse_id != self._previous_id else ""
        self._previous_id = sse_id
        payload = json.loads(data)
        if kind is not Connected:
            payload["id"] = own_id
        typed = kind.model_validate(payload)
        if own_id:
            self.last_id = own_id
            self.failures = 0
        if isinstance(typed, Failure):
            if not own_id and typed.code == "STORE_UNAVAILABLE":
                # Redis failed under this stream, not necessarily under the run: resume.
                self.cause = job_failed(typed)
                return None, "resume"
            return typed, "end"
        return typed, "end" if isinstance(typed, Complete) else "more"

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


def _input_body(agent: str, agent_input: Mapping[str, Any]) -> dict[str, Any]:
    return {"agent": agent, "input": dict(agent_input)}


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _timeout(timeout_s: float) -> httpx2.Timeout:
    return httpx2.Timeout(timeout_s)


def _stream_timeout(timeout_s: float) -> httpx2.Timeout:
    return httpx2.Timeout(timeout_s, read=STREAM_READ_TIMEOUT_S)


class JobsClient:
    """The async client. ``token`` is the bearer token; ``reconnects`` bounds consecutive failed
    reconnect attempts of one stream (about 13 s of backoff with the default 10)."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        timeout_s: float = 30.0,
        reconnects: int = 10,
        http: httpx2.AsyncClient | None = None,
    ) -> None:
        self._own_http = http is None
        self.http = http or httpx2.AsyncClient()
        self.base_url = base_url.rstrip("/")
        self.headers = _headers(token)
        self.timeout_s = timeout_s
        self.reconnects = reconnects

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own_http:
            await self.http.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx2.Response:
        try:
            response = await self.http.request(
                method,
                f"{self.base_url}{path}",
                headers=self.headers,
                timeout=_timeout(self.timeout_s),
                **kwargs,
            )
        except httpx2.TransportError as exc:
            raise ConnectionFailed(f"could not reach {self.base_url}: {exc}") from exc
        if response.status_code >= 400:
            raise problem_error(response)
        return response

    async def start(self, agent: str, agent_input: Mapping[str, Any]) -> JobCreated:
        """Create a job (``POST /jobs``)."""
        response = await self._request("POST", "/jobs", json=_input_body(agent, agent_input))
        return JobCreated.model_validate_json(response.content)

    async def status(self, job_id: str) -> JobState:
        response = await self._request("GET", f"/jobs/{job_id}")
        return JobState.model_validate_json(response.content)

    async def cancel(self, job_id: str) -> None:
        """Cancel a pending or running job; a finished job stays as it is."""
        await self._request("DELETE", f"/jobs/{job_id}")

    async def agents(self) -> list[AgentInfo]:
        response = await self._request("GET", "/agents")
        return AgentList.model_validate_json(response.content).agents

    async def events(
        self, job_id: str, *, last_event_id: str | None = None
    ) -> AsyncIterator[Event]:
        """The job's events through the terminal one, resuming after interruptions.
        ``last_event_id`` resumes after an event seen earlier (``"0-0"``: from the start)."""
        resume = _Resume(last_event_id, self.reconnects)
        url = f"{self.base_url}/jobs/{job_id}/stream"
        while True:
            try:
                async with self.http.sse(
                    url,
                    headers=self.headers | resume.headers(),
                    timeout=_stream_timeout(self.timeout_s),
                ) as source:
                    response = source.response
                    if response.status_code != 200:
                        await response.aread()
                        resume.on_response(response)
                    else:
                        resume.on_connect()
                        async for sse in source:
                            event, then = resume.on_event(sse.event, sse.data, sse.id)
                            if event is not None:
                                yield event
                            if then == "end":
                                return
                            if then == "resume":
                                break
                        resume.on_interrupted(resume.cause)
            except httpx2.TransportError as exc:
                resume.on_interrupted(exc)
            await asyncio.sleep(resume.wait_s)

    async def attach(self, job_id: str, *, last_event_id: str | None = None) -> Complete:
        """Follow the job to its end: its ``complete`` event, or raise :class:`JobFailed`."""
        async for event in self.events(job_id, last_event_id=last_event_id):
            if isinstance(event, Complete):
                return event
            if isinstance(event, Failure):
                raise job_failed(event)
        raise StreamEnded("the stream ended without a result")  # pragma: no cover

    async def run(self, agent: str, agent_input: Mapping[str, Any]) -> Complete:
        """Start a job and follow it to its end."""
        job = await self.start(agent, agent_input)
        return await self.attach(job.job_id)


class SyncJobsClient:
    """The same client for synchronous code (``with SyncJobsClient(...) as jobs: ...``)."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        timeout_s: float = 30.0,
        reconnects: int = 10,
        http: httpx2.Client | None = None,
    ) -> None:
        self._own_http = http is None
        self.http = http or httpx2.Client()
        self.base_url = base_url.rstrip("/")
        self.headers = _headers(token)
        self.timeout_s = timeout_s
        self.reconnects = reconnects

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._own_http:
            self.http.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx2.Response:
        try:
            response = self.http.request(
                method,
                f"{self.base_url}{path}",
                headers=self.headers,
                timeout=_timeout(self.timeout_s),
                **kwargs,
            )
        except httpx2.TransportError as exc:
            raise ConnectionFailed(f"could not reach {self.base_url}: {exc}") from exc
        if response.status_code >= 400:
            raise problem_error(response)
        return response

    def start(self, agent: str, agent_input: Mapping[str, Any]) -> JobCreated:
        response = self._request("POST", "/jobs", json=_input_body(agent, agent_input))
        return JobCreated.model_validate_json(response.content)

    def status(self, job_id: str) -> JobState:
        return JobState.model_validate_json(self._request("GET", f"/jobs/{job_id}").content)

    def cancel(self, job_id: str) -> None:
        self._request("DELETE", f"/jobs/{job_id}")

    def agents(self) -> list[AgentInfo]:
        return AgentList.model_validate_json(self._request("GET", "/agents").content).agents

    def events(self, job_id: str, *, last_event_id: str | None = None) -> Iterator[Event]:
        resume = _Resume(last_event_id, self.reconnects)
        url = f"{self.base_url}/jobs/{job_id}/stream"
        while True:
            try:
                with self.http.sse(
                    url,
                    headers=self.headers | resume.headers(),
                    timeout=_stream_timeout(self.timeout_s),
                ) as source:
                    response = source.response
                    if response.status_code != 200:
                        response.read()
                        resume.on_response(response)
                    else:
                        resume.on_connect()
                        for sse in source:
                            event, then = resume.on_event(sse.event, sse.data, sse.id)
                            if event is not None:
                                yield event
                            if then == "end":
                                return
                            if then == "resume":
                                break
                        resume.on_interrupted(resume.cause)
            except httpx2.TransportError as exc:
                resume.on_interrupted(exc)
            time.sleep(resume.wait_s)

    def attach(self, job_id: str, *, last_event_id: str | None = None) -> Complete:
        for event in self.events(job_id, last_event_id=last_event_id):
            if isinstance(event, Complete):
                return event
            if isinstance(event, Failure):
                raise job_failed(event)
        raise StreamEnded("the stream ended without a result")  # pragma: no cover

    def run(self, agent: str, agent_input: Mapping[str, Any]) -> Complete:
        job = self.start(agent, agent_input)
        return self.attach(job.job_id)
