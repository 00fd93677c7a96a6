"""The job service: the two phases (create, attach), status and cancel, over the store, the
event log, the runner and the per-user limits.

This is what the HTTP routes call; it speaks in domain terms (owners, jobs, events) and raises
``jobs.errors``. Attaching decides, from one atomic claim, which of these a request is:

- the job is pending and the caller owns it: claim it, start the run here, stream it;
- it is running (here or elsewhere): join the stream, from ``Last-Event-ID`` if given;
- it has finished: replay after ``Last-Event-ID``, or 204 if that was the terminal event,
  or 410 without one;
- otherwise 404 (no such job) or 403 (not yours).

An open stream holds one of its owner's stream slots and a presence entry on the job (which
keeps the run from being abandoned); :class:`~jobs.delivery.open_streams.OpenStreams` refreshes both
while it is open and gives both back when it ends. A stream that tails Redis (the run is on another
instance) reads through the shared :class:`~jobs.delivery.tailer.Tailer` (a few connections for
every such stream) and checks the runner's lease whenever it waits a second without news: a dead
runner's job ends as ``RUNNER_LOST``.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from jobs import joblog, metrics, tracing
from jobs.agents import AgentRegistry
from jobs.delivery.channel import RunChannel
from jobs.delivery.eventlog import EventLog
from jobs.delivery.lease_checks import LeaseChecks
from jobs.delivery.open_streams import OpenStreams
from jobs.delivery.tailer import Tailer
from jobs.errors import (
    Cancelled,
    InvalidEventId,
    JobFinished,
    JobNotFound,
    NotOwner,
    RunnerLost,
    TooManyStreams,
)
from jobs.events import (
    START,
    ErrorCode,
    EventName,
    JobStatus,
    StoredEvent,
    dumps,
    event_id_key,
    is_event_id,
)
from jobs.record.custom_agents import CustomAgents
from jobs.record.limits import Limits
from jobs.record.listing import JobQuery, Position
from jobs.record.model import Job
from jobs.record.replies import Claim, LeaseVerdict
from jobs.record.store import JobStore
from jobs.redis.keys import check_job_id, new_job_id
from jobs.running.budgets import UserBudget
from jobs.running.lease import Leases, instance_of
from jobs.running.runner import Runner, log_runner_lost


@dataclass(slots=True)
class Attachment:
    """A stream to send: ``events`` ends after the terminal event. None items are idle ticks."""

    job_id: str
    status: JobStatus
    resumed: bool
    events: AsyncIterator[StoredEvent | None]


class JobService:
    def __init__(
        self,
        store: JobStore,
        events: EventLog,
        runner: Runner,
        agents: AgentRegistry,
        leases: Leases,
        limits: Limits,
        streams: OpenStreams,
        custom_agents: CustomAgents,
        tailer: Tailer,
        budget: UserBudget | None = None,
    ) -> None:
        self.budget = budget
        self.store = store
        self.events = events
        self.runner = runner
        self.agents = agents
        self.leases = leases
        self.limits = limits
        self.streams = streams
        self.custom_agents = custom_agents
        self.tailer = tailer
        self.lease_checks = LeaseChecks(store)

    @property
    def open_streams(self) -> int:
        return len(self.streams)

    def wake_all(self) -> None:
        """Wake every stream waiting on a run here (at shutdown, so each can end cleanly)."""
        self.runner.wake_channels()

    async def create(
        self, owner: str, agent: str, raw_input: Any, *, background: bool = False
    ) -> Job:
        """Validate ``raw_input`` for ``agent`` and store a pending job for ``owner``, with a
        snapshot of the owner's active custom agent for ``agent`` (editing the custom agent
        later never changes this job). A ``background`` job is claimed and started here at
        once (and returned running); its run is never abandoned for want of watchers.

        On a standalone Redis the rate limit and the new record, snapshot included, travel in
        one round trip. On a Redis Cluster the custom agent (in another slot) is read first:
        two. A refused creation's record is removed again (the rare path pays one more).
        With ``USER_TOKEN_BUDGET`` set, the owner's day of tokens is checked first (one more).
        """
        agent_input = self.agents.validate(agent, raw_input)
        if self.budget is not None:
            await self.budget.check(owner)
        job = Job(
            id=new_job_id(),
            owner=owner,
            agent=agent,
            input=agent_input.model_dump(mode="json", by_alias=True, exclude_none=True),
            trace=tracing.job_trace(),
            background=background,
        )
        check = self.limits.creation(owner, job.id)
        if self.store.cluster:
            job.custom_agent = await self.custom_agents.active(owner, agent)
            await self.store.create(job, check=check)
        else:  # the create script takes the snapshot itself
            key = self.custom_agents.keys.custom_agent(owner, agent)
            job.custom_agent = await self.store.create(job, check=check, custom_agent=key)
        metrics.job_created(agent)
        joblog.owner.set(owner)
        if background:
            return await self._start_now(job)
        return job

    async def _start_now(self, job: Job) -> Job:
        """Claim a background job for this instance and start its run, unwatched."""
        claim = await self.store.claim(job.id, job.owner, self.runner.instance_id)
        if claim is None or not claim.claimed:  # cancelled (or expired) in the meantime
            return claim.job if claim is not None else job
        self.runner.start(claim.job)
        return claim.job

    async def status(self, owner: str, job_id: str) -> Job:
        """The job as its owner may see it; a recent success is reported as ``completed``, a
        running job whose runner's lease has expired as ``failed`` (``RUNNER_LOST``)."""
        check_job_id(job_id)
        job, lost = await self.store.current(job_id, RunnerLost().payload())
        if lost and job is not None:
            why = "max-takeovers" if job.takeovers >= self.store.lifetimes.max_takeovers else ""
            log_runner_lost(job_id, job.owner, why or "run-timeout", job.runner or "")
            metrics.runner_lost(why or "run-timeout")
        if job is None:
            return await self._completed(owner, job_id)
        if job.owner != owner:
            raise NotOwner(job_id)
        joblog.owner.set(owner)
        return job

    async def page(self, owner: str, query: JobQuery) -> tuple[list[Job], Position | None]:
        """A page of ``owner``'s own jobs, newest first, and where the next page starts."""
        jobs, last, lost = await self.store.page(owner, query, RunnerLost().payload())
        for _ in range(lost):
            metrics.job_finished(JobStatus.FAILED, ErrorCode.RUNNER_LOST, "")
        return jobs, last

    async def cancel(self, owner: str, job_id: str) -> None:
        """Cancel ``owner``'s job, wherever it runs. Idempotent: a finished job stays as it is."""
        check_job_id(job_id)
        data = Cancelled().payload()
        outcome, detail = await self.store.cancel(job_id, owner, data)
        if outcome == "missing":
            await self._completed(owner, job_id)  # 404/403 unless a success of the caller's
        elif outcome == "forbidden":
            raise NotOwner(job_id)
        elif outcome == "cancelled":  # the detail is the job's agent
            metrics.job_finished(JobStatus.CANCELLED, ErrorCode.CANCELLED, detail)
            joblog.owner.set(owner)
            joblog.ended(
                job_id, owner, detail, JobStatus.CANCELLED, ErrorCode.CANCELLED,
                self.runner.instance_id,
            )  # fmt: skip
        elif outcome == "requested" and not (  # the detail is the job's runner
            instance_of(detail) == self.runner.instance_id
            and self.runner.cancel(job_id, Cancelled())
        ):
            await self.leases.inbox.request_cancel(instance_of(detail), job_id)

    async def attach(self, owner: str, job_id: str, last_event_id: str | None) -> Attachment | None:
        """Attach ``owner`` to the job's stream; None means "you have seen it all" (204).

        Taking the owner's stream slot, claiming the job and marking this stream present on it
        travel in one round trip; whatever was taken is given back if the attach then fails.
        """
        check_job_id(job_id)
        if last_event_id is not None and not is_event_id(last_event_id):
            raise InvalidEventId()
        stream_id = secrets.token_hex(8)
        slot = self.limits.open_stream(owner, stream_id)
        runner = "" if self.runner.draining else self.runner.instance_id
        try:
            claim = await self.store.claim(job_id, owner, runner, stream_id, check=slot)
        except TooManyStreams:
            await self._release(owner, job_id, stream_id)
            raise
        if claim is not None and _left_pending(claim, owner):
            # Draining: no run starts here. The stream ends at once, cleanly: the client
            # reconnects (the load balancer no longer sends it here) and the job starts there.
            await self._release(owner, job_id, stream_id)
            resumed = last_event_id is not None
            return Attachment(job_id, JobStatus.PENDING, resumed, _no_events())
        channel = None
        if claim is not None and claim.job.owner == owner:
            joblog.owner.set(owner)  # before the run starts: its task inherits it
        if claim is not None and claim.claimed:
            channel = self.runner.start(claim.job)
        try:
            attachment = await self._attach(owner, job_id, last_event_id, stream_id, claim, channel)
        except BaseException:
            await self._release(owner, job_id, stream_id)
            raise
        if attachment is None:
            await self._release(owner, job_id, stream_id)
        return attachment

    async def _release(self, owner: str, job_id: str, stream_id: str) -> None:
        await self.streams.release(stream_id, job_id, owner)

    async def _attach(
        self,
        owner: str,
        job_id: str,
        last_event_id: str | None,
        stream_id: str,
        claim: Claim | None,
        channel: RunChannel | None,
    ) -> Attachment | None:
        if claim is None:
            job, terminal = await self._completed_with_terminal(owner, job_id)
            return await self._replay(job, last_event_id, owner, stream_id, terminal)
        job = claim.job
        if job.owner != owner:
            raise NotOwner(job_id)
        if job.status.finished:
            return await self._replay(job, last_event_id, owner, stream_id)
        # A run claimed here brought its channel; one joined may be running here too.
        channel = channel or self.runner.channel(job_id)
        events = self._follow(job_id, last_event_id or START, owner, stream_id, channel)
        return Attachment(job_id, job.status, resumed=last_event_id is not None, events=events)

    async def _completed(self, owner: str, job_id: str) -> Job:
        """A job whose record is gone: completed (its terminal event remains) or unknown."""
        job, _ = await self._completed_with_terminal(owner, job_id)
        return job

    async def _completed_with_terminal(self, owner: str, job_id: str) -> tuple[Job, StoredEvent]:
        tail = await self.events.last(job_id)
        if tail is None or not tail[0].terminal:
            raise JobNotFound(job_id)
        event, tail_owner = tail
        if tail_owner != owner:
            raise NotOwner(job_id)
        # The record is gone; what the terminal event says of the job is all there is.
        payload = event.payload()
        job = Job(
            id=job_id,
            owner=owner,
            agent="",
            input={},
            status=event.status,
            custom_agent=payload.get("customAgent"),
        )
        if event.event == EventName.COMPLETE:
            job.complete = payload
        else:
            job.error = payload
        return job, event

    async def _replay(
        self,
        job: Job,
        last_event_id: str | None,
        owner: str,
        stream_id: str,
        terminal: StoredEvent | None = None,
    ) -> Attachment | None:
        """Replay a finished job after ``last_event_id``; ``terminal`` is its last event when
        the caller already read it."""
        if last_event_id is None:
            raise JobFinished(job.id, job.status.value)
        if terminal is None:
            tail = await self.events.last(job.id)
            if tail is None:  # the events outlived their grace period
                raise JobFinished(job.id, job.status.value)
            terminal = tail[0]
        assert terminal.id is not None
        if event_id_key(last_event_id) >= event_id_key(terminal.id):
            return None
        events = self._follow(job.id, last_event_id, owner, stream_id, None)
        return Attachment(job.id, job.status, resumed=True, events=events)

    async def _follow(
        self, job_id: str, after_id: str, owner: str, stream_id: str, channel: RunChannel | None
    ) -> AsyncGenerator[StoredEvent | None, None]:
        """The job's events after ``after_id`` through the terminal one; the stream's slot and
        presence are kept fresh by :class:`~jobs.delivery.open_streams.OpenStreams` and given back
        however the stream ends."""
        self.streams.add(stream_id, job_id, owner)
        metrics.stream_opened()
        last: StoredEvent | None = None
        try:
            source = channel.follow(after_id) if channel else self._tail(job_id, after_id, owner)
            async with aclosing(source):  # a tail's subscription ends with the stream
                async for last in source:
                    yield last
        finally:
            metrics.stream_closed()
            # Delivered the stored terminal event: settling the job dropped the presence.
            settled = last is not None and last.terminal and last.id is not None
            await self.streams.release(stream_id, job_id, owner, settled=settled)

    async def _tail(
        self, job_id: str, after_id: str, owner: str
    ) -> AsyncGenerator[StoredEvent | None, None]:
        """The events of a run elsewhere (or finished), from the Redis Stream, checking on
        each idle tick that a runner still holds the job's lease."""
        last_id = after_id
        async with aclosing(self.tailer.follow(job_id, after_id)) as events:
            async for event in events:
                if event is None:
                    verdict = await self.lease_checks.verdict(job_id)
                    if verdict.lost:
                        log_runner_lost(job_id, owner, verdict.why, "")
                        metrics.runner_lost(verdict.why)
                    elif verdict is LeaseVerdict.ORPHANED:
                        self.runner.adopt(job_id)  # this instance has a reader: it may take over
                    if verdict is not LeaseVerdict.NOT_RUNNING:
                        # alive or orphaned: keep waiting; lost: its terminal event comes next
                        yield None
                        continue
                    # Not running: its terminal event is stored by now, or it never will be.
                    for late in await self.events.after(job_id, last_id):
                        yield late
                        if late.terminal:
                            return
                    yield StoredEvent.unstored(EventName.ERROR, dumps(RunnerLost().payload()))
                    return
                assert event.id is not None
                last_id = event.id
                yield event
                if event.terminal:
                    return


def _left_pending(claim: Claim, owner: str) -> bool:
    """Whether a claim of the owner's pending job took nothing (this instance is draining)."""
    job = claim.job
    return not claim.claimed and job.owner == owner and job.status == JobStatus.PENDING


async def _no_events() -> AsyncGenerator[StoredEvent | None, None]:
    return
    yield  # an async generator that ends at once
