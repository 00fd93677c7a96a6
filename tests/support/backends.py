"""Scripted model backends for tests: each records what happened to its streams."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field

from jobs.backends import BackendEvent, Completion, ModelRequest, TextDelta, TokenUsage


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
    default_model: str = "model-a"
    started: int = 0
    closed: int = 0
    requests: list[ModelRequest] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    async def stream(self, request: ModelRequest) -> AsyncGenerator[BackendEvent, None]:
        self.started += 1
        self.requests.append(request)
        try:
            for chunk in self.chunks:
                if self.interval_s:
                    await asyncio.sleep(self.interval_s)
                yield TextDelta(chunk)
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


@dataclass
class GatedBackend:
    """Streams ``before``, waits until the test sets ``release`` (a ``threading.Event``: the
    live server runs in another thread), then streams ``after`` and completes. A test can so
    act at a known point of a run: mid-stream, with part of the text delivered."""

    before: Sequence[str] = ("Once ", "upon ", "a ", "time, ")
    after: Sequence[str] = ("there ", "was ", "a ", "stream.")
    release: threading.Event = field(default_factory=threading.Event)
    name: str = "gated"
    default_model: str = "model-a"

    @property
    def text(self) -> str:
        return "".join([*self.before, *self.after])

    async def stream(self, request: ModelRequest) -> AsyncGenerator[BackendEvent, None]:
        for chunk in self.before:
            yield TextDelta(chunk)
        while not self.release.is_set():
            await asyncio.sleep(0.01)
        for chunk in self.after:
            yield TextDelta(chunk)
        yield Completion(
            model="gated-model",
            usage=TokenUsage(input_tokens=3, output_tokens=len(self.before) + len(self.after)),
            stop_reason="end_turn",
        )

    async def aclose(self) -> None:
        return None
