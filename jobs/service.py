"""The job service: the two phases (create, attach) and status, over store, log and runner.

This is what the HTTP routes call; it speaks in domain terms (owners, jobs, events) and raises
``jobs.errors``. Attaching decides, from one atomic claim, which of these a request is:

- the job is pending and the caller owns it: claim it, start the run here, stream it;
- it is running (here or elsewhere): join the stream, from ``Last-Event-ID`` if given;
- it has finished: replay after ``Last-Event-ID``, or 204 if that was the terminal event,
  or 410 without one;
- otherwise 404 (no such job) or 403 (not yours).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

from jobs.agents import AgentRegistry
from jobs.errors import JobFinished, JobNotFound, NotOwner
from jobs.events import (
    ERROR,
    START,
    EventLog,
    StoredEvent,
    check_event_id,
    dumps,
    error_payload,
    event_id_key,
)
from jobs.keys import check_job_id, new_job_id
from jobs.model import Job, JobStatus
from jobs.runner import Runner
from jobs.store import JobStore


@dataclass(slots=True)
class Attachment:
    """A stream to send: ``events`` ends after the terminal event. None items are idle ticks."""

    job_id: str
    status: JobStatus
    resumed: bool
    events: AsyncIterator[StoredEvent | None]


class JobService:
    def __init__(
        self, store: JobStore, events: EventLog, runner: Runner, agents: AgentRegistry
    ) -> None:
        self.store = store
        self.events = events
        self.runner = runner
        self.agents = agents

    async def create(self, owner: str, agent: str, raw_input: Any) -> Job:
        """Validate ``raw_input`` for ``agent`` and store a pending job for ``owner``."""
        agent_input = self.agents.validate(agent, raw_input)
        job = Job(
            id=new_job_id(),
            owner=owner,
            agent=agent,
            input=agent_input.model_dump(mode="json", by_alias=True, exclude_none=True),
        )
        await self.store.create(job)
        return job

    async def status(self, owner: str, job_id: str) -> Job:
        """The job as its owner may see it; a recent success is reported as ``completed``."""
        check_job_id(job_id)
        job = await self.store.get(job_id)
        if job is None:
            return await self._completed(owner, job_id)
        if job.owner != owner:
            raise NotOwner(job_id)
        return job

    async def attach(self, owner: str, job_id: str, last_event_id: str | None) -> Attachment | None:
        """Attach ``owner`` to the job's stream; None means "you have seen it all" (204)."""
        check_job_id(job_id)
        if last_event_id is not None:
            check_event_id(last_event_id)
        claim = await self.store.claim(job_id, owner, self.runner.instance_id)
        if claim is None:
            job = await self._completed(owner, job_id)
            return await self._replay(job, last_event_id)
        job, claimed = claim
        if job.owner != owner:
            raise NotOwner(job_id)
        if claimed:
            self.runner.start(job)
        elif job.status.finished:
            return await self._replay(job, last_event_id)
        return Attachment(
            job_id,
            job.status,
            resumed=last_event_id is not None,
            events=self._follow(job_id, last_event_id or START),
        )

    async def _completed(self, owner: str, job_id: str) -> Job:
        """A job whose record is gone: completed (its terminal event remains) or unknown."""
        tail = await self.events.last(job_id)
        if tail is None or not tail[0].terminal:
            raise JobNotFound(job_id)
        event, tail_owner = tail
        if tail_owner != owner:
            raise NotOwner(job_id)
        status = JobStatus.COMPLETED if event.event != ERROR else JobStatus.FAILED
        return Job(id=job_id, owner=owner, agent="", input={}, status=status)

    async def _replay(self, job: Job, last_event_id: str | None) -> Attachment | None:
        if last_event_id is None:
            raise JobFinished(job.id, job.status.value)
        tail = await self.events.last(job.id)
        if tail is None:  # the events outlived their grace period
            raise JobFinished(job.id, job.status.value)
        terminal, _ = tail
        assert terminal.id is not None
        if event_id_key(last_event_id) >= event_id_key(terminal.id):
            return None
        return Attachment(
            job.id, job.status, resumed=True, events=self._follow(job.id, last_event_id)
        )

    async def _follow(self, job_id: str, after_id: str) -> AsyncGenerator[StoredEvent | None, None]:
        """The job's events after ``after_id`` through the terminal one.

        From memory when the run is on this process; otherwise from the Redis Stream, checking
        on each idle tick that the run still exists, so that no reader waits forever on a run
        that ended without a stored terminal event.
        """
        channel = self.runner.channel(job_id)
        if channel is not None:
            async for event in channel.follow(after_id, idle_s=30.0):
                yield event
            return
        last_id = after_id
        async for event in self.events.follow(job_id, after_id):
            if event is None:
                if await self._running(job_id):
                    yield None
                    continue
                # Not running: its terminal event is stored by now, or it never will be.
                for late in await self.events.after(job_id, last_id):
                    yield late
                    if late.terminal:
                        return
                yield StoredEvent(None, ERROR, dumps(_lost()))
                return
            assert event.id is not None
            last_id = event.id
            yield event
            if event.terminal:
                return

    async def _running(self, job_id: str) -> bool:
        job = await self.store.get(job_id)
        return job is not None and job.status is JobStatus.RUNNING


def _lost() -> dict[str, Any]:
    return error_payload(
        "RUNNER_LOST", "the run ended without a result; start a new job", retryable=True
    )
