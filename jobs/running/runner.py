"""Running agents: one task per job, owned by the process rather than by any HTTP response.

A run outlives the connection that started it: clients may drop and resume (here or on another
instance) while the task keeps writing events to the job's stream. Each run (its one record
is :class:`~jobs.running.pipeline.Run`; its steps 1 and 2 are
:class:`~jobs.running.pipeline.RunPipeline`):

1. runs the agent loop (:mod:`jobs.running.loop`: model calls and tool calls) and streams its
   output through the lossless :class:`~jobs.delivery.coalescer.Throttle`, queueing each flush as a
   ``delta`` event with the :class:`~jobs.delivery.writer.EventWriter`, which stores it and then
   publishes it to this process's readers; each tool call's start and end is a ``tool``
   event, queued after the throttle is flushed, so the stream keeps the run's order;
2. turns the full output into the agent's result, and stores ``complete`` (with the stop
   reason: a ``max_tokens`` stop is reported, not hidden); or, on any failure, stores
   ``error`` with a code (``RUN_TIMEOUT_S`` → ``TIMEOUT``, bad output → ``OUTPUT_INVALID``,
   naming the stop reason when the model stopped early, a provider failure → its
   ``UPSTREAM_*`` code, anything else → ``AGENT_ERROR``).

Alongside the runs, :mod:`jobs.running.supervision` keeps this instance honest towards the others:
it renews the leases of the runs here, stops the cancelled, abandoned or superseded ones,
reads this instance's inbox, and sweeps for runs elsewhere whose lease lapsed, which this
runner then takes over (:meth:`Runner.take_over`).

A run taken over continues from its journal (:mod:`jobs.running.journal`): the output so far, the
steps done, the tool results stored (never run again); the interrupted model step is
continued after its text where the backend can (``continues``), or cut back with a stored
``rewind`` and asked again. Its runner name is new (``<instance>#<k>``), so the old runner's
writes stay fenced off. After a drain, runs still going are handed over (their lease given
up at once, nothing stored); without a drain (``SHUTDOWN_GRACE_S``) they end with a
retryable ``SHUTDOWN`` error.

Every exit path ends in exactly one terminal event (the store refuses a second), the backend's
stream is closed on every exit path, and every local reader is told how the run ended. A run
whose write is refused (:class:`~jobs.errors.Fenced`: the job was ended elsewhere, or its lease
lapsed while this process was frozen) stops at once and stores nothing more; its readers get
whatever ending the store holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from jobs import joblog, metrics, tracing
from jobs.agents import AgentRegistry
from jobs.delivery.channel import RunChannel
from jobs.delivery.eventlog import EventLog
from jobs.delivery.writer import EventWriter
from jobs.errors import (
    AgentFailed,
    Fenced,
    RunError,
    RunnerLost,
    Shutdown,
    StoreLost,
    StoreUnavailable,
)
from jobs.events import (
    ErrorCode,
    EventName,
    JobStatus,
    StoredEvent,
    dumps,
    now_ms,
)
from jobs.lifecycle import Lifecycle
from jobs.record.model import Job
from jobs.record.replies import LeaseVerdict, Takeover
from jobs.record.store import JobStore
from jobs.running.budgets import UserBudget
from jobs.running.lease import Leases
from jobs.running.pipeline import Run, RunLimits, RunPipeline, unstored
from jobs.running.prices import DEFAULT_TABLE, PriceTable
from jobs.running.supervision import Supervisor

# The logger keeps its name from before the module moved (operators' filters use it).
logger = logging.getLogger("jobs.runner")


class Runner(Lifecycle):
    """Starts and owns this process's runs. ``open`` starts its loops; ``aclose`` ends all.
    An async context manager: ``async with Runner(...)`` opens and closes it."""

    def __init__(
        self,
        store: JobStore,
        events: EventLog,
        agents: AgentRegistry,
        leases: Leases,
        limits: RunLimits,
        *,
        instance_id: str,
        prices: PriceTable = DEFAULT_TABLE,
        budget: UserBudget | None = None,
    ) -> None:
        # A runner that cannot store for a lease's length has lost its lease in any case.
        self.writer = EventWriter(events, runner=instance_id, retry_for_s=leases.lease_ttl_s)
        self.store = store
        self.events = events
        self.agents = agents
        self.leases = leases
        self.limits = limits
        self.instance_id = instance_id
        self.pipeline = RunPipeline(
            self.writer, store, events, agents, leases, limits, prices, budget
        )
        self.runs: dict[str, Run] = {}
        self._adopting: set[str] = set()
        self._attempts: set[asyncio.Task[None]] = set()
        self._supervisor: Supervisor | None = None
        #: Set by :meth:`drain`: this instance starts no more runs.
        self.draining = False

    def channel(self, job_id: str) -> RunChannel | None:
        """The channel of a run in progress on this process, if a new reader may follow it
        (not a run taken over: its channel lacks the events stored before)."""
        run = self.runs.get(job_id)
        return run.channel if run is not None and run.takeover is None else None

    @property
    def active(self) -> int:
        return len(self.runs)

    def wake_channels(self) -> None:
        """Wake every local reader (each gets an idle tick and may check on shutdown)."""
        for run in self.runs.values():
            run.channel.wake()

    async def open(self) -> None:
        """Start storing events and the supervision loops (leases, inbox, takeover sweep)."""
        self.writer.open()
        self._supervisor = Supervisor(self)
        self._supervisor.open()

    def start(self, job: Job, takeover: Takeover | None = None) -> RunChannel:
        """Start running ``job`` (claimed by this instance: by an attach, or ``takeover``)
        and return its channel."""
        if job.id in self.runs:
            raise RuntimeError(f"job {job.id} is already running here")
        runner = job.runner if takeover is not None and job.runner else self.instance_id
        run = Run(job, runner, RunChannel(job.id), takeover)
        self.runs[job.id] = run
        stored_id = takeover.stored_id if takeover is not None else "0-0"
        self.writer.begin(job.id, run.channel, runner=runner, after_id=stored_id)
        run.task = asyncio.create_task(
            tracing.within_run(job, self._run(run)), name=f"run-{job.id}"
        )
        run.task.add_done_callback(lambda _: self._forget(job.id))
        metrics.run_started()
        logger.info("run started", extra={"job_id": job.id, "agent": job.agent})
        return run.channel

    def cancel(self, job_id: str, ending: RunError) -> bool:
        """Stop the run of ``job_id`` here with ``ending`` as its error; False if not here."""
        run = self.runs.get(job_id)
        if run is None or run.task is None or run.stopping:
            return False
        run.ending = ending
        run.task.cancel()
        return True

    def leave(self, job_id: str, why: str) -> bool:
        """Stop the run of ``job_id`` here without storing anything (``handover``: give its
        lease up for a live instance; ``superseded``: its lease is gone)."""
        run = self.runs.get(job_id)
        if run is None or run.task is None or run.stopping:
            return False
        run.leaving = why
        run.task.cancel()
        return True

    def adopt(self, job_id: str) -> None:
        """Try to take over ``job_id`` soon (a reader here found its lease lapsed)."""
        if self.draining or job_id in self.runs or job_id in self._adopting:
            return
        attempt = asyncio.create_task(self.take_over(job_id), name=f"adopt-{job_id}")
        self._attempts.add(attempt)
        attempt.add_done_callback(self._attempts.discard)

    async def take_over(self, job_id: str) -> None:
        """Claim the run of ``job_id`` if its lease lapsed and start it here from its
        journal; or end it as ``RUNNER_LOST`` if it may not be taken over again."""
        if self.draining or job_id in self.runs or job_id in self._adopting:
            return
        self._adopting.add(job_id)
        try:
            taken = await self.store.take_over(job_id, self.instance_id, RunnerLost().payload())
        except StoreUnavailable:
            return
        finally:
            self._adopting.discard(job_id)
        verdict = taken.verdict
        if verdict is LeaseVerdict.CLAIMED and taken.job is not None:
            reason = "handover" if taken.handed_over else "lease-lapsed"
            job = taken.job
            logger.warning(
                "run taken over: job %s of %s, reason %s, runner %s -> %s",
                job.id, job.owner, reason, taken.previous, job.runner,
                extra={"job_id": job.id, "owner": job.owner, "reason": reason,
                       "old_runner": taken.previous, "runner": job.runner},
            )  # fmt: skip
            metrics.takeover(reason)
            self.start(job, taken)
        elif verdict.lost:
            log_runner_lost(job_id, taken.owner, verdict.why, taken.previous)
            metrics.runner_lost(verdict.why)
        if verdict.lost or verdict is LeaseVerdict.NOT_RUNNING:
            with contextlib.suppress(StoreUnavailable):
                await self.leases.forget([job_id])

    def drain(self) -> None:
        """Start no more runs here (the service stops claiming); the runs here go on."""
        self.draining = True

    async def drained(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the runs here to end; whether they all did."""
        tasks = [run.task for run in self.runs.values() if run.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)
        return not self.runs

    async def aclose(self) -> None:
        """Give runs ``shutdown_grace_s`` to finish, then end the rest with ``SHUTDOWN``; after
        a drain (they had theirs), hand the rest over at once."""
        tasks = [run.task for run in self.runs.values() if run.task is not None]
        if tasks and not self.draining:
            await asyncio.wait(tasks, timeout=self.limits.shutdown_grace_s)
        remaining = [run for run in self.runs.values() if run.task is not None]
        for run in remaining:
            if self.draining:
                self.leave(run.job.id, "handover")
            elif run.task is not None:
                run.task.cancel()
        if remaining:
            await asyncio.wait([run.task for run in remaining if run.task], timeout=5)
        for attempt in list(self._attempts):
            attempt.cancel()
        if self._supervisor is not None:
            await self._supervisor.aclose()
        await self.writer.aclose()

    def _forget(self, job_id: str) -> None:
        metrics.run_stopped()
        self.runs.pop(job_id, None)

    async def _run(self, run: Run) -> None:
        """The run task. Its ending (stored, or not when the store failed) is published to
        this process's readers here and only here, however the run ends."""
        job, channel = run.job, run.channel
        ending: StoredEvent | None = None
        try:
            ending = await self.pipeline.complete(run)
        except asyncio.CancelledError:
            error = run.ending
            if run.leaving is not None:
                ending = await self._leave(run)
                _uncancel()
            elif error is None:  # not asked by us: the process is shutting down
                ending = await self._fail(run, Shutdown())
                raise
            else:
                _uncancel()
                ending = await self._fail(run, error)
        except RunError as exc:
            ending = await self._fail(run, exc)
        except StoreUnavailable as exc:
            ending = await self._fail(run, StoreLost(str(exc)))
        except Fenced:
            ending = await self._fenced(run)
        except Exception:
            logger.exception("run failed", extra={"job_id": job.id})
            ending = await self._fail(run, AgentFailed("the agent failed unexpectedly"))
        finally:
            self.writer.forget(job.id)  # what could not be stored is never published
            channel.publish(ending or unstored(AgentFailed("the run ended unexpectedly")))

    async def _leave(self, run: Run) -> StoredEvent:
        """End a run here without storing anything: handed over (its lease given up and its
        deadline now, so that a live instance takes it over at its next sweep) or
        superseded. Readers here get an unstored ``STORE_UNAVAILABLE`` error: they resume,
        elsewhere, from the stored events."""
        job = run.job
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(self.pipeline.stored(job.id), 5)
        if run.leaving == "handover":
            with contextlib.suppress(Exception):
                if await self.store.hand_over(job.id, run.runner):
                    await self.leases.index(job.id, deadline_ms=now_ms())
            logger.info("run handed over", extra={"job_id": job.id, "runner": run.runner})
        else:
            logger.warning("run superseded: its lease lapsed", extra={"job_id": job.id})
        try:  # a run settled meanwhile (declared lost, cancelled) has its stored ending
            return await self.pipeline.ending_stored_elsewhere(job)
        except Exception:
            return unstored(StoreLost("the run moved to another instance"))

    async def _fail(self, run: Run, error: RunError) -> StoredEvent:
        """Store the terminal ``error`` and settle the job; return the ending (unstored if the
        store could not take it). Never raises: every reader must learn how the run ended."""
        job = run.job
        data = error.payload()
        status = error.status
        # The terminal event goes after every delta the run queued (or failed to store).
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(self.pipeline.stored(job.id), 5)
        stored = None
        try:
            stored = await asyncio.shield(
                self.store.finish(job, run.runner, EventName.ERROR, data, status)
            )
            event = stored or await self.pipeline.ending_stored_elsewhere(job)
            if stored is not None:
                await asyncio.shield(self.leases.forget([job.id]))
        except (Exception, asyncio.CancelledError) as exc:
            # Redis is gone, refused the write, or we are torn down: readers here still learn
            # how it ended.
            if not isinstance(exc, StoreUnavailable | asyncio.CancelledError):
                logger.exception("storing the run's ending failed", extra={"job_id": job.id})
            event = StoredEvent.unstored(EventName.ERROR, dumps(data))
        metrics.run_ended(job, status, error.code, stored=stored is not None)
        logger.info("run ended with %s", error.code, extra={"job_id": job.id, "code": error.code})
        if stored is not None:
            joblog.ended(job.id, job.owner, job.agent, status, error.code, run.runner)
        return event

    async def _fenced(self, run: Run) -> StoredEvent:
        """The ending of a run whose append was refused: whatever the store holds. A lease
        that merely expired is left for a live instance to take over, or, when the run may
        not be taken over again, settled as ``RUNNER_LOST`` here, once, by the same script
        readers use. Readers here of a run that goes on elsewhere get an unstored
        ``STORE_UNAVAILABLE`` error: they resume, and follow it."""
        job = run.job
        logger.warning("run stopped: the job is no longer its own", extra={"job_id": job.id})
        lost = RunnerLost("the run lost its lease and was stopped")
        verdict: LeaseVerdict | None = None
        try:
            verdict = await self.store.declare_lost(job.id, lost.payload())
            return await self.pipeline.ending_stored_elsewhere(job)
        except StoreUnavailable as exc:
            return unstored(StoreLost(str(exc)))
        finally:
            if verdict is not None and verdict.lost:
                log_runner_lost(job.id, job.owner, verdict.why, run.runner)
                metrics.runner_lost(verdict.why)
            metrics.run_ended(job, JobStatus.FAILED, lost.code, stored=False)


def log_runner_lost(job_id: str, owner: str, why: str, runner: str) -> None:
    """The one line for a run ended as ``RUNNER_LOST``, by the instance that decided it."""
    logger.warning(
        "run lost: job %s of %s, RUNNER_LOST (%s), runner %s",
        job_id, owner or "?", why, runner or "?",
        extra={"job_id": job_id, "owner": owner, "code": ErrorCode.RUNNER_LOST.value,
               "reason": why, "runner": runner},
    )  # fmt: skip


def _uncancel() -> None:
    current = asyncio.current_task()
    if current is not None:
        current.uncancel()


__all__ = ["Run", "RunLimits", "Runner", "log_runner_lost"]
