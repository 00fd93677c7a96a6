"""What the demo backend streams for an agent's input, run to its end on a fast demo backend
(with the agent loop and, when given, a workspace): the expected text of the pipeline tests,
whose subject is the streaming, not the demo's answer (``tests/jobs/backends/test_demo.py``
checks that)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from jobs.agents import default_agents
from jobs.backends import TextDelta
from jobs.backends.demo import DemoBackend
from jobs.running.loop import AgentLoop, Outcome, Toolbox, ToolCall, ToolDone


@dataclass(frozen=True)
class DemoRun:
    #: Every step's text, in order: what the ``delta`` events carry.
    text: str
    #: The last step's text: the answer the agent's result is made from.
    answer: str
    files_read: tuple[str, ...]
    #: ``(name, input)`` of each tool call, in the order the calls started.
    calls: tuple[tuple[str, dict[str, Any]], ...]


def demo_run(agent_name: str, raw: dict[str, Any], workspace: Toolbox | None = None) -> DemoRun:
    """Run ``agent_name`` on ``raw`` (its input, as JSON) on the demo backend, on an event loop
    of its own thread (so that async tests may call it too)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _run(agent_name, raw, workspace)).result()


def demo_text(agent_name: str, raw: dict[str, Any], workspace: Toolbox | None = None) -> str:
    return demo_run(agent_name, raw, workspace).text


async def _run(agent_name: str, raw: dict[str, Any], workspace: Toolbox | None) -> DemoRun:
    agent = next(a for a in default_agents() if a.name == agent_name)
    request = agent.request(agent.input_model.model_validate(raw), default_model="demo")
    loop = AgentLoop(DemoBackend(tokens_per_second=1e9), workspace, max_steps=8)
    text: list[str] = []
    calls: list[tuple[str, dict[str, Any]]] = []
    async for event in loop.run(request, agent.tools if workspace is not None else ()):
        if isinstance(event, TextDelta):
            text.append(event.text)
        elif isinstance(event, ToolCall):
            calls.append((event.use.name, event.use.input))
        elif isinstance(event, Outcome):
            return DemoRun("".join(text), event.text, event.files_read, tuple(calls))
        else:
            assert isinstance(event, ToolDone)
    raise AssertionError("the loop ended without an outcome")
