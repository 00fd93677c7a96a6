"""A fake toolbox (the workspace tools' stand-in) and a backend that plays scripted steps.

:class:`FakeToolbox` behaves by what the model asked (its input), so a scripted model reply
decides what each call does:

- ``{"path": p}``: reads ``p`` (ok, ``files_read`` ``(p,)``);
- ``{"refuse": why}``: refuses (``ok`` false), as a tool refuses a path outside its workspace;
- ``{"fail": True}``: raises, as a tool with a bug would;
- ``{"delay_s": s}``: answers after ``s`` seconds;
- ``{"after": p}``: answers once a read of ``p`` has answered (an order that needs no clock);
- ``{"block": True}``: never answers; ``started`` is set when it runs and ``cancelled`` when
  its task is cancelled (``threading.Event`` s: a live server runs in another thread).

Every call is recorded in ``calls`` (name, input) in the order they started.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from typing import Any

from jobs.backends import BackendEvent, Completion, ModelRequest, TextDelta, TokenUsage, ToolUse


@dataclass(frozen=True)
class FakeResult:
    ok: bool
    content: str
    summary: str
    files_read: tuple[str, ...] = ()


@dataclass
class FakeToolbox:
    calls: list[tuple[str, object]] = field(default_factory=list)
    started: threading.Event = field(default_factory=threading.Event)
    cancelled: threading.Event = field(default_factory=threading.Event)
    _read: dict[str, asyncio.Event] = field(default_factory=dict)

    def _answered(self, path: str) -> asyncio.Event:
        return self._read.setdefault(path, asyncio.Event())

    def definitions(self, names: Sequence[str]) -> list[dict[str, Any]]:
        return [
            {
                "name": name,
                "description": f"The fake {name} tool.",
                "input_schema": {"type": "object", "properties": {}},
            }
            for name in names
        ]

    async def run(self, name: str, tool_input: object) -> FakeResult:
        self.calls.append((name, tool_input))
        asked: dict[str, Any] = tool_input if isinstance(tool_input, dict) else {}
        if asked.get("fail"):
            raise RuntimeError("a bug in the tool, with a secret: /etc/shadow")
        if asked.get("block"):
            self.started.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        if "delay_s" in asked:
            await asyncio.sleep(float(asked["delay_s"]))
        if "after" in asked:
            await self._answered(str(asked["after"])).wait()
        if "refuse" in asked:
            return FakeResult(False, f"refused: {asked['refuse']}", "refused")
        path = str(asked.get("path", "."))
        self._answered(path).set()
        return FakeResult(True, f"<contents of {path}>", f"read {path}", (path,))


def completion(stop_reason: str, input_tokens: int = 10, output_tokens: int = 5) -> Completion:
    return Completion(
        model="steps-model",
        usage=TokenUsage(input_tokens=input_tokens, output_tokens=output_tokens),
        stop_reason=stop_reason,
    )


@dataclass
class StepsBackend:
    """Plays one scripted list of events per model call (the last repeats); records each
    request, so a test can read the conversation the loop sent."""

    steps: Sequence[Sequence[BackendEvent]]
    name: str = "steps"
    default_model: str = "model-a"
    requests: list[ModelRequest] = field(default_factory=list)
    closed: int = 0

    async def stream(self, request: ModelRequest) -> AsyncGenerator[BackendEvent, None]:
        index = min(len(self.requests), len(self.steps) - 1)
        self.requests.append(request)
        try:
            for item in self.steps[index]:
                await asyncio.sleep(0)
                yield item
        finally:
            self.closed += 1

    async def aclose(self) -> None:
        return None


def tool_step(
    *uses: ToolUse, text: str = "", usage: tuple[int, int] = (10, 5)
) -> list[BackendEvent]:
    """A step in which the model writes ``text`` and calls ``uses``."""
    items: list[BackendEvent] = [TextDelta(text)] if text else []
    return [*items, *uses, completion("tool_use", *usage)]


def answer_step(text: str, usage: tuple[int, int] = (10, 5)) -> list[BackendEvent]:
    return [TextDelta(text), completion("end_turn", *usage)]
