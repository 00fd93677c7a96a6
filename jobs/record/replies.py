"""What the job store's scripts answer (:mod:`jobs.record.store`): a claim, a takeover, a
verdict on a running job's lease, a cancel's outcome, and the parsing of their replies."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from jobs.record.model import Job


class LeaseVerdict(StrEnum):
    """What a script that looks at a running job's lease decided (the values the scripts
    return): the runner still holds it, the job is not running, nobody holds it but a live
    instance may take the run over (``orphaned``; ``claimed``: this call did), or the job was
    settled as ``RUNNER_LOST`` here (``lost:<why>``)."""

    ALIVE = "alive"
    NOT_RUNNING = "not-running"
    ORPHANED = "orphaned"
    CLAIMED = "claimed"
    LOST_MAX_TAKEOVERS = "lost:max-takeovers"
    LOST_RUN_TIMEOUT = "lost:run-timeout"

    @property
    def lost(self) -> bool:
        """Whether the job was settled as ``RUNNER_LOST`` by this call."""
        return self.startswith("lost:")

    @property
    def why(self) -> str:
        """Why a lost run may not be taken over again (``max-takeovers``, ``run-timeout``)."""
        return self.partition(":")[2]


CancelOutcome = Literal["missing", "forbidden", "cancelled", "requested", "finished"]


@dataclass(frozen=True, slots=True)
class Claim:
    """The answer to a claim: the job as it now is, and whether this call claimed it (and so
    must run it)."""

    job: Job
    claimed: bool


def claim_of(reply: list[Any] | None) -> Claim | None:
    if reply is None:
        return None
    claimed, *flat = reply
    fields = dict(zip(flat[::2], flat[1::2], strict=True))
    return Claim(Job.from_hash(fields), bool(claimed))


def current_of(flat: list[str]) -> tuple[Job | None, bool]:
    """The current script's reply: the job (None: no record), and whether it was just lost."""
    declared = bool(flat) and flat[0].startswith("lost:")
    if declared:
        flat = flat[1:]
    fields = dict(zip(flat[::2], flat[1::2], strict=True))
    return (Job.from_hash(fields) if fields else None), declared


@dataclass(frozen=True, slots=True)
class Takeover:
    """What a takeover attempt found: ``verdict`` ``claimed`` (``job`` is now this instance's,
    under ``job.runner``; ``stored_id`` is the newest event stored), ``alive``,
    ``not-running`` or ``lost:<why>`` (settled as ``RUNNER_LOST``); ``previous`` the runner
    it had, ``handed_over`` whether that runner gave it up (a drain) rather than vanished."""

    verdict: LeaseVerdict
    previous: str = ""
    handed_over: bool = False
    job: Job | None = None
    stored_id: str = "0-0"
    owner: str = ""  # of a job settled as lost
