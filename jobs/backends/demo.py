"""``demo``: an offline backend that acts like a small scripted model.

It needs no network and no key. It answers any request from the request itself
(``jobs.backends.demo_script``): when the request offers the workspace tools, it first looks
for the prompt's subject (Glob, Grep, then Read of the best matches, one step each, driven by
what the real tools returned), then answers from what it read; a JSON document that validates
against the request's ``output_schema`` when there is one. It paces its text at
``tokens_per_second`` like a real model, honours ``max_tokens`` roughly (~4 characters a
token) and reports plausible token counts, so the whole pipeline (tool steps, throttling,
resume, result parsing) can be tried and tested offline.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, Iterator

from jobs.backends.base import (
    AssistantTurn,
    BackendEvent,
    Completion,
    ModelRequest,
    TextDelta,
    TokenUsage,
)
from jobs.backends.demo_script import answer, tool_calls

# Words with their trailing spaces and punctuation: roughly how a tokenizer splits prose.
_TOKEN_RE = re.compile(r"\s*\S{1,8}\s*|\s+")


def split_tokens(text: str) -> list[str]:
    """Split ``text`` into token-sized pieces whose concatenation is ``text``."""
    return _TOKEN_RE.findall(text)


def iter_tokens(text: str) -> Iterator[str]:
    """:func:`split_tokens`, one at a time (a run holds no list of all its tokens)."""
    for match in _TOKEN_RE.finditer(text):
        yield match.group()


class DemoBackend:
    name = "demo"
    default_model = "demo"

    def __init__(self, *, tokens_per_second: float) -> None:
        if tokens_per_second <= 0:
            raise ValueError("tokens_per_second must be > 0")
        self.interval_s = 1.0 / tokens_per_second

    def continues(self, model: str) -> bool:
        """Always: the demo's answer is a function of the request, so it resumes after any
        prefix of it."""
        return True

    async def stream(self, request: ModelRequest) -> AsyncGenerator[BackendEvent, None]:
        step = sum(1 for turn in request.turns if isinstance(turn, AssistantTurn))
        text, calls = tool_calls(request, step)
        stop = "tool_use" if calls else "end_turn"
        if not calls:
            text = answer(request)
        limit = request.max_tokens * 4
        if len(text) > limit:
            text, stop = text[:limit], "max_tokens"
        text = text[len(request.prefill) :] if text.startswith(request.prefill) else text
        loop = asyncio.get_running_loop()
        # Pace against a schedule, not with fixed sleeps, so the rate holds under load.
        started = loop.time()
        count = 0
        for count, token in enumerate(iter_tokens(text), start=1):
            delay = started + (count - 1) * self.interval_s - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            yield TextDelta(token)
        for call in calls if stop == "tool_use" else ():
            yield call
        yield Completion(
            model=request.model,
            usage=TokenUsage(
                input_tokens=(len(request.system) + len(request.prompt)) // 4 + 1,
                output_tokens=count,
            ),
            stop_reason=stop,
            cut_short=stop == "max_tokens",
        )

    async def aclose(self) -> None:
        return None
