"""The service's cost of one tool round trip, apart from the tool itself.

``python -m bench.tool_overhead [--calls 200]`` runs one agent loop whose model (the fake
Messages API, through the real SDK) calls a trivial tool ``--calls`` times, one call per step,
and reports, per round trip:

- *service*: from the backend yielding the step's ``Completion`` (the answer's
  ``message_stop`` has been read) to the next request's arrival at the fake: the loop, the
  no-op tool, the SDK building the next request and sending it over loopback HTTP;
- *fake transport*: from the fake sending ``message_stop`` to the backend yielding the
  ``Completion``: the loopback fake's delivery of its last frames, not the service's cost
  (a text-only answer shows the same delay);
- *loop only*: the same round trip with an in-memory backend (no SDK, no HTTP).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Any

from jobs.backends import BackendEvent, Completion, ModelRequest, TokenUsage, ToolUse
from jobs.backends.anthropic import AnthropicBackend
from jobs.running.loop import AgentLoop
from tests.support.fake_anthropic import API_KEY, FakeAnthropic, Reply, ToolCall

REQUEST = ModelRequest(model="claude-sonnet-5-5", system="s", prompt="p", max_tokens=100)


@dataclass(frozen=True)
class Done:
    ok: bool = True
    content: str = "ok"
    summary: str = "ok"
    files_read: tuple[str, ...] = ()


class NoopToolbox:
    async def run(self, name: str, tool_input: object) -> Done:
        return Done()

    def definitions(self, names: Sequence[str]) -> list[dict[str, Any]]:
        return [
            {"name": n, "description": "noop", "input_schema": {"type": "object"}} for n in names
        ]


class Timed:
    """Wraps a backend; records when each request starts and each ``Completion`` is yielded."""

    name = "timed"
    default_model = "m"

    def __init__(self, inner: AnthropicBackend) -> None:
        self.inner = inner
        self.requested: list[float] = []
        self.completed: list[float] = []

    async def stream(self, request: ModelRequest) -> AsyncGenerator[BackendEvent, None]:
        self.requested.append(time.perf_counter())
        async for item in self.inner.stream(request):
            if isinstance(item, Completion):
                self.completed.append(time.perf_counter())
            yield item

    async def aclose(self) -> None:
        await self.inner.aclose()


class MemoryBackend:
    """Calls the tool ``calls`` times, then answers; records when each request was made and
    when each answer ended."""

    name = "memory"
    default_model = "m"

    def __init__(self, calls: int) -> None:
        self.calls = calls
        self.requested: list[float] = []
        self.ended: list[float] = []

    async def stream(self, request: ModelRequest) -> AsyncGenerator[BackendEvent, None]:
        self.requested.append(time.perf_counter())
        step = len(self.requested)
        usage = TokenUsage(1, 1)
        if step <= self.calls:
            yield ToolUse(f"toolu_{step}", "Noop", {"path": "x"})
            self.ended.append(time.perf_counter())
            yield Completion("m", usage, stop_reason="tool_use")
        else:
            yield Completion("m", usage, stop_reason="end_turn")

    async def aclose(self) -> None:
        return None


async def drain(loop: AgentLoop) -> None:
    async for _ in loop.run(REQUEST, ("Noop",)):
        pass


def report(label: str, gaps_ms: list[float]) -> None:
    gaps_ms.sort()
    p95 = gaps_ms[int(len(gaps_ms) * 0.95) - 1]
    print(
        f"{label}: n={len(gaps_ms)} median={statistics.median(gaps_ms):.3f} ms "
        f"p95={p95:.3f} ms max={gaps_ms[-1]:.3f} ms"
    )


async def main(calls: int) -> None:
    memory = MemoryBackend(calls)
    await drain(AgentLoop(memory, NoopToolbox(), max_steps=calls + 1))
    gaps = [(b - a) * 1000 for a, b in zip(memory.ended, memory.requested[1:], strict=True)]
    report("loop only (in-memory backend: Completion → next request)", gaps)

    fake = FakeAnthropic().start()
    try:
        tool = Reply(text="", tool_calls=[ToolCall("Noop", {"path": "src/app.tsx"})])
        fake.script(*([tool] * calls), Reply(text="done"))
        backend = Timed(
            AnthropicBackend(
                api_key=API_KEY,
                default_model="claude-sonnet-5-5",
                base_url=fake.url,
                max_retries=0,
            )
        )
        try:
            await drain(AgentLoop(backend, NoopToolbox(), max_steps=calls + 1))
        finally:
            await backend.aclose()
        seen = fake.requests
        report(
            "service (Completion → next request at the API)",
            [
                (s.received_at - done) * 1000
                for done, s in zip(backend.completed, seen[1:], strict=False)
            ],
        )
        report(
            "fake transport (message_stop sent → Completion)",
            [
                (done - s.stopped_at) * 1000
                for s, done in zip(seen, backend.completed, strict=True)
                if s.stopped_at is not None
            ],
        )
    finally:
        fake.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    asyncio.run(main(parser.parse_args().calls))
