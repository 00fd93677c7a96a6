"""Running agents: one task per job, owned by the process rather than by any HTTP response.

A run outlives the connection that started it: clients may drop and resume (here or on another
instance) while the task keeps writing events to the job's stream. Each run:

1. runs the agent loop (:mod:`jobs.loop`: model calls and tool calls) and streams its
   output through the lossless :class:`~jobs.coalescer.Throttle`, queueing each flush as a
   ``delta`` event with the :class:`~jobs.writer.EventWriter`, which stores it and then
   publishes it to this process's readers; each tool call's start and end is a ``tool``
   event, queued after the throttle is flushed, so the stream keeps the run's order;
2. turns the full output into the agent's result, and stores ``complete`` (with the stop
   reason: a ``max_tokens`` stop is reported, not hidden); or, on any failure, stores
   ``error`` with a code (``RUN_TIMEOUT_S`` → ``TIMEOUT``, bad output → ``OUTPUT_INVALID``,
   naming the stop reason when the model stopped early, a provider failure → its
   ``UPSTREAM_*`` code, anything else → ``AGENT_ERROR``).

Alongside the runs, two loops keep this instance honest towards the others
(see :mod:`jobs.lease`): one renews the leases of all runs here and stops those whose owner
cancelled them (``CANCELLED``), that nobody has watched for ``ABANDON_AFTER_S``
(``ABANDONED``), or whose lease was lost; the other takes cancel requests from this
instance's inbox. At shutdown, runs get ``SHUTDOWN_GRACE_S`` to finish, then end with a
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
import time
from dataclasses import dataclass
from typing import Any

from jobs import metrics
from jobs.agents import AgentRegistry
from jobs.backends import TextDelta
from jobs.channel import RunChannel
from jobs.coalescer import Throttle
from jobs.custom_agents import custom_agent_ref
from jobs.errors import (
    Abandoned,
    AgentFailed,
    Cancelled,
    Fenced,
    OutputInvalid,
    RunError,
    RunnerLost,
    RunTimeout,
    Shutdown,
    StoreLost,
    StoreUnavailable,
)
from jobs.eventlog import EventLog
from jobs.events import (
    Event,
    JobStatus,
    StoredEvent,
    delta_payload,
    dumps,
    now_ms,
    tool_call_payload,
    tool_result_payload,
)
from jobs.lease import Leases
from jobs.loop import AgentLoop, Outcome, ToolCall, ToolDone
from jobs.model import Job
from jobs.store import JobStore
from jobs.writer import EventWriter

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunLimits:
    throttle_ms: int  # STREAM_THROTTLE_MS
    run_timeout_s: float  # RUN_TIMEOUT_S
    abandon_after_s: float = 30  # ABANDON_AFTER_S
    shutdown_grace_s: float = 10  # SHUTDOWN_GRACE_S
    max_steps: int = 8  # AGENT_MAX_STEPS


class Runner:
    """Starts and owns this process's runs. ``open`` starts its loops; ``aclose`` ends all."""

    def __init__(
        self,
        store: JobStore,
        events: EventLog,
        agents: AgentRegistry,
        leases: Leases,
        limits: RunLimits,
        *,
        instance_id: str,
    ) -> None:
        # A runner that cannot store for a lease's length has lost its lease in any case.
        self.writer = EventWriter(events, runner=instance_id, retry_for_s=leases.lease_ttl_s)
        self.store = store
        self.events = events
        self.agents = agents
        self.leases = leases
        self.limits = limits
        self.instance_id = instance_id
        self._channels: dict[str, RunChannel] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._endings: dict[str, RunError] = {}
        self._watched_at: dict[str, float] = {}
        self._loops: list[asyncio.Task[None]] = []
        #: Set by :meth:`drain`: this instance starts no more runs.
        self.draining = False

    def channel(self, job_id: str) -> RunChannel | None:
        """The channel of a run in progress on this process, if there is one."""
        return self._channels.get(job_id)

    @property
    def active(self) -> int:
        return len(self._tasks)

    def wake_channels(self) -> None:
        """Wake every local reader (each gets an idle tick and may check on shutdown)."""
        for channel in self._channels.values():
            channel.wake()

    async def open(self) -> None:
        """Start storing events, renewing leases and reading this instance's inbox."""
        self.writer.open()
        self._loops = [
            asyncio.create_task(self._keep_leases(), name="runner-leases"),
            asyncio.create_task(self._read_inbox(), name="runner-inbox"),
        ]

    def start(self, job: Job) -> RunChannel:
        """Start running ``job`` (already claimed by this instance) and return its channel."""
        if job.id in self._tasks:
            raise RuntimeError(f"job {job.id} is already running here")
        channel = RunChannel(job.id)
        self._channels[job.id] = channel
        self._watched_at[job.id] = time.monotonic()
        task = asyncio.create_task(self._run(job, channel), name=f"run-{job.id}")
        self._tasks[job.id] = task
        task.add_done_callback(lambda _: self._forget(job.id))
        metrics.run_started()
        logger.info("run started", extra={"job_id": job.id, "agent": job.agent})
        return channel

    def cancel(self, job_id: str, ending: RunError) -> bool:
        """Stop the run of ``job_id`` here with ``ending`` as its error; False if not here."""
        task = self._tasks.get(job_id)
        if task is None or job_id in self._endings:
            return False
        self._endings[job_id] = ending
        task.cancel()
        return True

    def drain(self) -> None:
        """Start no more runs here (the service stops claiming); the runs here go on."""
        self.draining = True

    async def drained(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the runs here to end; whether they all did."""
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()), timeout=timeout_s)
        return not self._tasks

    async def aclose(self) -> None:
        """Give runs ``shutdown_grace_s`` to finish (none after a drain: they had theirs),
        then end the rest with ``SHUTDOWN``."""
        if self._tasks and not self.draining:
            await asyncio.wait(list(self._tasks.values()), timeout=self.limits.shutdown_grace_s)
        remaining = list(self._tasks.values())
        for task in remaining:
            task.cancel()
        if remaining:
            await asyncio.wait(remaining, timeout=5)
        for loop in self._loops:
            loop.cancel()
        if self._loops:
            await asyncio.wait(self._loops, timeout=5)
        await self.writer.aclose()

    def _forget(self, job_id: str) -> None:
        metrics.run_stopped()
        registries = (
            self._tasks,
            self._channels,
            self._endings,
            self._watched_at,
        )
        for registry in registries:
            registry.pop(job_id, None)

    async def _keep_leases(self) -> None:
        while True:
            await asyncio.sleep(self.leases.renew_every_s)
            try:
                await self._renew_leases()
            except StoreUnavailable:
                logger.warning("could not renew leases: Redis is unavailable")
            except Exception:
                logger.exception("lease renewal failed")

    async def _renew_leases(self) -> None:
        states = await self.leases.renew(self.instance_id, list(self._tasks))
        now = time.monotonic()
        for job_id, state in states.items():
            if not state.held:
                self.cancel(job_id, RunnerLost("the run lost its lease and was ended elsewhere"))
            elif state.cancel_requested:
                self.cancel(job_id, Cancelled())
            elif state.readers:
                self._watched_at[job_id] = now
            elif now - self._watched_at.get(job_id, now) >= self.limits.abandon_after_s:
                self.cancel(job_id, Abandoned(self.limits.abandon_after_s))

    async def _read_inbox(self) -> None:
        while True:
            try:
                # Short waits: redis-py may finish a blocking command before honouring a
                # cancellation, and shutdown should not wait long for this loop.
                job_id = await self.leases.next_request(self.instance_id, timeout_s=1)
            except StoreUnavailable:
                await asyncio.sleep(1)
                continue
            except Exception:
                logger.exception("reading the inbox failed")
                await asyncio.sleep(1)
                continue
            if job_id is not None and self.cancel(job_id, Cancelled()):
                logger.info("cancel requested", extra={"job_id": job_id})

    async def _run(self, job: Job, channel: RunChannel) -> None:
        """The run task. Its ending (stored, or not when the store failed) is published to
        this process's readers here and only here, however the run ends."""
        ending: StoredEvent | None = None
        try:
            ending = await self._complete(job, channel)
        except asyncio.CancelledError:
            error = self._endings.get(job.id)
            if error is None:  # not asked by us: the process is shutting down
                ending = await self._fail(job, Shutdown())
                raise
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            ending = await self._fail(job, error)
        except RunError as exc:
            ending = await self._fail(job, exc)
        except StoreUnavailable as exc:
            ending = await self._fail(job, StoreLost(str(exc)))
        except Fenced:
            ending = await self._fenced(job)
        except Exception:
            logger.exception("run failed", extra={"job_id": job.id})
            ending = await self._fail(job, AgentFailed("the agent failed unexpectedly"))
        finally:
            self.writer.forget(job.id)  # what could not be stored is never published
            channel.publish(ending or _unstored(AgentFailed("the run ended unexpectedly")))

    async def _complete(self, job: Job, channel: RunChannel) -> StoredEvent:
        """Stream the run, build the result, store ``complete``; raise on any failure."""
        started = time.monotonic()
        output, outcome = await self._stream(job, channel)
        completion = outcome.completion
        usage = completion.usage
        metrics.tokens(completion.model, usage.input_tokens, usage.output_tokens)
        try:
            # The answer is the final step's text; earlier steps' text led up to it.
            agent = self.agents.get(job.agent)
            result = agent.result(outcome.text, files_read=outcome.files_read)
        except OutputInvalid as exc:
            if completion.cut_short:
                # Say why the output is incomplete: a truncated document is not a model bug.
                raise OutputInvalid(
                    f"{exc.message}: the model stopped early "
                    f"(stop reason {completion.stop_reason!r})"
                ) from exc
            raise
        data = {
            "result": result,
            "totalLength": len(output),
            "tokenUsage": completion.usage.to_event(),
            "executionTimeMs": round((time.monotonic() - started) * 1000),
            "model": completion.model,
            "stopReason": completion.stop_reason,
            "steps": outcome.steps,
            "toolCalls": outcome.tool_calls,
            "timestamp": now_ms(),
        }
        if job.custom_agent is not None:
            data["customAgent"] = custom_agent_ref(job.custom_agent)
        event = await self.store.finish(
            job, self.instance_id, Event.COMPLETE, data, JobStatus.COMPLETED
        )
        metrics.run_ended(job, JobStatus.COMPLETED, None, stored=event is not None)
        logger.info(
            "run completed",
            extra={"job_id": job.id, "upstream_request_id": completion.request_id},
        )
        return event or await self._ending_stored_elsewhere(job)

    async def _stream(self, job: Job, channel: RunChannel) -> tuple[str, Outcome]:
        """Run the agent loop, queueing coalesced deltas and tool events; return the full
        output and the outcome once every event is stored."""
        agent_input = self.agents.restore(job.agent, job.input)
        request = self.agents.request(job.agent, agent_input, job.custom_agent)
        loop = AgentLoop(self.agents.backend, self.agents.toolbox, max_steps=self.limits.max_steps)
        source = loop.run(request, self.agents.tools(job.agent, job.custom_agent))
        ending: list[Outcome] = []
        parts: list[str] = []
        total = 0

        def write(event: Event, data: dict[str, Any]) -> None:
            self.writer.submit(job.id, event, dumps(data), channel=channel)

        def emit(text: str) -> None:
            nonlocal total
            parts.append(text)
            total += len(text)
            write(Event.DELTA, delta_payload(text, total))

        throttle = Throttle(self.limits.throttle_ms / 1000, emit)
        deadline = asyncio.timeout(self.limits.run_timeout_s)
        try:
            async with deadline:
                try:
                    async for item in source:
                        if isinstance(item, TextDelta):
                            throttle.add(item.text)
                        elif isinstance(item, ToolCall | ToolDone):
                            throttle.flush()  # the deltas written before a step come first
                            write(Event.TOOL, _tool_payload(item))
                        else:
                            ending.append(item)
                        self.writer.check(job.id)  # raises if the run can store no more
                        if job.id in self._endings:
                            # Asked to end, yet still here: the cancel was lost in an await
                            # below (Python 3.11's asyncio.wait_for, which redis-py and others
                            # use, drops a cancel that lands as its inner step ends).
                            raise asyncio.CancelledError
                finally:
                    throttle.close()  # what is buffered goes out, failure or not
                await self._stored(job.id)
        except TimeoutError as exc:
            if deadline.expired():
                raise RunTimeout(
                    f"the run took longer than RUN_TIMEOUT_S ({self.limits.run_timeout_s:g} s)"
                ) from exc
            raise
        finally:
            await source.aclose()
        if not ending:
            raise AgentFailed("the backend ended without a completion")
        return "".join(parts), ending[0]

    async def _stored(self, job_id: str) -> None:
        """Wait until every event the run queued is stored; raises if they cannot be."""
        await self.writer.flushed(job_id)

    async def _fail(self, job: Job, error: RunError) -> StoredEvent:
        """Store the terminal ``error`` and settle the job; return the ending (unstored if the
        store could not take it). Never raises: every reader must learn how the run ended."""
        data = error.payload()
        status = error.status
        # The terminal event goes after every delta the run queued (or failed to store).
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(self._stored(job.id), 5)
        stored = None
        try:
            stored = await asyncio.shield(
                self.store.finish(job, self.instance_id, Event.ERROR, data, status)
            )
            event = stored or await self._ending_stored_elsewhere(job)
        except (Exception, asyncio.CancelledError) as exc:
            # Redis is gone, refused the write, or we are torn down: readers here still learn
            # how it ended.
            if not isinstance(exc, StoreUnavailable | asyncio.CancelledError):
                logger.exception("storing the run's ending failed", extra={"job_id": job.id})
            event = StoredEvent(None, Event.ERROR, dumps(data))
        metrics.run_ended(job, status, error.code, stored=stored is not None)
        logger.info("run ended with %s", error.code, extra={"job_id": job.id, "code": error.code})
        return event

    async def _ending_stored_elsewhere(self, job: Job) -> StoredEvent:
        """The terminal event someone else stored (a cancel, a RUNNER_LOST verdict). Settling
        a job always stores its terminal event, so a job that is no longer ours and has none
        was lost by the store itself (a Redis that restarted empty)."""
        tail = await self.events.last(job.id)
        if tail is not None and tail[0].terminal:
            return tail[0]
        return _unstored(StoreLost("the job is no longer in the job store"))

    async def _fenced(self, job: Job) -> StoredEvent:
        """The ending of a run whose append was refused: whatever the store holds. A lease
        that merely expired (nobody declared the run lost yet) is settled as ``RUNNER_LOST``
        here, once, by the same script readers use."""
        logger.warning("run stopped: the job is no longer its own", extra={"job_id": job.id})
        lost = RunnerLost("the run lost its lease and was stopped")
        verdict = "unknown"
        try:
            verdict = await self.store.declare_lost(job.id, lost.payload())
            return await self._ending_stored_elsewhere(job)
        except StoreUnavailable as exc:
            return _unstored(StoreLost(str(exc)))
        finally:
            metrics.run_ended(job, JobStatus.FAILED, lost.code, stored=verdict == "lost")


def _tool_payload(item: ToolCall | ToolDone) -> dict[str, Any]:
    use = item.use
    if isinstance(item, ToolCall):
        return tool_call_payload(use.id, use.name, use.input)
    result = item.result
    return tool_result_payload(
        use.id, use.name, ok=result.ok, summary=result.summary, duration_ms=item.duration_ms
    )


def _unstored(error: RunError) -> StoredEvent:
    """An ending that is not in the store: readers here learn it, others find the job lost."""
    return StoredEvent(None, Event.ERROR, dumps(error.payload()))
