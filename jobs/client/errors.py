"""The client's errors, in one tree. Each carries a machine-readable ``code``::

ClientError
├── ProblemError        the service answered 4xx/5xx (``status``, ``code``, ``detail``)
├── JobFailed           the run ended with an ``error`` event (``code``, ``retryable``)
│   └── JobCancelled    ... because it was cancelled (``CANCELLED``) or abandoned
├── StreamEnded         nothing after the given Last-Event-ID (the service said 204)
├── ConnectionFailed    the service could not be reached, or reconnecting gave up
└── UsageError          ``python -m jobs`` was called with bad arguments or input
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jobs.client.resume import Failure
    from jobs.schemas import Problem


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


class UsageError(ClientError):
    """Bad command-line input (exit 2)."""

    code = "USAGE"
