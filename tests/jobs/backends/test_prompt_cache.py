"""Prompt caching on a five-step run, against the fake Messages API's token accounting: the
same tokens are sent either way; with caching, the earlier turns are read from the cache
instead of billed again as input."""

from __future__ import annotations

import pytest

from bench.caching import STEPS, five_step_usage
from tests.support.fake_anthropic import FakeAnthropic

pytestmark = pytest.mark.anyio


async def test_caching_bills_the_repeated_prefix_as_cache_reads(
    fake_anthropic: FakeAnthropic,
) -> None:
    plain = await five_step_usage(fake_anthropic, prompt_cache=False)
    assert all("cache_control" not in r.body for r in fake_anthropic.requests)
    assert (plain.cache_read_input_tokens, plain.cache_creation_input_tokens) == (None, None)
    fake_anthropic.requests.clear()

    cached = await five_step_usage(fake_anthropic, prompt_cache=True)
    bodies = [r.body for r in fake_anthropic.requests]
    assert len(bodies) == len(STEPS) + 1
    assert all(b["cache_control"] == {"type": "ephemeral"} for b in bodies)
    reads = cached.cache_read_input_tokens or 0
    writes = cached.cache_creation_input_tokens or 0
    assert cached.input_tokens == 0
    assert reads + writes == plain.input_tokens, "the same tokens, billed differently"
    # Each step after the first reads everything the step before it sent.
    assert reads > writes
    assert 1.25 * writes + 0.1 * reads < 0.5 * plain.input_tokens
    assert cached.output_tokens == plain.output_tokens
