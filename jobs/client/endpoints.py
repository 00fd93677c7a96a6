"""Every endpoint the clients call, declared once: each function here takes the public
method's arguments and returns a :class:`Call` (the request to send, and how its answer is
read). The async and the sync client turn each into a method with the same signature and
docstring (:func:`jobs.client.api.asynchronous`, :func:`jobs.client.api.synchronous`), so
adding an endpoint is one function here and one line in each client.

Sans-I/O: nothing here sends anything. The stream (``GET /jobs/{id}/stream``) is not here:
its decisions are :class:`jobs.client.resume.Resume`'s.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx2
from pydantic import BaseModel

from jobs.client.resume import problem_error
from jobs.schemas import AgentInfo, AgentList, JobCreated, JobList, JobState, StoredCustomAgent

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One request to the service (``path`` below the base URL) and ``parse``, which reads a
    successful answer's body; a 4xx/5xx answer is raised as a ``ProblemError`` instead."""

    method: str
    path: str
    parse: Callable[[httpx2.Response], T]
    json: Any = None
    params: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def read(self, response: httpx2.Response) -> T:
        """The answer to this call (its body has been read), or raise its problem."""
        if response.status_code >= 400:
            raise problem_error(response)
        return self.parse(response)


def body_as(model: type[M]) -> Callable[[httpx2.Response], M]:
    """A parse function: the body as ``model``."""
    return lambda response: model.model_validate_json(response.content)


def no_body(response: httpx2.Response) -> None:
    return None


def start(
    agent: str,
    agent_input: Mapping[str, Any],
    *,
    background: bool = False,
    idempotency_key: str | None = None,
) -> Call[JobCreated]:
    """Create a job (``POST /jobs``), with an ``Idempotency-Key`` (``idempotency_key``, or
    a fresh one): retrying it never creates a second job. ``background``: run it now."""
    body = {"agent": agent, "input": dict(agent_input)}
    # The key is made once per start, so that a retried start is answered again, not run twice.
    headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
    json = body | {"background": True} if background else body
    return Call("POST", "/jobs", body_as(JobCreated), json=json, headers=headers)


def list_jobs(
    *,
    status: str | None = None,
    agent: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Call[JobList]:
    """One page of your jobs, newest first (``GET /jobs``); ``next`` has the next page's
    path, whose ``cursor`` parameter goes on from there."""
    given = {"status": status, "agent": agent, "limit": limit, "cursor": cursor}
    params = {name: str(value) for name, value in given.items() if value is not None}
    return Call("GET", "/jobs", body_as(JobList), params=params)


def result(job_id: str) -> Call[JobState]:
    """A finished job's outcome: its state, with ``result`` (completed) or ``error``."""
    return status(job_id)


def status(job_id: str) -> Call[JobState]:
    """The job's state (``GET /jobs/{id}``)."""
    return Call("GET", f"/jobs/{job_id}", body_as(JobState))


def cancel(job_id: str) -> Call[None]:
    """Cancel a pending or running job; a finished job stays as it is."""
    return Call("DELETE", f"/jobs/{job_id}", no_body)


def agents() -> Call[list[AgentInfo]]:
    """The agents you may start (``GET /agents``)."""
    return Call("GET", "/agents", lambda response: body_as(AgentList)(response).agents)


def custom_agent(agent: str) -> Call[StoredCustomAgent]:
    """Your custom ``agent`` (``ProblemError`` 404 when you have none)."""
    return Call("GET", f"/me/agents/{agent}", body_as(StoredCustomAgent))


def set_custom_agent(agent: str, config: Mapping[str, Any]) -> Call[StoredCustomAgent]:
    """Store a new version of your custom ``agent``; returns it as stored."""
    return Call("PUT", f"/me/agents/{agent}", body_as(StoredCustomAgent), json=dict(config))


def delete_custom_agent(agent: str) -> Call[None]:
    """Delete your custom ``agent``."""
    return Call("DELETE", f"/me/agents/{agent}", no_body)
