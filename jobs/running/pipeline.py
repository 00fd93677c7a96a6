"""The run pipeline: one run from its agent loop to its stored ``complete``.

:class:`RunPipeline` turns the agent loop's events (:mod:`jobs.running.loop`) into stored events:
each model text delta through the lossless :class:`~jobs.delivery.coalescer.Throttle` into ``delta``
events, each tool call's start and end into a ``tool`` event (with its journal,
:mod:`jobs.running.journal`), queued with the :class:`~jobs.delivery.writer.EventWriter` in the
run's order; then the agent's result and the ``complete`` event. A run taken over starts from its
journal: the output so far, and the interrupted step continued (a backend that ``continues``) or cut
with a stored ``rewind``. It raises on any failure; the runner (:mod:`jobs.running.runner`) settles
how the run ends.

:class:`Run` is the one record of a run on this process, shared by the runner, its supervision
and this pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any

from jobs import joblog, metrics
from jobs.agents import AgentRegistry
from jobs.backends import TextDelta, TokenUsage, continues
from jobs.delivery.channel import RunChannel
from jobs.delivery.coalescer import Throttle
from jobs.delivery.eventlog import EventLog
from jobs.delivery.writer import EventWriter
from jobs.errors import (
    AgentFailed,
    OutputInvalid,
    RunError,
    RunTimeout,
    StoreLost,
    StoreUnavailable,
)
from jobs.events import (
    ErrorCode,
    EventName,
    JobStatus,
    StoredEvent,
    delta_payload,
    dumps,
    now_ms,
    rewind_payload,
    tool_call_payload,
    tool_result_payload,
)
from jobs.record.custom_agents import custom_agent_ref
from jobs.record.model import Job
from jobs.record.replies import Takeover
from jobs.record.store import JobStore
from jobs.running.budgets import UserBudget
from jobs.running.journal import read_journal, result_journal, turn_journal
from jobs.running.lease import Leases
from jobs.running.loop import AgentLoop, Outcome, Resumption, ToolCall, ToolDone
from jobs.running.prices import PriceTable

# The logger keeps its name from before the module moved (operators' filters use it).
logger = logging.getLogger("jobs.pipeline")


@dataclass(frozen=True, slots=True)
class RunLimits:
    throttle_ms: int  # STREAM_THROTTLE_MS
    run_timeout_s: float  # RUN_TIMEOUT_S
    abandon_after_s: float = 30  # ABANDON_AFTER_S
    shutdown_grace_s: float = 10  # SHUTDOWN_GRACE_S
    agent_max_steps: int = 8  # AGENT_MAX_STEPS
    run_token_budget: int = 0  # RUN_TOKEN_BUDGET (0: none)


@dataclass(slots=True)
class Run:
    """One run on this process: everything the runner and its supervision know of it."""

    job: Job
    #: This run's runner name: the instance's id, ``#<k>`` appended after ``k`` takeovers.
    runner: str
    channel: RunChannel
    #: How the run was taken over (None: claimed by an attach).
    takeover: Takeover | None = None
    task: asyncio.Task[None] | None = None
    #: Why it was asked to end (a cancel, an abandon): stored as its ``error``.
    ending: RunError | None = None
    #: Asked to leave without storing anything: ``handover`` (a drain's deadline) or
    #: ``superseded`` (its lease lapsed; another runner may have it now).
    leaving: str | None = None
    watched_at: float = field(default_factory=time.monotonic)

    @property
    def stopping(self) -> bool:
        return self.ending is not None or self.leaving is not None


class RunPipeline:
    """Runs one run at a time per call of :meth:`complete`; holds no state of its own."""

    def __init__(
        self,
        writer: EventWriter,
        store: JobStore,
        events: EventLog,
        agents: AgentRegistry,
        leases: Leases,
        limits: RunLimits,
        prices: PriceTable,
        budget: UserBudget | None = None,
    ) -> None:
        self.writer = writer
        self.budget = budget
        self.prices = prices
        self.store = store
        self.events = events
        self.agents = agents
        self.leases = leases
        self.limits = limits

    async def complete(self, run: Run) -> StoredEvent:
        """Stream the run, build the result, store ``complete``; raise on any failure."""
        job = run.job
        started = time.monotonic()
        output, outcome = await self._stream(run)
        completion = outcome.completion
        usage = completion.usage
        cost_usd = self.prices.cost_usd(completion.model, usage)
        metrics.tokens(job.agent, completion.model, usage, cost_usd)
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
            "costUsd": cost_usd,
            "executionTimeMs": round((time.monotonic() - started) * 1000),
            "model": completion.model,
            "stopReason": completion.stop_reason,
            "steps": outcome.steps,
            "toolCalls": outcome.tool_calls,
            "takeovers": job.takeovers,
            "timestamp": now_ms(),
        }
        if job.custom_agent is not None:
            data["customAgent"] = custom_agent_ref(job.custom_agent)
        event = await self.store.finish(
            job, run.runner, EventName.COMPLETE, data, JobStatus.COMPLETED
        )
        if event is not None:
            with contextlib.suppress(StoreUnavailable):
                await self.leases.forget([job.id])
        metrics.run_ended(job, JobStatus.COMPLETED, None, stored=event is not None)
        logger.info(
            "run completed",
            extra={"job_id": job.id, "upstream_request_id": completion.request_id},
        )
        if event is not None:
            joblog.ended(job.id, job.owner, job.agent, JobStatus.COMPLETED, None, run.runner)
        return event or await self.ending_stored_elsewhere(job)

    async def _resumption(self, run: Run, model: str) -> tuple[str, Resumption | None]:
        """The output so far and where the loop resumes, for a run taken over (a fresh run:
        nothing). The interrupted model step is continued where the backend can; otherwise
        its text is cut with a stored ``rewind``."""
        if run.takeover is None:
            await self.leases.index(run.job.id)
            return "", None
        await self.leases.index(run.job.id)
        journal = read_journal(await self.events.journal(run.job.id))
        resume = journal.resumption
        if resume.prefill and not continues(self.agents.backend, model):
            reason = ErrorCode.SHUTDOWN if run.takeover.handed_over else ErrorCode.RUNNER_LOST
            data = rewind_payload(journal.step_start, reason)
            self.writer.submit(run.job.id, EventName.REWIND, dumps(data), channel=run.channel)
            return journal.text[: journal.step_start], replace(resume, prefill="")
        return journal.text, resume

    def _timeout_s(self, job: Job) -> float:
        """What is left of ``RUN_TIMEOUT_S``, counted from the run's first start."""
        if not job.takeovers or job.started_at_ms is None:
            return self.limits.run_timeout_s
        spent_s = max(now_ms() - job.started_at_ms, 0) / 1000
        return max(self.limits.run_timeout_s - spent_s, 0.001)

    def _agent_loop(self, job: Job) -> AgentLoop:
        """The agent loop for ``job``'s run, its tokens spent from the owner's budget."""
        budget = self.budget

        async def spend(usage: TokenUsage) -> None:
            if budget is not None:
                await budget.spend(job.owner, usage)

        return AgentLoop(
            self.agents.backend,
            self.agents.toolbox,
            max_steps=self.limits.agent_max_steps,
            token_budget=self.limits.run_token_budget,
            on_usage=spend if budget is not None and budget.on else None,
        )

    async def _stream(self, run: Run) -> tuple[str, Outcome]:
        """Run the agent loop, queueing coalesced deltas and tool events; return the full
        output and the outcome once every event is stored."""
        job, channel = run.job, run.channel
        agent_input = self.agents.restore(job.agent, job.input)
        request = self.agents.request(job.agent, agent_input, job.custom_agent)
        loop = self._agent_loop(job)
        so_far, resume = await self._resumption(run, request.model)
        tools = self.agents.tools(job.agent, job.custom_agent)
        source = loop.run(request, tools, resume)
        ending: list[Outcome] = []
        parts: list[str] = [so_far]
        total = len(so_far)

        def write(event: EventName, data: dict[str, Any], journal: str | None = None) -> None:
            self.writer.submit(job.id, event, dumps(data), channel=channel, journal=journal)

        def emit(text: str) -> None:
            nonlocal total
            parts.append(text)
            total += len(text)
            write(EventName.DELTA, delta_payload(text, total))

        throttle = Throttle(self.limits.throttle_ms / 1000, emit)
        deadline = asyncio.timeout(self._timeout_s(job))
        try:
            async with deadline:
                try:
                    async for item in source:
                        if isinstance(item, TextDelta):
                            throttle.add(item.text)
                        elif isinstance(item, ToolCall | ToolDone):
                            throttle.flush()  # the deltas written before a step come first
                            write(EventName.TOOL, _tool_payload(item), _journal(item))
                        else:
                            ending.append(item)
                        self.writer.check(job.id)  # raises if the run can store no more
                        if run.stopping:
                            # Asked to end, yet still here: the cancel was lost in an await
                            # below (Python 3.11's asyncio.wait_for, which redis-py and others
                            # use, drops a cancel that lands as its inner step ends).
                            raise asyncio.CancelledError
                finally:
                    throttle.close()  # what is buffered goes out, failure or not
                await self.stored(job.id)
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

    async def stored(self, job_id: str) -> None:
        """Wait until every event the run queued is stored; raises if they cannot be."""
        await self.writer.flushed(job_id)

    async def ending_stored_elsewhere(self, job: Job) -> StoredEvent:
        """The terminal event someone else stored (a cancel, a RUNNER_LOST verdict). Settling
        a job always stores its terminal event, so a job that is no longer ours and has none
        was lost by the store itself (a Redis that restarted empty)."""
        tail = await self.events.last(job.id)
        if tail is not None and tail[0].terminal:
            return tail[0]
        return unstored(StoreLost("the job is no longer in the job store"))


def _journal(item: ToolCall | ToolDone) -> str | None:
    """What a takeover needs of a tool event: the step's turn on its first call, the full
    result on each result."""
    if isinstance(item, ToolDone):
        return result_journal(item.result)
    return turn_journal(item.turn) if item.turn is not None else None


def _tool_payload(item: ToolCall | ToolDone) -> dict[str, Any]:
    use = item.use
    if isinstance(item, ToolCall):
        return tool_call_payload(use.id, use.name, use.input)
    result = item.result
    return tool_result_payload(
        use.id, use.name, ok=result.ok, summary=result.summary, duration_ms=item.duration_ms
    )


def unstored(error: RunError) -> StoredEvent:
    """An ending that is not in the store: readers here learn it, others find the job lost."""
    return StoredEvent.unstored(EventName.ERROR, dumps(error.payload()))
