"""The server's errors, in one tree.

Request-time errors are raised while a request is handled and become problem documents in
``app.problems`` (the one place that knows their HTTP status and problem ``code``). Run-time
errors end a run and reach clients as an ``error`` event carrying their
:class:`~jobs.events.ErrorCode`; each code is one class here. Authentication errors are a
tree of their own (``auth.errors``), which ``app.problems`` maps beside this one::

    JobsError
    ├── RequestRejected           the HTTP layer refuses the request itself
    │   ├── UnsupportedMediaType  the body is not JSON (415)
    │   ├── MalformedJson         the body does not parse (400)
    │   └── LocalOnly             a dev-mode endpoint called from another machine (403)
    │       └── ForeignOrigin     ...or from a web page of another origin (403)
    ├── InvalidJobId              a job id that cannot be one (400)
    ├── InvalidEventId            a Last-Event-ID that cannot be one (400)
    ├── UnknownAgent              no agent by that name (422)
    ├── InputInvalid              the input failed the agent's schema (422, field errors)
    ├── JobNotFound               unknown or expired (404)
    ├── CustomAgentNotFound       the caller has no custom agent of that name (404)
    ├── NotOwner                  another user's job (403)
    ├── JobFinished               finished, nothing to resume (410)
    ├── IdempotencyKeyInvalid     an Idempotency-Key that is empty or too long (400)
    ├── IdempotencyKeyReused      an Idempotency-Key already used with another body (422)
    ├── IdempotencyInProgress     the same request is still being processed (409)
    ├── LimitExceeded             a per-user limit; says when to retry (429)
    │   ├── RateLimited           too many job creations this minute
    │   ├── TicketsRateLimited    too many stream tickets this minute
    │   ├── TooManyStreams        too many open streams
    │   └── BudgetExhausted       the user's USER_TOKEN_BUDGET for the rolling day is spent
    ├── StoreUnavailable          Redis cannot be reached or refuses writes (503)
    ├── Fenced                    a run's write was refused: the job is no longer its own
    └── RunError                  ends a run with an ``error`` event of its ``code``
        ├── AgentFailed           AGENT_ERROR: the agent or its backend failed
        ├── OutputInvalid         OUTPUT_INVALID: the model's output did not validate
        ├── AgentMaxSteps         AGENT_MAX_STEPS: still calling tools at AGENT_MAX_STEPS
        ├── RunBudgetExhausted    BUDGET_EXHAUSTED: the run spent its RUN_TOKEN_BUDGET
        ├── UpstreamError         the model provider failed (retryable)
        │   ├── UpstreamRateLimited   UPSTREAM_RATE_LIMITED
        │   ├── UpstreamOverloaded    UPSTREAM_OVERLOADED
        │   └── UpstreamUnavailable   UPSTREAM_UNAVAILABLE
        ├── RunTimeout            TIMEOUT: RUN_TIMEOUT_S reached
        ├── Cancelled             CANCELLED: the owner cancelled the job
        ├── Abandoned             ABANDONED: nobody watched the run for ABANDON_AFTER_S
        ├── RunnerLost            RUNNER_LOST: the runner's lease expired
        ├── Shutdown              SHUTDOWN: the instance stopped during the run
        └── StoreLost             STORE_UNAVAILABLE: Redis failed during the run
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from jobs.events import CANCEL_CODES, ErrorCode, JobStatus, error_payload

if TYPE_CHECKING:
    from pydantic import ValidationError


class JobsError(Exception):
    """Base of every error the server raises on purpose."""


class RequestRejected(JobsError):
    """A request the HTTP layer refuses before any domain logic runs."""


class UnsupportedMediaType(RequestRejected):
    def __init__(self) -> None:
        super().__init__("send the body as application/json")


class MalformedJson(RequestRejected):
    def __init__(self, reason: str) -> None:
        super().__init__(f"the body is not valid JSON: {reason}")


class LocalOnly(RequestRejected):
    reason = "only requests from this machine (localhost) may have {what}"

    def __init__(self, what: str) -> None:
        super().__init__(self.reason.format(what=what))


class ForeignOrigin(LocalOnly):
    reason = "only this service's own page and the origins in CORS_ALLOW_ORIGINS may have {what}"


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
    """The request body or the agent input failed validation: ``validation`` is pydantic's
    error, its locations under ``prefix`` (``("input",)``: the agent input as the client sent
    it). ``errors`` name the fields: where (``loc``, and ``field`` dotted), what, and the
    rule's type, as the problem document lists them."""

    def __init__(self, validation: ValidationError, prefix: tuple[str, ...] = ()) -> None:
        super().__init__("the request failed validation")
        self.validation = validation
        self.prefix = prefix
        self.errors: list[dict[str, Any]] = []
        for error in validation.errors(include_url=False, include_input=False):
            loc = [*prefix, *(str(part) for part in error["loc"])]
            self.errors.append(
                {"loc": loc, "field": ".".join(loc), "message": error["msg"], "type": error["type"]}
            )


class CustomAgentNotFound(JobsError):
    def __init__(self, agent: str) -> None:
        super().__init__(f"you have no custom {agent!r} agent")
        self.agent = agent


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


class IdempotencyKeyInvalid(JobsError):
    pass


class IdempotencyKeyReused(JobsError):
    def __init__(self) -> None:
        super().__init__(
            "this Idempotency-Key was already used with another request body; "
            "use a new key for a new request"
        )


class IdempotencyInProgress(JobsError):
    """The twin of this request (same key, same body) is still being processed."""

    def __init__(self, *, retry_after_s: int) -> None:
        super().__init__(
            "a request with this Idempotency-Key is still being processed; retry shortly"
        )
        self.retry_after_s = retry_after_s


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


class TicketsRateLimited(LimitExceeded):
    def __init__(self, per_minute: int, *, retry_after_s: int) -> None:
        super().__init__(
            f"at most {per_minute} stream tickets may be issued per minute; "
            f"retry in {retry_after_s} s",
            retry_after_s=retry_after_s,
        )


class TooManyStreams(LimitExceeded):
    def __init__(self, limit: int, *, retry_after_s: int) -> None:
        super().__init__(
            f"at most {limit} streams may be open at once; close one and retry",
            retry_after_s=retry_after_s,
        )


class BudgetExhausted(LimitExceeded):
    def __init__(self, budget: int, *, retry_after_s: int) -> None:
        super().__init__(
            f"the daily token budget ({budget} tokens over the last 24 hours, "
            f"USER_TOKEN_BUDGET) is spent; retry in {retry_after_s} s",
            retry_after_s=retry_after_s,
        )


class StoreUnavailable(JobsError):
    """Redis failed the request (unreachable, out of memory, read-only, ...): 503 with
    ``Retry-After: retry_after_s``."""

    def __init__(
        self,
        message: str = "the job store (Redis) is unavailable; try again shortly",
        *,
        retry_after_s: int = 1,
    ) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Fenced(JobsError):
    """A runner's append was refused: its job ended elsewhere (a cancel, a ``RUNNER_LOST``
    verdict) or its lease expired. Never reaches a client: the runner stops the run."""

    def __init__(self) -> None:
        super().__init__("the job is no longer running under this runner's lease")


class RunError(JobsError):
    """Ends a run. ``code`` and ``retryable`` are the class's; ``retry_after_ms`` is set when
    the cause said how long to wait. Each becomes one ``error`` event (:meth:`payload`)."""

    code: ClassVar[ErrorCode] = ErrorCode.AGENT_ERROR
    retryable: ClassVar[bool] = False
    default_message: ClassVar[str] = "the agent failed"

    def __init__(self, message: str | None = None, *, retry_after_ms: int | None = None):
        self.message = message or self.default_message
        super().__init__(self.message)
        self.retry_after_ms = retry_after_ms

    @property
    def status(self) -> JobStatus:
        """The status a job ending with this error settles in."""
        return JobStatus.CANCELLED if self.code in CANCEL_CODES else JobStatus.FAILED

    def payload(self) -> dict[str, Any]:
        """The ``error`` event's data."""
        return error_payload(
            self.code, self.message, retryable=self.retryable, retry_after_ms=self.retry_after_ms
        )


class AgentFailed(RunError):
    code = ErrorCode.AGENT_ERROR


class OutputInvalid(RunError):
    code = ErrorCode.OUTPUT_INVALID


class AgentMaxSteps(RunError):
    """The model still asked for tools at its last allowed step (``AGENT_MAX_STEPS``)."""

    code = ErrorCode.AGENT_MAX_STEPS

    def __init__(self, max_steps: int) -> None:
        super().__init__(
            f"the agent was still calling tools after {max_steps} model calls "
            "(AGENT_MAX_STEPS); it gave no answer"
        )


class RunBudgetExhausted(RunError):
    """The run's model calls spent its ``RUN_TOKEN_BUDGET``; it stopped after the call that
    crossed it. Not retryable: the same run would spend as much again."""

    code = ErrorCode.BUDGET_EXHAUSTED

    def __init__(self, budget: int, spent: int) -> None:
        super().__init__(
            f"the run used {spent} tokens, its budget is {budget} (RUN_TOKEN_BUDGET); "
            "it stopped after the model call that crossed it"
        )


class UpstreamError(RunError):
    """The model provider failed; the subclass says how."""

    code = ErrorCode.UPSTREAM_UNAVAILABLE
    retryable = True


class UpstreamRateLimited(UpstreamError):
    code = ErrorCode.UPSTREAM_RATE_LIMITED


class UpstreamOverloaded(UpstreamError):
    code = ErrorCode.UPSTREAM_OVERLOADED


class UpstreamUnavailable(UpstreamError):
    code = ErrorCode.UPSTREAM_UNAVAILABLE


class RunTimeout(RunError):
    code = ErrorCode.TIMEOUT
    retryable = True


class Cancelled(RunError):
    code = ErrorCode.CANCELLED
    default_message = "the job was cancelled by its owner"


class Abandoned(RunError):
    code = ErrorCode.ABANDONED

    def __init__(self, after_s: float) -> None:
        super().__init__(f"no client was attached for {after_s:g} s, so the run was stopped")


class RunnerLost(RunError):
    code = ErrorCode.RUNNER_LOST
    retryable = True
    default_message = "the run stopped without a result; start a new job"


class Shutdown(RunError):
    code = ErrorCode.SHUTDOWN
    retryable = True
    default_message = "the service instance shut down during the run; start a new job"


class StoreLost(RunError):
    code = ErrorCode.STORE_UNAVAILABLE
    retryable = True
    default_message = "the job store (Redis) became unavailable during the run"
