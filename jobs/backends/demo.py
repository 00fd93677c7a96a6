"""``demo``: an offline backend that streams each agent's deterministic stand-in answer.

It needs no network and no key, paces itself at ``tokens_per_second`` like a real model, and
reports plausible token counts, so the whole pipeline (throttling, resume, result parsing)
can be tried and tested offline.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, Iterator

from jobs.backends.base import BackendEvent, Completion, ModelRequest, TextDelta, TokenUsage

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

    async def stream(self, request: ModelRequest) -> AsyncGenerator[BackendEvent, None]:
        loop = asyncio.get_running_loop()
        # Pace against a schedule, not with fixed sleeps, so the rate holds under load.
        started = loop.time()
        count = 0
        for count, token in enumerate(iter_tokens(request.offline_reply), start=1):
            delay = started + (count - 1) * self.interval_s - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            yield TextDelta(token)
        yield Completion(
            model=request.model,
            usage=TokenUsage(
                input_tokens=(len(request.system) + len(request.prompt)) // 4 + 1,
                output_tokens=count,
            ),
            stop_reason="end_turn",
        )

    async def aclose(self) -> None:
        return None
