"""The agent loop on its own: scripted model steps, a fake toolbox, no Redis."""

from __future__ import annotations

import asyncio
import logging

import pytest

from jobs.backends import (
    ModelRequest,
    TextDelta,
    TokenUsage,
    ToolResultBlock,
    ToolResults,
    ToolUse,
)
from jobs.errors import AgentMaxSteps, RunBudgetExhausted
from jobs.running.loop import AgentLoop, LoopEvent, Outcome, ToolCall, ToolDone
from tests.support.tools import FakeToolbox, StepsBackend, answer_step, tool_step

pytestmark = pytest.mark.anyio

REQUEST = ModelRequest(model="model-a", system="sys", prompt="look", max_tokens=100)
TOOLS = ("Glob", "Read")


async def collect(loop: AgentLoop, tools: tuple[str, ...] = TOOLS) -> list[LoopEvent]:
    return [event async for event in loop.run(REQUEST, tools)]


def results_sent(backend: StepsBackend, request: int) -> tuple[ToolResultBlock, ...]:
    last = backend.requests[request].turns[-1]
    assert isinstance(last, ToolResults)
    return last.results


async def test_two_calls_of_one_step_run_at_once_and_answer_in_call_order() -> None:
    slow = ToolUse("toolu_1", "Read", {"path": "a.tsx", "after": "b.tsx"})
    fast = ToolUse("toolu_2", "Read", {"path": "b.tsx"})
    backend = StepsBackend(
        [tool_step(slow, fast, text="Looking.", usage=(100, 7)), answer_step("Done.", (150, 9))]
    )
    toolbox = FakeToolbox()
    events = await collect(AgentLoop(backend, toolbox, max_steps=8))

    kinds = [type(e).__name__ for e in events]
    assert kinds == ["TextDelta", "ToolCall", "ToolCall", "ToolDone", "ToolDone", "TextDelta",
                     "Outcome"]  # fmt: skip
    # toolu_1 answers only after toolu_2 has: run one after the other, they would deadlock.
    assert {e.use.id for e in events if isinstance(e, ToolDone)} == {"toolu_1", "toolu_2"}
    assert results_sent(backend, 1) == (
        ToolResultBlock("toolu_1", "<contents of a.tsx>"),
        ToolResultBlock("toolu_2", "<contents of b.tsx>"),
    ), "results in the order of the calls, not of their ends"
    outcome = events[-1]
    assert isinstance(outcome, Outcome)
    assert outcome.text == "Done.", "the answer is the final step's text only"
    assert outcome.steps == 2
    assert outcome.tool_calls == 2
    assert outcome.files_read == ("a.tsx", "b.tsx"), "in the order of the calls"
    assert outcome.completion.usage == TokenUsage(input_tokens=250, output_tokens=16)
    assert backend.requests[0].tools == tuple(toolbox.definitions(TOOLS))
    assert backend.requests[1].tools == backend.requests[0].tools


async def test_a_refusal_an_unknown_tool_and_a_tool_that_raises_all_answer_with_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR)
    uses = (
        ToolUse("toolu_1", "Read", {"refuse": "outside the workspace"}),
        ToolUse("toolu_2", "Bash", {"command": "rm -rf /"}),
        ToolUse("toolu_3", "Glob", {"fail": True}),
    )
    backend = StepsBackend([tool_step(*uses), answer_step("ok")])
    toolbox = FakeToolbox()
    events = await collect(AgentLoop(backend, toolbox, max_steps=8))

    assert isinstance(events[-1], Outcome)
    sent = results_sent(backend, 1)
    assert [r.tool_use_id for r in sent] == ["toolu_1", "toolu_2", "toolu_3"]
    assert all(r.is_error for r in sent)
    assert sent[0].content == "refused: outside the workspace"
    assert "unknown tool 'Bash'" in sent[1].content
    assert sent[2].content == "tool failed", "no details of the bug reach the model"
    assert [name for name, _ in toolbox.calls] == ["Read", "Glob"], "Bash never ran"
    done = [e for e in events if isinstance(e, ToolDone)]
    assert [e.result.ok for e in done] == [False, False, False]
    assert "a bug in the tool" in caplog.text, "the bug is logged for operators"


async def test_the_step_limit_ends_the_run_without_running_the_last_calls() -> None:
    use = ToolUse("toolu_x", "Glob", {"path": "*"})
    backend = StepsBackend([tool_step(use)])  # the model never stops asking
    toolbox = FakeToolbox()
    events: list[LoopEvent] = []

    async def run() -> None:
        async for event in AgentLoop(backend, toolbox, max_steps=3).run(REQUEST, TOOLS):
            events.append(event)

    with pytest.raises(AgentMaxSteps) as caught:
        await run()
    assert len(backend.requests) == 3
    assert len(toolbox.calls) == 2, "the third step's call was not run"
    assert sum(isinstance(e, ToolCall) for e in events) == 2
    assert "3 model calls" in caught.value.message


async def test_without_a_toolbox_no_tools_are_offered_and_calls_are_refused() -> None:
    backend = StepsBackend([tool_step(ToolUse("toolu_1", "Read", {"path": "x"})), answer_step("a")])
    events = await collect(AgentLoop(backend, None, max_steps=8))
    assert backend.requests[0].tools == ()
    assert results_sent(backend, 1)[0].is_error
    assert isinstance(events[-1], Outcome)
    assert events[-1].files_read == ()


async def test_a_single_step_agent_is_one_model_call() -> None:
    backend = StepsBackend([[TextDelta("Hel"), TextDelta("lo"), *answer_step("!")[1:]]])
    events = await collect(AgentLoop(backend, FakeToolbox(), max_steps=8), ())
    outcome = events[-1]
    assert isinstance(outcome, Outcome)
    assert (outcome.text, outcome.steps, outcome.tool_calls) == ("Hello", 1, 0)
    assert backend.requests[0].tools == (), "an agent without tools is offered none"


async def test_cancelling_during_a_tool_call_cancels_the_tool_and_closes_everything() -> None:
    backend = StepsBackend([tool_step(ToolUse("toolu_1", "Read", {"block": True}))])
    toolbox = FakeToolbox()
    loop = AgentLoop(backend, toolbox, max_steps=8)
    before = asyncio.all_tasks()
    run = asyncio.create_task(collect(loop))
    while not toolbox.started.is_set():
        await asyncio.sleep(0.01)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert toolbox.cancelled.is_set(), "the tool's task was cancelled"
    assert backend.closed == 1
    assert asyncio.all_tasks() - before - {asyncio.current_task()} == set(), "no orphan task"


async def test_closing_the_loop_while_a_tool_runs_cancels_it() -> None:
    uses = (ToolUse("toolu_1", "Read", {"block": True}), ToolUse("toolu_2", "Read", {"path": "x"}))
    backend = StepsBackend([tool_step(*uses)])
    toolbox = FakeToolbox()
    source = AgentLoop(backend, toolbox, max_steps=8).run(REQUEST, TOOLS)
    async for event in source:
        if isinstance(event, ToolDone):
            break  # the consumer stops reading while the blocking call still runs
    assert toolbox.started.is_set()
    assert not toolbox.cancelled.is_set()
    await source.aclose()
    assert toolbox.cancelled.is_set()
    assert [t for t in asyncio.all_tasks() if t.get_name().startswith("tool-")] == []


async def test_at_most_sixteen_calls_of_one_step_run() -> None:
    uses = [ToolUse(f"toolu_{n:02d}", "Read", {"path": f"f{n}"}) for n in range(20)]
    backend = StepsBackend([tool_step(*uses), answer_step("ok")])
    toolbox = FakeToolbox()
    events = await collect(AgentLoop(backend, toolbox, max_steps=8))
    assert len(toolbox.calls) == 16
    assert sum(isinstance(e, ToolCall) for e in events) == 16
    sent = results_sent(backend, 1)
    assert [r.tool_use_id for r in sent] == [u.id for u in uses], "every call is answered"
    assert [r.is_error for r in sent] == [False] * 16 + [True] * 4
    assert "at most 16" in sent[-1].content
    outcome = events[-1]
    assert isinstance(outcome, Outcome)
    assert outcome.tool_calls == 16


async def test_a_run_budget_stops_a_tool_step_that_reaches_it_but_not_a_final_answer() -> None:
    read = ToolUse("toolu_1", "Read", {"path": "a.tsx"})
    seen: list[TokenUsage] = []

    async def spend(usage: TokenUsage) -> None:
        seen.append(usage)

    # 60 + 40 = 100 tokens, then 100 more: the second step reaches the budget of 200.
    steps = [tool_step(read, text="one", usage=(60, 40)), tool_step(read, usage=(70, 30))]
    toolbox = FakeToolbox()
    loop = AgentLoop(StepsBackend([*steps, answer_step("done")]), toolbox, max_steps=8,
                     token_budget=200, on_usage=spend)  # fmt: skip
    events: list[LoopEvent] = []

    async def run() -> None:
        async for event in loop.run(REQUEST, TOOLS):
            events.append(event)

    with pytest.raises(RunBudgetExhausted, match="used 200 tokens, its budget is 200"):
        await run()
    assert len(toolbox.calls) == 1, "the crossing step's call is not run"
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["one"]
    assert [(u.input_tokens, u.output_tokens) for u in seen] == [(60, 40), (70, 30)]

    # A final answer past the budget is the answer: it completes.
    backend = StepsBackend([tool_step(read, usage=(60, 40)), answer_step("done", (900, 100))])
    loop = AgentLoop(backend, FakeToolbox(), max_steps=8, token_budget=200)
    outcome = (await collect(loop))[-1]
    assert isinstance(outcome, Outcome)
    assert outcome.text == "done"
