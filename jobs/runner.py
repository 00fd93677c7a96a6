"""Running agents: one task per job, owned by the process rather than by any HTTP response.

A run outlives the connection that started it: clients may drop and resume (here or on another
instance) while the task keeps writing events to the job's stream. Each run:

1. streams the backend's output through the lossless :func:`~jobs.coalescer.coalesce`,
   storing each flush as a ``delta`` event and publishing it to this process's readers;
2. turns the full output into the agent's result, and stores ``complete`` (with the stop
   reason: a ``max_tokens`` stop is reported, not hidden); or, on any failure, stores
   ``error`` with a code (``RUN_TIMEOUT_S`` → ``TIMEOUT``, bad output → ``OUTPUT_INVALID``,
   naming the stop reason when the model stopped early, a provider failure → its
   ``UPSTREAM_*`` code, anything else → ``AGENT_ERROR``).

Every exit path ends in exactly one terminal event, and the backend's stream is closed on every
exit path, cancellation included.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

from jobs.agents import AgentRegistry, Completion
from jobs.channel import RunChannel
from jobs.coalescer import coalesce
from jobs.errors import AgentFailed, OutputInvalid, RunError, RunTimeout, StoreUnavailable
from jobs.events import COMPLETE, DELTA, ERROR, EventLog, StoredEvent, delta_payload, dumps
from jobs.events import error_payload as make_error
from jobs.model import Job, JobStatus, now_ms
from jobs.store import JobStore

logger = logging.getLogger(__name__)

#: Stop reasons that end the output before the model finished it (``max_tokens`` truncates).
CUT_SHORT = frozenset({"max_tokens", "refusal", "model_context_window_exceeded"})


@dataclass(frozen=True, slots=True)
class RunLimits:
    throttle_ms: int  # STREAM_THROTTLE_MS
    run_timeout_s: float  # RUN_TIMEOUT_S


class Runner:
    """Starts and owns this process's runs. ``aclose`` ends them all (at shutdown)."""

    def __init__(
        self,
        store: JobStore,
        events: EventLog,
        agents: AgentRegistry,
        limits: RunLimits,
        *,
        instance_id: str,
    ) -> None:
        self.store = store
        self.events = events
        self.agents = agents
        self.limits = limits
        self.instance_id = instance_id
        self._channels: dict[str, RunChannel] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def channel(self, job_id: str) -> RunChannel | None:
        """The channel of a run in progress on this process, if there is one."""
        return self._channels.get(job_id)

    @property
    def active(self) -> int:
        return len(self._tasks)

    def start(self, job: Job) -> RunChannel:
        """Start running ``job`` (already claimed by this instance) and return its channel."""
        if job.id in self._tasks:
            raise RuntimeError(f"job {job.id} is already running here")
        channel = RunChannel(job.id)
        self._channels[job.id] = channel
        task = asyncio.create_task(self._run(job, channel), name=f"run-{job.id}")
        self._tasks[job.id] = task
        task.add_done_callback(lambda _: self._forget(job.id))
        return channel

    async def aclose(self, timeout_s: float = 5.0) -> None:
        """Cancel every run; each stores its terminal ``error`` unless Redis is gone too."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)

    def _forget(self, job_id: str) -> None:
        self._tasks.pop(job_id, None)
        self._channels.pop(job_id, None)

    async def _run(self, job: Job, channel: RunChannel) -> None:
        try:
            event = await self._complete(job, channel)
        except asyncio.CancelledError:
            # Shutdown: end the run visibly and retryably, then let the cancellation finish.
            shutdown = RunError(
                "the service instance shut down during the run", code="SHUTDOWN", retryable=True
            )
            await self._fail(job, channel, shutdown)
            raise
        except RunError as exc:
            await self._fail(job, channel, exc)
        except StoreUnavailable as exc:
            await self._fail(job, channel, RunError(str(exc), code="STORE_UNAVAILABLE"))
        except Exception:
            logger.exception("run failed", extra={"job_id": job.id})
            await self._fail(job, channel, AgentFailed("the agent failed unexpectedly"))
        else:
            channel.publish(event)

    async def _complete(self, job: Job, channel: RunChannel) -> StoredEvent:
        """Stream the run, build the result, store ``complete``; raise on any failure."""
        started = time.monotonic()
        output, completion = await self._stream(job, channel)
        try:
            result = self.agents.get(job.agent).result(output)
        except OutputInvalid as exc:
            if completion.stop_reason in CUT_SHORT:
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
            "timestamp": now_ms(),
        }
        return await self.store.finish(job, COMPLETE, data, JobStatus.COMPLETED)

    async def _stream(self, job: Job, channel: RunChannel) -> tuple[str, Completion]:
        """Run the backend, publishing coalesced deltas; return the full output and ending."""
        agent = self.agents.get(job.agent)
        agent_input = self.agents.restore(job.agent, job.input)
        request = agent.request(agent_input, default_model=self.agents.default_model)
        source = self.agents.backend.stream(request)
        ending: list[Completion] = []
        parts: list[str] = []
        total = 0
        deadline = asyncio.timeout(self.limits.run_timeout_s)
        try:
            async with deadline:
                flushes = coalesce(_texts(source, ending), self.limits.throttle_ms / 1000)
                try:
                    async for text in flushes:
                        parts.append(text)
                        total += len(text)
                        event = await self.events.append(
                            job.id, DELTA, delta_payload(text, total), first=len(parts) == 1
                        )
                        channel.publish(event)
                finally:
                    await flushes.aclose()
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

    async def _fail(self, job: Job, channel: RunChannel, error: RunError) -> None:
        """Store the terminal ``error`` (and mark the job failed); publish it here regardless."""
        data = make_error(
            error.code,
            error.message,
            retryable=error.retryable,
            retry_after_ms=error.retry_after_ms,
        )
        status = JobStatus.CANCELLED if error.code == "CANCELLED" else JobStatus.FAILED
        try:
            event = await asyncio.shield(self.store.finish(job, ERROR, data, status))
        except (StoreUnavailable, asyncio.CancelledError):
            # Redis is gone (or we are being torn down): readers here still learn how it ended.
            event = StoredEvent(None, ERROR, dumps(data))
        logger.info("run ended with %s", error.code, extra={"job_id": job.id, "code": error.code})
        channel.publish(event)


async def _texts(
    source: AsyncIterator[str | Completion], ending: list[Completion]
) -> AsyncGenerator[str, None]:
    """The text items of a backend stream; its final :class:`Completion` goes into ``ending``."""
    async for item in source:
        if isinstance(item, str):
            yield item
        else:
            ending.append(item)
