"""Scripted model backends for tests: each records what happened to its streams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field

from jobs.agents import Completion, ModelRequest, TokenUsage


@dataclass
class ScriptedBackend:
    """Streams ``chunks`` ``interval_s`` apart, then raises ``fail_with`` or completes.

    ``started`` counts streams begun; ``closed`` counts streams closed (normally or not), so a
    test can prove that a cancelled run closed its upstream stream.
    """

    chunks: Sequence[str] = ("Hello", ", ", "world", "!")
    interval_s: float = 0.0
    fail_with: Exception | None = None
    hang: bool = False
    name: str = "scripted"
    started: int = 0
    closed: int = 0
    requests: list[ModelRequest] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    async def stream(self, request: ModelRequest) -> AsyncGenerator[str | Completion, None]:
        self.started += 1
        self.requests.append(request)
        try:
            for chunk in self.chunks:
                if self.interval_s:
                    await asyncio.sleep(self.interval_s)
                yield chunk
            if self.hang:
                await asyncio.Event().wait()
            if self.fail_with is not None:
                raise self.fail_with
            yield Completion(
                model="scripted-model",
                usage=TokenUsage(input_tokens=7, output_tokens=len(self.chunks)),
                stop_reason="end_turn",
            )
        finally:
            self.closed += 1

    async def aclose(self) -> None:
        return None
