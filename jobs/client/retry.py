"""When the client tries a request again (:class:`Retries`), shared by the async and the sync
client: sans-I/O, so both shells make the same decisions.

Retried: a service that cannot be reached (``ConnectionFailed``), 503 (Redis or the identity
provider briefly unavailable), 429 (a per-user limit) and 409 ``IDEMPOTENCY_IN_PROGRESS`` (the
twin of a retried start is still being processed), each after the ``Retry-After`` the service
sent, else after an exponential backoff. Bounded twice: at most ``attempts`` retries of one
call, and no single wait longer than ``max_wait_s`` (a longer ``Retry-After`` is not waited
out: the error is raised). Starting a job is safe to retry because the client sends an
``Idempotency-Key`` with every start: a start that reached the service before its connection
broke is answered again, not run twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from jobs.client.errors import ClientError, ConnectionFailed, ProblemError

#: The statuses retried after their ``Retry-After``.
RETRIED_STATUSES = (429, 503)


@dataclass(frozen=True, slots=True)
class Retries:
    """How persistently one call is retried; ``Retries.off()`` never retries."""

    attempts: int = 8
    max_wait_s: float = 65.0
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0

    @classmethod
    def off(cls) -> Retries:
        return cls(attempts=0)

    @property
    def enabled(self) -> bool:
        return self.attempts > 0

    def wait_s(self, retry: int, error: ClientError) -> float | None:
        """Seconds to wait before retry number ``retry`` (1, 2, ...) after ``error``; None:
        give up and raise it."""
        if retry > self.attempts or not retryable(error):
            return None
        backoff_s = min(self.backoff_s * 2 ** (retry - 1), self.max_backoff_s)
        told_s = error.retry_after_s if isinstance(error, ProblemError) else None
        wait_s = told_s if told_s is not None else backoff_s
        return wait_s if wait_s <= self.max_wait_s else None


def retryable(error: ClientError) -> bool:
    """Whether ``error`` may go away by itself."""
    if isinstance(error, ConnectionFailed):
        return True
    if not isinstance(error, ProblemError):
        return False
    return error.status in RETRIED_STATUSES or error.code == "IDEMPOTENCY_IN_PROGRESS"
