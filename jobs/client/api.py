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

One core, two shells (httpx's ``BaseClient`` under ``Client`` and ``AsyncClient``):
:class:`BaseClient` holds the settings and builds every request; each endpoint is declared
once in :mod:`jobs.client.endpoints` and made a method of both clients by
:func:`asynchronous` and :func:`synchronous`; the stream's decisions are
:class:`jobs.client.resume.Resume`'s and the retries' :class:`jobs.client.retry.Retries`'s.
The two clients only send, sleep and read.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Self, TypeVar, get_args

import httpx2

from jobs.client import endpoints
from jobs.client.endpoints import Call
from jobs.client.errors import ClientError, ConnectionFailed, StreamEnded
from jobs.client.resume import Complete, Event, Failure, Resume, Then, job_failed
from jobs.client.retry import Retries

DEFAULT_URL = "http://127.0.0.1:8000"
#: The service pings idle streams every STREAM_PING_S (15 s); silence for longer than this
#: means the connection is dead, and the stream is resumed.
STREAM_READ_TIMEOUT_S = 45.0

P = ParamSpec("P")
T = TypeVar("T")


class BaseClient:
    """What both clients share: their settings (:class:`JobsClient` says what they mean),
    and each request and stream connection as it is sent."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None,
        timeout_s: float,
        reconnects: int,
        retries: Retries,
    ) -> None:
        self.retries = retries
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.timeout_s = timeout_s
        self.reconnects = reconnects

    def _request(self, call: Call[Any]) -> dict[str, Any]:
        """The arguments of ``http.request`` for ``call``."""
        given = {"json": call.json, "params": call.params}
        return {
            "method": call.method,
            "url": f"{self.base_url}{call.path}",
            "headers": self.headers | dict(call.headers),
            "timeout": httpx2.Timeout(self.timeout_s),
        } | {name: value for name, value in given.items() if value is not None}

    def _unreachable(self, exc: httpx2.TransportError) -> ConnectionFailed:
        return ConnectionFailed(f"could not reach {self.base_url}: {exc}")

    def _resume(self, last_event_id: str | None) -> Resume:
        return Resume(last_event_id, self.reconnects, first_waits=self.retries.enabled)

    def _stream(self, job_id: str, resume: Resume) -> dict[str, Any]:
        """The arguments of ``http.sse`` for the next connection of a job's stream."""
        return {
            "url": f"{self.base_url}/jobs/{job_id}/stream",
            "headers": self.headers | resume.headers(),
            "timeout": httpx2.Timeout(self.timeout_s, read=STREAM_READ_TIMEOUT_S),
        }


def outcome(event: Event) -> Complete | None:
    """What ``attach`` makes of ``event``: the ``complete`` event, None to read on, or raise
    the run's failure."""
    if isinstance(event, Failure):
        raise job_failed(event)
    return event if isinstance(event, Complete) else None


def _method(endpoint: Callable[..., Any], method: Callable[..., Any], owner: str) -> None:
    """Give ``method`` of class ``owner`` the endpoint's name, docstring and signature (with
    ``self``): what ``help()`` and editors show."""
    signature = inspect.signature(endpoint, eval_str=True)
    self = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    (answer,) = get_args(signature.return_annotation)  # Call[T]: the method returns T
    method.__name__ = endpoint.__name__
    method.__qualname__ = f"{owner}.{endpoint.__name__}"
    method.__doc__ = endpoint.__doc__
    method.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[self, *signature.parameters.values()], return_annotation=answer
    )


def asynchronous(
    endpoint: Callable[P, Call[T]],
) -> Callable[Concatenate[JobsClient, P], Coroutine[Any, Any, T]]:
    """The async client's method for ``endpoint``."""

    async def method(client: JobsClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await client._send(endpoint(*args, **kwargs))

    _method(endpoint, method, "JobsClient")
    return method


def synchronous(endpoint: Callable[P, Call[T]]) -> Callable[Concatenate[SyncJobsClient, P], T]:
    """The sync client's method for ``endpoint``."""

    def method(client: SyncJobsClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return client._send(endpoint(*args, **kwargs))

    _method(endpoint, method, "SyncJobsClient")
    return method


class JobsClient(BaseClient):
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
        super().__init__(
            base_url, token=token, timeout_s=timeout_s, reconnects=reconnects, retries=retries
        )
        self._own_http = http is None
        self.http = http or httpx2.AsyncClient()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own_http:
            await self.http.aclose()

    async def _send(self, call: Call[T]) -> T:
        """One call, retried as :attr:`retries` says."""
        retry = 0
        while True:
            try:
                try:
                    response = await self.http.request(**self._request(call))
                except httpx2.TransportError as exc:
                    raise self._unreachable(exc) from exc
                return call.read(response)
            except ClientError as error:
                retry += 1
                wait_s = self.retries.wait_s(retry, error)
                if wait_s is None:
                    raise
            await asyncio.sleep(wait_s)

    start = asynchronous(endpoints.start)
    list_jobs = asynchronous(endpoints.list_jobs)
    result = asynchronous(endpoints.result)
    status = asynchronous(endpoints.status)
    cancel = asynchronous(endpoints.cancel)
    agents = asynchronous(endpoints.agents)
    custom_agent = asynchronous(endpoints.custom_agent)
    set_custom_agent = asynchronous(endpoints.set_custom_agent)
    delete_custom_agent = asynchronous(endpoints.delete_custom_agent)

    async def events(
        self, job_id: str, *, last_event_id: str | None = None
    ) -> AsyncIterator[Event]:
        """The job's events through the terminal one, resuming after interruptions.
        ``last_event_id`` resumes after an event seen earlier (``"0-0"``: from the start)."""
        resume = self._resume(last_event_id)
        while True:
            try:
                async with self.http.sse(**self._stream(job_id, resume)) as source:
                    if source.response.status_code != 200:
                        await source.response.aread()
                        resume.on_response(source.response)
                    else:
                        resume.on_connect()
                        async for sse in source:
                            event, then = resume.on_event(sse.event, sse.data, sse.id)
                            if event is not None:
                                yield event
                            if then is Then.END:
                                return
                            if then is Then.RESUME:
                                break
                        resume.on_interrupted(resume.cause)
            except httpx2.TransportError as exc:
                resume.on_interrupted(exc)
            await asyncio.sleep(resume.wait_s)

    async def attach(self, job_id: str, *, last_event_id: str | None = None) -> Complete:
        """Follow the job to its end: its ``complete`` event, or raise :class:`JobFailed`."""
        async for event in self.events(job_id, last_event_id=last_event_id):
            if (complete := outcome(event)) is not None:
                return complete
        raise StreamEnded("the stream ended without a result")  # pragma: no cover

    async def run(self, agent: str, agent_input: Mapping[str, Any]) -> Complete:
        """Start a job and follow it to its end."""
        job = await self.start(agent, agent_input)
        return await self.attach(job.job_id)


class SyncJobsClient(BaseClient):
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
        super().__init__(
            base_url, token=token, timeout_s=timeout_s, reconnects=reconnects, retries=retries
        )
        self._own_http = http is None
        self.http = http or httpx2.Client()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._own_http:
            self.http.close()

    def _send(self, call: Call[T]) -> T:
        """One call, retried as :attr:`retries` says."""
        retry = 0
        while True:
            try:
                try:
                    response = self.http.request(**self._request(call))
                except httpx2.TransportError as exc:
                    raise self._unreachable(exc) from exc
                return call.read(response)
            except ClientError as error:
                retry += 1
                wait_s = self.retries.wait_s(retry, error)
                if wait_s is None:
                    raise
            time.sleep(wait_s)

    start = synchronous(endpoints.start)
    list_jobs = synchronous(endpoints.list_jobs)
    result = synchronous(endpoints.result)
    status = synchronous(endpoints.status)
    cancel = synchronous(endpoints.cancel)
    agents = synchronous(endpoints.agents)
    custom_agent = synchronous(endpoints.custom_agent)
    set_custom_agent = synchronous(endpoints.set_custom_agent)
    delete_custom_agent = synchronous(endpoints.delete_custom_agent)

    def events(self, job_id: str, *, last_event_id: str | None = None) -> Iterator[Event]:
        """The job's events through the terminal one, resuming after interruptions.
        ``last_event_id`` resumes after an event seen earlier (``"0-0"``: from the start)."""
        resume = self._resume(last_event_id)
        while True:
            try:
                with self.http.sse(**self._stream(job_id, resume)) as source:
                    if source.response.status_code != 200:
                        source.response.read()
                        resume.on_response(source.response)
                    else:
                        resume.on_connect()
                        for sse in source:
                            event, then = resume.on_event(sse.event, sse.data, sse.id)
                            if event is not None:
                                yield event
                            if then is Then.END:
                                return
                            if then is Then.RESUME:
                                break
                        resume.on_interrupted(resume.cause)
            except httpx2.TransportError as exc:
                resume.on_interrupted(exc)
            time.sleep(resume.wait_s)

    def attach(self, job_id: str, *, last_event_id: str | None = None) -> Complete:
        """Follow the job to its end: its ``complete`` event, or raise :class:`JobFailed`."""
        for event in self.events(job_id, last_event_id=last_event_id):
            if (complete := outcome(event)) is not None:
                return complete
        raise StreamEnded("the stream ended without a result")  # pragma: no cover

    def run(self, agent: str, agent_input: Mapping[str, Any]) -> Complete:
        """Start a job and follow it to its end."""
        job = self.start(agent, agent_input)
        return self.attach(job.job_id)
