"""For API consumers: the async and sync clients, their typed events and errors, and the CLI
(``python -m jobs``). Imports none of the server's dependencies (Starlette, redis, anthropic):
a script that only calls the service loads only what it uses."""

from __future__ import annotations

from jobs.client.api import JobsClient, SyncJobsClient
from jobs.client.errors import (
    ClientError,
    ConnectionFailed,
    JobCancelled,
    JobFailed,
    ProblemError,
    StreamEnded,
    UsageError,
)
from jobs.client.resume import (
    Complete,
    Connected,
    Delta,
    Event,
    Failure,
    Output,
    Rewind,
    Tool,
    job_failed,
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
    "Output",
    "ProblemError",
    "Rewind",
    "StreamEnded",
    "SyncJobsClient",
    "Tool",
    "UsageError",
    "job_failed",
]
