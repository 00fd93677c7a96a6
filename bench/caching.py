"""What prompt caching saves on a five-step run: input tokens billed with and without it.

``python -m bench.caching``: one agent run of five steps (four steps of workspace tool calls
on the shipped sample tree, then the answer) through the real anthropic SDK against the fake
Messages API in its token-accounting mode (usage counted from each request as the API bills
it, ~4 characters a token), once with the top-level ``cache_control`` the backend sends and
once without. Prints the tokens by kind summed over the steps, and the input billed in
"input-token equivalents" at the API's multipliers (cache writes 1.25x, reads 0.1x).
"""

from __future__ import annotations

import asyncio
from typing import Any

from jobs.backends.anthropic import AnthropicBackend
from jobs.backends.base import ModelRequest, TokenUsage
from jobs.running.loop import AgentLoop, Outcome
from jobs.tools import TOOL_NAMES, Workspace
from tests.support.fake_anthropic import FakeAnthropic, Reply, TokenAccounting, ToolCall

STEPS: list[list[ToolCall]] = [
    [ToolCall("Glob", {"pattern": "**/*.tsx"})],
    [ToolCall("Grep", {"pattern": "checkout", "-i": True, "output_mode": "content"})],
    [ToolCall("Read", {"file_path": "src/pages/checkout.tsx"})],
    [ToolCall("Read", {"file_path": "src/pages/cart.tsx"})],
]
SYSTEM = "You review a web shop's source and suggest features. " * 20


async def five_step_usage(fake: FakeAnthropic, *, prompt_cache: bool) -> TokenUsage:
    """The summed usage of one five-step run, as the fake's accounting billed it."""
    fake.accounting = TokenAccounting()
    fake.script(*(Reply(text="Looking.", tool_calls=calls) for calls in STEPS), Reply("Done."))
    backend = AnthropicBackend(
        api_key="sk-ant-fake-0123456789-do-not-leak",
        default_model="claude-sonnet-5-5",
        base_url=fake.url,
        max_retries=0,
        prompt_cache=prompt_cache,
    )
    request = ModelRequest("claude-sonnet-5-5", SYSTEM, "Suggest a checkout feature.", 512)
    try:
        with Workspace.open(None) as workspace:
            loop = AgentLoop(backend, workspace, max_steps=len(STEPS) + 1)
            outcome: Any = None
            async for event in loop.run(request, TOOL_NAMES):
                outcome = event
    finally:
        await backend.aclose()
    assert isinstance(outcome, Outcome), outcome
    assert outcome.steps == len(STEPS) + 1
    return outcome.completion.usage


def billed_input(usage: TokenUsage) -> float:
    """Input in input-token equivalents: writes at 1.25x, reads at 0.1x."""
    writes = usage.cache_creation_input_tokens or 0
    reads = usage.cache_read_input_tokens or 0
    return usage.input_tokens + 1.25 * writes + 0.1 * reads


async def measure() -> None:
    fake = FakeAnthropic().start()
    try:
        rows = [(cache, await five_step_usage(fake, prompt_cache=cache)) for cache in (False, True)]
    finally:
        fake.stop()
    print(
        "| caching | input | cache writes | cache reads | billed input (input-token equivalents) |"
    )
    print("|---|---|---|---|---|")
    for cache, usage in rows:
        print(
            f"| {'on' if cache else 'off'} | {usage.input_tokens} | "
            f"{usage.cache_creation_input_tokens or 0} | {usage.cache_read_input_tokens or 0} | "
            f"{billed_input(usage):.0f} |"
        )


if __name__ == "__main__":
    asyncio.run(measure())
