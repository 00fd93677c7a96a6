"""The agent loop: model call → tool calls → tool results → model call, until the model answers.

The runner's collaborator between an agent's request and the backend. One *step* is one model
call. When a step ends with ``stop_reason`` ``tool_use``, every tool call of that step runs at
once (concurrently, on the :class:`Toolbox`), and their results go back to the model in the
order of the calls, as the next request's last turn. A step that ends any other way is the
final one: its text is the agent's answer (a structured agent's JSON document).

:meth:`AgentLoop.run` is an async generator of what happens, in the run's order: each
:class:`~jobs.backends.TextDelta` as the model writes it (every step's), a :class:`ToolCall`
when a call starts, a :class:`ToolDone` when it ends (in the order they end), and one
:class:`Outcome` at the end. The runner turns these into ``delta`` and ``tool`` events.

Rules:

- At most ``max_steps`` model calls (``AGENT_MAX_STEPS``): a model still asking for tools at
  the last step ends the run with ``AGENT_MAX_STEPS``, and those calls are not run.
- With a ``token_budget`` (``RUN_TOKEN_BUDGET``), a step whose tokens bring the run's total to
  the budget or past it is the last: if it asked for tools, the run ends with
  ``BUDGET_EXHAUSTED`` and those calls are not run (a final answer is still the answer: it is
  paid for). Each step's usage goes to ``on_usage`` as soon as it is known. At most
  :data:`MAX_CALLS_PER_STEP` calls of one step run; the model hears that the others did not
  (they have no events).
- The model is untrusted: a call of a tool this agent was not given, a run without a toolbox,
  or a tool that raises answer the model with an ``is_error`` result; the run goes on.
- Cancellation (cancel, abandon, timeout, lease loss, shutdown: the run task is cancelled)
  reaches whatever is awaited: the backend's stream is closed, running tool tasks are
  cancelled and awaited. Closing the generator does the same. No task outlives the loop.

Backends never know agents and agents never talk to providers: the loop sees only the
request the agent built, the backend, and the toolbox.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import aclosing
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any, Protocol

from jobs import tracing
from jobs.backends import (
    AssistantTurn,
    Backend,
    Completion,
    ModelRequest,
    TextBlock,
    TextDelta,
    TokenUsage,
    ToolResultBlock,
    ToolResults,
    ToolUse,
    Turn,
)
from jobs.errors import AgentFailed, AgentMaxSteps, RunBudgetExhausted
from jobs.running.budgets import tokens

# The logger keeps its name from before the module moved (operators' filters use it).
logger = logging.getLogger("jobs.loop")

#: The most tool calls of one step that run; the model hears that the others were not run.
MAX_CALLS_PER_STEP = 16

#: How long cancelled tool tasks get to finish before the loop stops waiting for them.
TOOL_CANCEL_GRACE_S = 5.0


class ToolAnswer(Protocol):
    """What a tool returns, as the loop reads it: ``content`` for the model, ``summary`` for
    the user, the workspace files it read (``jobs.tools``' :class:`~jobs.tools.base.ToolResult`
    is one)."""

    @property
    def ok(self) -> bool: ...
    @property
    def content(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def files_read(self) -> tuple[str, ...]: ...


class Toolbox(Protocol):
    """The tools agents may use (``jobs.tools``' workspace). ``run`` never raises for bad
    input: it returns a result with ``ok`` false."""

    async def run(self, name: str, tool_input: object) -> ToolAnswer: ...

    def definitions(self, names: Sequence[str]) -> list[dict[str, Any]]:
        """The Messages API ``tools`` entries (name, description, input_schema) of ``names``."""
        ...


@dataclass(frozen=True, slots=True)
class Refusal:
    """A :class:`ToolAnswer` the loop makes itself (unknown tool, a tool that raised)."""

    content: str
    ok: bool = False
    files_read: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        return self.content


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call starts. The first call of a step carries the step's whole ``turn`` (what
    the model said), for the run's journal."""

    use: ToolUse
    turn: AssistantTurn | None = None


@dataclass(frozen=True, slots=True)
class Resumption:
    """Where a run taken over stands (read from its journal, ``jobs.running.journal``): ``turns`` of
    the steps done (each model turn and its tool results), ``steps`` model calls made,
    ``tool_calls`` tool calls ended, the ``files_read``; ``pending`` the last step's turn when
    its tool calls had not all ended, with the results that had (the others run again); else
    ``prefill``, the text the interrupted model step had written (continued, not repeated)."""

    turns: tuple[Turn, ...] = ()
    steps: int = 0
    tool_calls: int = 0
    files_read: tuple[str, ...] = ()
    pending: tuple[AssistantTurn, dict[str, ToolAnswer]] | None = None
    prefill: str = ""


@dataclass(frozen=True, slots=True)
class ToolDone:
    """A tool call ended."""

    use: ToolUse
    result: ToolAnswer
    duration_ms: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """How the loop ended. ``completion`` is the final step's, with the usage of all steps;
    ``text`` is the final step's text (the answer), ``files_read`` what the tools read (in
    the order first read, without repeats)."""

    completion: Completion
    text: str
    steps: int
    tool_calls: int
    files_read: tuple[str, ...]


#: Each run sets its own dict here; the tasks of its tool calls inherit it, so a toolbox can
#: keep per-run state in it (the workspace bounds one run's concurrent calls with it).
RUN_STATE: ContextVar[dict[object, Any] | None] = ContextVar("run_state", default=None)

TOO_MANY = f"not run: at most {MAX_CALLS_PER_STEP} tool calls run per step"

LoopEvent = TextDelta | ToolCall | ToolDone | Outcome


class AgentLoop:
    """Runs one agent's request to its answer on ``backend``, with ``toolbox`` if any."""

    def __init__(
        self,
        backend: Backend,
        toolbox: Toolbox | None,
        *,
        max_steps: int,
        token_budget: int = 0,
        on_usage: Callable[[TokenUsage], Awaitable[None]] | None = None,
    ) -> None:
        if max_steps < 1:
            raise ValueError("max_steps must be >= 1")
        self.backend = backend
        self.toolbox = toolbox
        self.max_steps = max_steps
        self.token_budget = token_budget  # 0: none
        self.on_usage = on_usage

    def offered(self, tools: Sequence[str]) -> tuple[str, ...]:
        """The tools a run is given: the agent's, if there is a toolbox."""
        return tuple(tools) if self.toolbox is not None else ()

    def _with_tools(
        self, request: ModelRequest, tools: Sequence[str]
    ) -> tuple[ModelRequest, tuple[str, ...]]:
        """``request`` offering the tools the run is given, and their names."""
        names = self.offered(tools)
        if names and self.toolbox is not None:
            request = replace(request, tools=tuple(self.toolbox.definitions(names)))
        return request, names

    async def run(
        self, request: ModelRequest, tools: Sequence[str] = (), resume: Resumption | None = None
    ) -> AsyncGenerator[LoopEvent, None]:
        """The run's events; ``resume`` continues a run taken over where its journal ends."""
        RUN_STATE.set({})
        request, names = self._with_tools(request, tools)
        resume = resume or Resumption()
        turns: list[Turn] = list(resume.turns)
        usage = None
        calls = resume.tool_calls
        files: dict[str, None] = dict.fromkeys(resume.files_read)
        if resume.pending is not None:  # the last step's tool calls were in flight
            turn, ended = resume.pending
            done = dict(ended)
            calling = self._tools(turn, _uses(turn), names, done, turns, files, journal=False)
            async with aclosing(calling) as events:
                async for event in events:
                    yield event
            calls += len(done) - len(ended)
        prefill = resume.prefill
        for step in range(resume.steps + 1, self.max_steps + 1):
            # The step's content as the model wrote it: runs of text pieces and tool calls.
            content: list[list[str] | ToolUse] = [[prefill]] if prefill else []
            completion: Completion | None = None
            tracing.annotate({"jobs.steps": step})
            model: dict[str, str | int] = {"gen_ai.request.model": request.model, "jobs.step": step}
            asked = replace(request, turns=tuple(turns), prefill=prefill)
            prefill = ""
            with tracing.span("model request", model):
                async with aclosing(self.backend.stream(asked)) as stream:
                    async for item in stream:
                        if isinstance(item, TextDelta):
                            last = content[-1] if content else None
                            if not isinstance(last, list):
                                last = []
                                content.append(last)
                            last.append(item.text)
                            yield item
                        elif isinstance(item, ToolUse):
                            content.append(item)
                        else:
                            completion = item
            if completion is None:
                raise AgentFailed("the backend ended without a completion")
            usage = completion.usage if usage is None else usage + completion.usage
            if self.on_usage is not None:
                await self.on_usage(completion.usage)
            turn = AssistantTurn(_blocks(content))
            if completion.stop_reason != "tool_use" or not _uses(turn):
                text = "".join(b.text for b in turn.content if isinstance(b, TextBlock))
                final = replace(completion, usage=usage)
                tracing.annotate({"jobs.model": final.model, "jobs.tool_calls": calls})
                yield Outcome(final, text, step, calls, tuple(files))
                return
            self._check_may_go_on(step, usage)
            done = {}
            calling = self._tools(turn, _uses(turn), names, done, turns, files, journal=True)
            async with aclosing(calling) as events:
                async for event in events:
                    yield event
            calls += len(done)
        raise AssertionError("unreachable: the last step returns or raises")

    def _check_may_go_on(self, step: int, usage: TokenUsage) -> None:
        """Raise unless the run may take another step after ``step`` (``usage`` so far)."""
        if step == self.max_steps:
            raise AgentMaxSteps(self.max_steps)
        if self.token_budget and tokens(usage) >= self.token_budget:
            raise RunBudgetExhausted(self.token_budget, tokens(usage))

    async def _tools(
        self,
        turn: AssistantTurn,
        uses: list[ToolUse],
        names: tuple[str, ...],
        done: dict[str, ToolAnswer],
        turns: list[Turn],
        files: dict[str, None],
        *,
        journal: bool,
    ) -> AsyncGenerator[ToolCall | ToolDone, None]:
        """Run the step's calls that are not ``done`` yet (all of them, but for a run taken
        over in the middle of its tool calls), then add the step to ``turns`` and what the
        tools read to ``files``. ``journal``: the first call carries the turn (the first time
        the step's calls run, not when a run taken over runs the rest)."""
        to_run = [use for use in uses[:MAX_CALLS_PER_STEP] if use.id not in done]
        first = turn if journal else None
        async with aclosing(self._run_tools(to_run, names, first)) as events:
            async for event in events:
                if isinstance(event, ToolDone):
                    done[event.use.id] = event.result
                yield event
        for use in uses:  # in the order of the calls, however they ended
            files.update(dict.fromkeys(done[use.id].files_read if use.id in done else ()))
        turns += [turn, ToolResults(answers(uses, done))]

    async def _run_tools(
        self, uses: list[ToolUse], names: tuple[str, ...], turn: AssistantTurn | None
    ) -> AsyncGenerator[ToolCall | ToolDone, None]:
        """Start every call at once; yield each start (the first with the step's ``turn``),
        then each end as it happens. Whatever ends this generator early cancels and awaits
        the calls still running."""
        for index, use in enumerate(uses):
            yield ToolCall(use, turn if index == 0 else None)
        tasks = {
            asyncio.create_task(self._call(use, names), name=f"tool-{use.name}"): use
            for use in uses
        }
        try:
            pending = set(tasks)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in (t for t in tasks if t in done):  # simultaneous ends: call order
                    result, duration_ms = task.result()
                    yield ToolDone(tasks[task], result, duration_ms)
        finally:
            running = [task for task in tasks if not task.done()]
            for task in running:
                task.cancel()
            if running:
                _, stuck = await asyncio.wait(running, timeout=TOOL_CANCEL_GRACE_S)
                if stuck:
                    logger.warning("%d tool calls ignored their cancellation", len(stuck))

    async def _call(self, use: ToolUse, names: tuple[str, ...]) -> tuple[ToolAnswer, int]:
        with tracing.span(f"tool {use.name}", {"jobs.tool": use.name}):
            return await self._call_traced(use, names)

    async def _call_traced(self, use: ToolUse, names: tuple[str, ...]) -> tuple[ToolAnswer, int]:
        started = time.monotonic()
        result: ToolAnswer
        if use.name not in names or self.toolbox is None:
            offered = ", ".join(names) or "none"
            result = Refusal(f"unknown tool {use.name!r}; the tools offered are: {offered}")
        else:
            try:
                result = await self.toolbox.run(use.name, use.input)
            except Exception:
                # A tool bug must not end the run: the model hears that the call failed.
                logger.exception("tool %s failed", use.name, extra={"tool": use.name})
                result = Refusal("tool failed")
        return result, round((time.monotonic() - started) * 1000)


def answers(uses: list[ToolUse], done: dict[str, ToolAnswer]) -> tuple[ToolResultBlock, ...]:
    """The results of a step's calls, in the order of the calls; a call that did not run
    (past :data:`MAX_CALLS_PER_STEP`) is answered with an error."""
    return tuple(
        ToolResultBlock(use.id, done[use.id].content, is_error=not done[use.id].ok)
        if use.id in done
        else ToolResultBlock(use.id, TOO_MANY, is_error=True)
        for use in uses
    )


def _blocks(content: list[list[str] | ToolUse]) -> tuple[TextBlock | ToolUse, ...]:
    """A step's content as blocks: each run of text pieces one text block."""
    return tuple(
        block if isinstance(block, ToolUse) else TextBlock("".join(block)) for block in content
    )


def _uses(turn: AssistantTurn) -> list[ToolUse]:
    return [block for block in turn.content if isinstance(block, ToolUse)]
