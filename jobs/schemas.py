"""The service's public payloads as pydantic models: responses, problem documents, events.

One description of the wire contract, used three ways: ``app.openapi`` generates the OpenAPI
document's schemas from these models, ``jobs.client`` parses what the service sends with
them, and the tests check that what the service really sends validates against them (with no
field the models do not name). Requests are validated by their own models where they are
handled (``app.routes.CreateJob`` and each agent's input model); the OpenAPI document uses
those directly.

The service builds its responses and events as plain dicts on its hot path; these models cost
nothing there. Fields are snake_case in Python and camelCase on the wire. Models accept fields
they do not know, so a client keeps working when the service adds one.

This module imports only pydantic: the client and the CLI load it without Redis or Starlette.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from jobs.events import EventName, JobStatus, ToolPhase

#: The job statuses as the API reports them.
Status = JobStatus


class Wire(BaseModel):
    """Base of the payload models: camelCase on the wire, unknown fields tolerated."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True
    )


# -- responses -------------------------------------------------------------------------------


class JobCreated(Wire):
    """``201`` from ``POST /jobs``."""

    job_id: str = Field(description="32 lowercase hex characters")
    status: Status
    agent: str
    created_at: int = Field(description="Unix ms")
    expires_at: int = Field(description="Unix ms: a job nobody attaches to is gone after it")
    stream_url: str = Field(description="the path of the job's event stream")
    stream_ticket: str = Field(
        description="a short-lived credential for this job's stream only (?ticket=...)"
    )


class CustomAgentRef(Wire):
    """Which of the owner's custom agents a job runs: its name and the version snapshotted."""

    name: str
    version: int


class StoredCustomAgent(Wire):
    """``200`` from ``GET`` or ``PUT /me/agents/{agent}``: the custom agent as stored."""

    name: str
    role: str
    focus: str
    system_prompt: str
    temperature: float | None = Field(default=None, description="kept; never sent to the model")
    effort: str | None = Field(default=None, description="sent as `output_config.effort`")
    tools: list[str] | None = None
    model: str | None = None
    is_active: bool
    version: int = Field(description="increases with every PUT")
    updated_at: int = Field(description="Unix ms")


class JobError(Wire):
    """How a failed or cancelled job ended: its terminal ``error`` event's code and message."""

    code: str
    message: str
    retryable: bool
    retry_after_ms: int | None = Field(default=None, description="when the cause said so")


class JobState(Wire):
    """``200`` from ``GET /jobs/{id}``, and each item of ``GET /jobs``. A finished job keeps
    its record for ``RESULT_TTL_S`` (a failure or cancel at least ``FAILED_RETENTION_S``);
    after that, while its events remain (``RESUME_GRACE_S``), it reports only ``jobId``,
    ``status`` and ``result`` or ``error``."""

    job_id: str
    status: Status
    agent: str | None = None
    created_at: int | None = Field(default=None, description="Unix ms")
    started_at: int | None = Field(default=None, description="Unix ms (the first start)")
    finished_at: int | None = Field(default=None, description="Unix ms")
    background: bool | None = Field(default=None, description="started with `background`")
    takeovers: int | None = Field(
        default=None, description="once started: how many times another runner took it over"
    )
    runner: str | None = Field(
        default=None, description="while running: the runner (`<instance>` or `<instance>#<k>`)"
    )
    ttl_s: int | None = Field(default=None, description="seconds the record has left")
    result: dict[str, Any] | None = Field(
        default=None, description="completed: the agent's result, as in `complete`"
    )
    error: JobError | None = Field(default=None, description="failed or cancelled: why")
    token_usage: TokenUsage | None = Field(default=None, description="completed")
    cost_usd: float | None = Field(
        default=None,
        description="completed: what the run cost in US dollars, as in `complete` (null for a "
        "model without a price)",
    )
    execution_time_ms: int | None = Field(default=None, description="completed")
    custom_agent: CustomAgentRef | None = None


class JobList(Wire):
    """``200`` from ``GET /jobs``: the caller's jobs, newest first."""

    jobs: list[JobState]
    next: str | None = Field(
        description="the path of the next page (null: this is the last)",
    )


class StreamTicket(Wire):
    """``200`` from ``POST /jobs/{id}/ticket``."""

    stream_ticket: str
    expires_in: int = Field(
        description=(
            "seconds the ticket is valid for in all: it may start a pending job for its first "
            "STREAM_TICKET_TTL_S, and reattach to the job (running or finished) until the end"
        )
    )


class AgentInfo(Wire):
    name: str
    description: str
    input_schema: dict[str, Any] = Field(description="the agent's input JSON Schema")


class AgentList(Wire):
    """``200`` from ``GET /agents``."""

    agents: list[AgentInfo]


class Health(Wire):
    status: Literal["ok"]


class Readiness(Wire):
    """``200`` from ``GET /readyz``: this instance's identity and load."""

    status: Literal["ready"]
    instance: str
    active_runs: int
    open_streams: int


class FieldError(Wire):
    loc: list[str]
    field: str
    message: str
    type: str


class Problem(Wire):
    """Every 4xx/5xx (RFC 9457, ``application/problem+json``), with a machine-readable code."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[FieldError] | None = Field(default=None, description="with 422 only")


# -- events (the data: of each Server-Sent Event) -------------------------------------------


class ConnectedEvent(Wire):
    """``connected``: first on every connection; never stored, so it has no ``id:``."""

    job_id: str
    status: Status
    resumed: bool
    timestamp: int


class DeltaEvent(Wire):
    """``delta``: the next piece of the output; ``totalLength`` counts all text so far."""

    text: str
    total_length: int
    timestamp: int


class ToolEvent(Wire):
    """``tool``: a step of the agent's work. ``phase`` ``call`` when a tool call starts (with
    the ``input`` the model wrote), then ``result`` with the same ``id`` when it ends (``ok``,
    a short ``summary`` for people, ``durationMs``). Calls of one step run at once, so their
    results may come in any order; every ``delta`` written before a call comes before it."""

    id: str = Field(description="the tool call's id, shared by its call and result")
    name: str = Field(description="the tool: Glob, Grep or Read")
    phase: ToolPhase
    input: Any = Field(default=None, description="call only: the tool's input")
    ok: bool | None = Field(default=None, description="result only: false if the tool refused")
    summary: str | None = Field(default=None, description="result only: what the tool did")
    duration_ms: int | None = Field(default=None, description="result only")
    timestamp: int


class RewindEvent(Wire):
    """``rewind``: the output is cut back to its first ``totalLength`` characters; the deltas
    that follow continue from there. Stored when a run was taken over by another instance
    (``reason``: its runner was lost, or its instance shut down) that could not continue the
    interrupted model step. All ``delta`` texts in order, each ``rewind`` applied, are the
    whole output. Nothing else ever shortens it."""

    total_length: int = Field(ge=0)
    reason: Literal["RUNNER_LOST", "SHUTDOWN"]
    timestamp: int


class TokenUsage(Wire):
    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None


class CompleteEvent(Wire):
    """``complete`` (terminal): the agent's result; ``totalLength`` equals the delta total."""

    result: dict[str, Any]
    total_length: int
    token_usage: TokenUsage = Field(description="summed over every step of the run")
    cost_usd: float | None = Field(
        default=None,
        description="what the run cost in US dollars, from the price table (MODEL_PRICES); "
        "null for a model without a price",
    )
    execution_time_ms: int
    model: str
    stop_reason: str | None = None
    custom_agent: CustomAgentRef | None = None
    steps: int = Field(default=1, description="model calls the run made")
    tool_calls: int = Field(default=0, description="tool calls the run made")
    takeovers: int = Field(
        default=0, description="how many times another instance took the run over"
    )
    timestamp: int


class ErrorEvent(Wire):
    """``error`` (terminal, unless sent without ``id:``: then the stream broke, not the run)."""

    code: str
    message: str
    retryable: bool
    retry_after_ms: int | None = Field(default=None, description="when the cause said so")
    timestamp: int


#: Event name → the model of its data.
EVENTS: dict[str, type[Wire]] = {
    EventName.CONNECTED: ConnectedEvent,
    EventName.DELTA: DeltaEvent,
    EventName.TOOL: ToolEvent,
    EventName.REWIND: RewindEvent,
    EventName.COMPLETE: CompleteEvent,
    EventName.ERROR: ErrorEvent,
}

JobState.model_rebuild()
JobList.model_rebuild()
