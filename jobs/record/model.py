"""The job record as it lives in its Redis HASH."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from jobs.events import JobStatus, now_ms


@dataclass(slots=True)
class Job:
    """One job. ``input`` is the validated agent input (gone from a completed job's kept
    record); ``error`` is the terminal error event's data, ``complete`` the ``complete``
    event's (a finished job's kept record, ``RESULT_TTL_S``)."""

    id: str
    owner: str
    agent: str
    input: dict[str, Any]
    status: JobStatus = JobStatus.PENDING
    created_at_ms: int = field(default_factory=now_ms)
    started_at_ms: int | None = None
    runner: str | None = None
    error: dict[str, Any] | None = None
    #: The owner's custom agent as it was when the job was created (``jobs.record.custom_agents``).
    custom_agent: dict[str, Any] | None = None
    #: The W3C ``traceparent`` of the request that created the job (tracing on only), so
    #: that its run, on whichever instance, continues that trace.
    trace: str | None = None
    finished_at_ms: int | None = None
    complete: dict[str, Any] | None = None
    #: Run at once and never abandoned for want of watchers (``"background": true``).
    background: bool = False
    #: How many times another runner took the run over (a crash, a drain's deadline).
    takeovers: int = 0

    def to_hash(self) -> dict[str, str]:
        """The HASH fields, named as operators see them (README: Redis keys)."""
        fields = {
            "id": self.id,
            "owner": self.owner,
            "agent": self.agent,
            "input": json.dumps(self.input, separators=(",", ":")),
            "status": self.status.value,
            "createdAt": str(self.created_at_ms),
        }
        if self.started_at_ms is not None:
            fields["startedAt"] = str(self.started_at_ms)
        if self.runner is not None:
            fields["runner"] = self.runner
        if self.error is not None:
            fields["error"] = json.dumps(self.error, separators=(",", ":"))
        if self.takeovers:
            fields["takeovers"] = str(self.takeovers)
        if self.custom_agent is not None:
            fields["customAgent"] = json.dumps(self.custom_agent, separators=(",", ":"))
        if self.trace is not None:
            fields["traceparent"] = self.trace
        if self.background:
            fields["background"] = "1"
        if self.finished_at_ms is not None:
            fields["finishedAt"] = str(self.finished_at_ms)
        if self.complete is not None:
            fields["complete"] = json.dumps(self.complete, separators=(",", ":"))
        return fields

    @classmethod
    def from_hash(cls, fields: dict[str, str]) -> Job:
        started = fields.get("startedAt")
        error = fields.get("error")
        custom = fields.get("customAgent")
        finished = fields.get("finishedAt")
        complete = fields.get("complete")
        return cls(
            id=fields["id"],
            owner=fields["owner"],
            agent=fields["agent"],
            input=json.loads(fields.get("input", "{}")),
            status=JobStatus(fields["status"]),
            created_at_ms=int(fields["createdAt"]),
            started_at_ms=int(started) if started else None,
            runner=fields.get("runner") or None,
            error=json.loads(error) if error else None,
            custom_agent=json.loads(custom) if custom else None,
            trace=fields.get("traceparent"),
            finished_at_ms=int(finished) if finished else None,
            complete=json.loads(complete) if complete else None,
            background=fields.get("background") == "1",
            takeovers=int(fields.get("takeovers") or 0),
        )
