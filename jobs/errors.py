"""The domain's errors, in one tree.

Request-time errors are raised while a request is handled and become problem documents in
``app.problems`` (the one place that knows their HTTP status). Run-time errors end a run and
reach clients as an ``error`` event carrying their ``code``::

    JobsError
    ├── InvalidJobId            a job id that cannot be one (400)
    ├── InvalidEventId          a Last-Event-ID that cannot be one (400)
    ├── UnknownAgent            no agent by that name (422)
    ├── InputInvalid            the input failed the agent's schema (422, field errors)
    ├── JobNotFound             unknown or expired (404)
    ├── NotOwner                another user's job (403)
    ├── JobFinished             finished, nothing to resume (410)
    ├── LimitExceeded           a per-user limit; says when to retry (429)
    │   ├── RateLimited         too many job creations this minute
    │   └── TooManyStreams      too many open streams
    ├── StoreUnavailable        Redis cannot be reached (503)
    └── RunError                ends a run with an ``error`` event
        ├── AgentFailed         AGENT_ERROR: the agent or its backend failed
        ├── OutputInvalid       OUTPUT_INVALID: the model's output did not validate
        ├── UpstreamError       UPSTREAM_*: the model provider failed (often retryable)
        └── RunTimeout          TIMEOUT: RUN_TIMEOUT_S reached
"""

from __future__ import annotations

from typing import Any


class JobsError(Exception):
    """Base of every error this package raises on purpose."""


class InvalidJobId(JobsError):
    def __init__(self, job_id: str) -> None:
        super().__init__("job ids are 32 lowercase hexadecimal characters")
        self.job_id = job_id


class InvalidEventId(JobsError):
    def __init__(self) -> None:
        super().__init__("Last-Event-ID must be an event id from this stream, like 1700000000000-0")


class UnknownAgent(JobsError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown agent {name!r}; known agents: {', '.join(known)}")
        self.name = name


class InputInvalid(JobsError):
    """The request body or the agent input failed validation; ``errors`` name the fields."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("the request failed validation")
        self.errors = errors


class JobNotFound(JobsError):
    def __init__(self, job_id: str) -> None:
        super().__init__("no such job, or it has expired")
        self.job_id = job_id


class NotOwner(JobsError):
    def __init__(self, job_id: str) -> None:
        super().__init__("this job belongs to another user")
        self.job_id = job_id


class JobFinished(JobsError):
    def __init__(self, job_id: str, status: str) -> None:
        super().__init__(
            f"the job has already finished ({status}); "
            "reconnect with Last-Event-ID to replay what you missed"
        )
        self.job_id = job_id
        self.status = status


class LimitExceeded(JobsError):
    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RateLimited(LimitExceeded):
    def __init__(self, per_minute: int, *, retry_after_s: int) -> None:
        super().__init__(
            f"at most {per_minute} jobs may be created per minute; retry in {retry_after_s} s",
            retry_after_s=retry_after_s,
        )


class TooManyStreams(LimitExceeded):
    def __init__(self, limit: int, *, retry_after_s: int) -> None:
        super().__init__(
            f"at most {limit} streams may be open at once; close one and retry",
            retry_after_s=retry_after_s,
        )


class StoreUnavailable(JobsError):
    def __init__(self) -> None:
        super().__init__("the job store (Redis) is unavailable; try again shortly")


class RunError(JobsError):
    """Ends a run; ``code``, ``retryable`` and ``retry_after_ms`` (when the cause said how long
    to wait) go into the ``error`` event."""

    code = "AGENT_ERROR"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        retryable: bool | None = None,
        retry_after_ms: int | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.retry_after_ms = retry_after_ms
        if code is not None:
            self.code = code
        if retryable is not None:
            self.retryable = retryable


class AgentFailed(RunError):
    code = "AGENT_ERROR"


class OutputInvalid(RunError):
    code = "OUTPUT_INVALID"


class UpstreamError(RunError):
    """The model provider failed. Subclass-free: the backend picks the ``UPSTREAM_*`` code."""

    code = "UPSTREAM_UNAVAILABLE"
    retryable = True


class RunTimeout(RunError):
    code = "TIMEOUT"
    retryable = True
