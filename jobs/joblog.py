"""What the job domain tells the log beyond its own lines.

- :data:`owner`: the owner of the job being handled, a context variable that ``app.logs``
  adds to every record (beside the request and job ids). The service sets it once a job's
  owner is established (never from an unverified caller), and a run's task inherits it.
- :func:`ended`: the one line for each terminal state an instance decides (a run's result
  or error, a cancel that ends a pending job), with the job id, its owner, its agent, the
  outcome, the reason code and the runner (the instance id that decided), so that an
  operator can find how any job ended with one search, whichever instance ended it.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

from jobs import tracing

#: The owner of the job a log line is about.
owner: ContextVar[str | None] = ContextVar("owner", default=None)

logger = logging.getLogger("jobs.endings")


def ended(
    job_id: str, job_owner: str, agent: str, outcome: str, code: str | None, runner: str
) -> None:
    """Log that ``runner`` (this instance) ended the job with ``outcome`` and ``code``."""
    fields = {
        "job_id": job_id,
        "owner": job_owner,
        "agent": agent,
        "outcome": outcome,
        "code": code or "none",
        "runner": runner,
    }
    tracing.annotate(
        {"jobs.outcome": outcome, "jobs.code": fields["code"]},
        failed=fields["code"] if outcome == "failed" else None,
    )
    level = logging.WARNING if outcome == "failed" else logging.INFO
    logger.log(level, "job %s %s (%s) on %s", job_id, outcome, fields["code"], runner, extra=fields)
