"""A small Python client for the job service, async (:class:`JobsClient`) and sync
(:class:`SyncJobsClient`), with the same methods::

    async with JobsClient("http://127.0.0.1:8000", token=token) as jobs:
        job = await jobs.start("chat", {"prompt": "Hello"})
        async for event in jobs.events(job.job_id):
            if isinstance(event, Delta):
                print(event.text, end="", flush=True)
        # or, all at once: complete = await jobs.run("chat", {"prompt": "Hello"})

``events`` yields typed events (:class:`Connected`, :class:`Delta` and :class:`Tool` (a tool
call's start or end), then :class:`Complete` or :class:`Failure`) and **resumes by itself**:
when the connection drops, or the service ends it cleanly without a terminal event (as an
instance does when it shuts down), it reconnects with
``Last-Event-ID`` and carries on with the next event, so the text has no gap and no repeat.
Each reconnect yields a fresh :class:`Connected` (``resumed=True``). ``attach`` and ``run``
consume the events and return the :class:`Complete` event, or raise.

Errors are exceptions carrying a machine-readable ``code`` (``ClientError`` and its tree, in
:mod:`jobs.client.errors`; all re-exported by :mod:`jobs.client`).

The client uses ``httpx2`` (already the anthropic SDK's HTTP client, so it adds no
dependency), whose built-in Server-Sent Events parser ignores comment lines such as the
service's ``: ping``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from types import TracebackType
from typing import Any, Self

import httpx2

from jobs.client.errors import ClientError, ConnectionFailed, StreamEnded
from jobs.client.resume import (
    Complete,
    Event,
    Failure,
    Resume,
    job_failed,
    problem_error,
)
from jobs.client.retry import Retries
from jobs.schemas import AgentInfo, AgentList, JobCreated, JobList, JobState, StoredCustomAgent

DEFAULT_URL = "http://127.0.0.1:8000"
#: The service pings idle streams every STREAM_PING_S (15 s); silence for longer than this
#: means the connection is dead, and the stream is resumed.
STREAM_READ_TIMEOUT_S = 45.0


def _input_body(agent: str, agent_input: Mapping[str, Any], background: bool) -> dict[str, Any]:
    body = {"agent": agent, "input": dict(agent_input)}
    return body | {"background": True} if background else body


def _start_headers(idempotency_key: str | None) -> dict[str, str]:
    """A start's ``Idempotency-Key``: the caller's, or a fresh one, so that a retried start
    is answered again rather than run twice."""
    return {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}


def _list_params(
    status: str | None, agent: str | None, limit: int | None, cursor: str | None
) -> dict[str, str]:
    given = {"status": status, "agent": agent, "limit": limit, "cursor": cursor}
    return {name: str(value) for name, value in given.items() if value is not None}


def _response(response: httpx2.Response) -> httpx2.Response:
    if response.status_code >= 400:
        raise problem_error(response)
    return response


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _timeout(timeout_s: float) -> httpx2.Timeout:
    return httpx2.Timeout(timeout_s)


def _stream_timeout(timeout_s: float) -> httpx2.Timeout:
    return httpx2.Timeout(timeout_s, read=STREAM_READ_TIMEOUT_S)


class JobsClient:
    """The async client. ``token`` is the bearer token; ``reconnects`` bounds consecutive failed
    reconnect attempts of one stream (about 13 s of backoff with the default 10); ``retries``
    says how calls are retried (:mod:`jobs.client.retry`; ``Retries.off()``: never)."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        timeout_s: float = 30.0,
        reconnects: int = 10,
        retries: Retries = Retries(),  # noqa: B008 - frozen
        http: httpx2.AsyncClient | None = None,
    ) -> None:
        self.retries = retries
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

    async def _request(
        self, method: str, path: str, *, headers: Mapping[str, str] = {}, **kwargs: Any
    ) -> httpx2.Response:
        """One call, retried as :attr:`retries` says."""
        retry = 0
        while True:
            try:
                return await self._once(method, path, self.headers | dict(headers), **kwargs)
            except ClientError as error:
                retry += 1
                wait_s = self.retries.wait_s(retry, error)
                if wait_s is None:
                    raise
            await asyncio.sleep(wait_s)

    async def _once(
        self, method: str, path: str, headers: dict[str, str], **kwargs: Any
    ) -> httpx2.Response:
        try:
            response = await self.http.request(
                method,
                f"{self.base_url}{path}",
                headers=headers,
                timeout=_timeout(self.timeout_s),
                **kwargs,
            )
        except httpx2.TransportError as exc:
            raise ConnectionFailed(f"could not reach {self.base_url}: {exc}") from exc
        return _response(response)

    async def start(
        self,
        agent: str,
        agent_input: Mapping[str, Any],
        *,
        background: bool = False,
        idempotency_key: str | None = None,
    ) -> JobCreated:
        """Create a job (``POST /jobs``), with an ``Idempotency-Key`` (``idempotency_key``, or
        a fresh one): retrying it never creates a second job. ``background``: run it now."""
        body = _input_body(agent, agent_input, background)
        headers = _start_headers(idempotency_key)
        response = await self._request("POST", "/jobs", json=body, headers=headers)
        return JobCreated.model_validate_json(response.content)

    async def list_jobs(
        self,
        *,
        status: str | None = None,
        agent: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JobList:
        """One page of your jobs, newest first (``GET /jobs``); ``next`` has the next page's
        path, whose ``cursor`` parameter goes on from there."""
        params = _list_params(status, agent, limit, cursor)
        response = await self._request("GET", "/jobs", params=params)
        return JobList.model_validate_json(response.content)

    async def result(self, job_id: str) -> JobState:
        """A finished job's outcome: its state, with ``result`` (completed) or ``error``."""
        return await self.status(job_id)

    async def status(self, job_id: str) -> JobState:
        response = await self._request("GET", f"/jobs/{job_id}")
        return JobState.model_validate_json(response.content)

    async def cancel(self, job_id: str) -> None:
        """Cancel a pending or running job; a finished job stays as it is."""
        await self._request("DELETE", f"/jobs/{job_id}")

    async def agents(self) -> list[AgentInfo]:
        response = await self._request("GET", "/agents")
        return AgentList.model_validate_json(response.content).agents

    async def custom_agent(self, agent: str) -> StoredCustomAgent:
        """Your custom ``agent`` (``ProblemError`` 404 when you have none)."""
        response = await self._request("GET", f"/me/agents/{agent}")
        return StoredCustomAgent.model_validate_json(response.content)

    async def set_custom_agent(self, agent: str, config: Mapping[str, Any]) -> StoredCustomAgent:
        """Store a new version of your custom ``agent``; returns it as stored."""
        response = await self._request("PUT", f"/me/agents/{agent}", json=dict(config))
        return StoredCustomAgent.model_validate_json(response.content)

    async def delete_custom_agent(self, agent: str) -> None:
        await self._request("DELETE", f"/me/agents/{agent}")

    async def events(
        self, job_id: str, *, last_event_id: str | None = None
    ) -> AsyncIterator[Event]:
        """The job's events through the terminal one, resuming after interruptions.
        ``last_event_id`` resumes after an event seen earlier (``"0-0"``: from the start)."""
        resume = Resume(last_event_id, self.reconnects, first_waits=self.retries.enabled)
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
        retries: Retries = Retries(),  # noqa: B008 - frozen
        http: httpx2.Client | None = None,
    ) -> None:
        self.retries = retries
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

    def _request(
        self, method: str, path: str, *, headers: Mapping[str, str] = {}, **kwargs: Any
    ) -> httpx2.Response:
        retry = 0
        while True:
            try:
                return self._once(method, path, self.headers | dict(headers), **kwargs)
            except ClientError as error:
                retry += 1
                wait_s = self.retries.wait_s(retry, error)
                if wait_s is None:
                    raise
            time.sleep(wait_s)

    def _once(
        self, method: str, path: str, headers: dict[str, str], **kwargs: Any
    ) -> httpx2.Response:
        try:
            response = self.http.request(
                method,
                f"{self.base_url}{path}",
                headers=headers,
                timeout=_timeout(self.timeout_s),
                **kwargs,
            )
        except httpx2.TransportError as exc:
            raise ConnectionFailed(f"could not reach {self.base_url}: {exc}") from exc
        return _response(response)

    def start(
        self,
        agent: str,
        agent_input: Mapping[str, Any],
        *,
        background: bool = False,
        idempotency_key: str | None = None,
    ) -> JobCreated:
        body = _input_body(agent, agent_input, background)
        headers = _start_headers(idempotency_key)
        response = self._request("POST", "/jobs", json=body, headers=headers)
        return JobCreated.model_validate_json(response.content)

    def list_jobs(
        self,
        *,
        status: str | None = None,
        agent: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JobList:
        params = _list_params(status, agent, limit, cursor)
        return JobList.model_validate_json(self._request("GET", "/jobs", params=params).content)

    def result(self, job_id: str) -> JobState:
        return self.status(job_id)

    def status(self, job_id: str) -> JobState:
        return JobState.model_validate_json(self._request("GET", f"/jobs/{job_id}").content)

    def cancel(self, job_id: str) -> None:
        self._request("DELETE", f"/jobs/{job_id}")

    def agents(self) -> list[AgentInfo]:
        return AgentList.model_validate_json(self._request("GET", "/agents").content).agents

    def custom_agent(self, agent: str) -> StoredCustomAgent:
        response = self._request("GET", f"/me/agents/{agent}")
        return StoredCustomAgent.model_validate_json(response.content)

    def set_custom_agent(self, agent: str, config: Mapping[str, Any]) -> StoredCustomAgent:
        response = self._request("PUT", f"/me/agents/{agent}", json=dict(config))
        return StoredCustomAgent.model_validate_json(response.content)

    def delete_custom_agent(self, agent: str) -> None:
        self._request("DELETE", f"/me/agents/{agent}")

    def events(self, job_id: str, *, last_event_id: str | None = None) -> Iterator[Event]:
        resume = Resume(last_event_id, self.reconnects, first_waits=self.retries.enabled)
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
