"""The lossless throttle: properties of the state machine, and the async driver."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobs.coalescer import Coalescer, coalesce


@dataclass(frozen=True)
class Flush:
    at: float
    text: str
    held: tuple[float, ...]  # arrival times of the deltas it carries
    final: bool = False


def simulate(window: float, arrivals: list[tuple[float, str]], end: float) -> list[Flush]:
    """Drive a Coalescer as the async driver does: timers fire at their deadline."""
    state = Coalescer(window)
    flushes: list[Flush] = []
    pending: list[float] = []

    def fire_timers(until: float) -> None:
        deadline = state.deadline
        if deadline is not None and deadline <= until:
            text = state.due(deadline)
            assert text is not None
            flushes.append(Flush(deadline, text, tuple(pending)))
            pending.clear()

    for at, text in arrivals:
        fire_timers(at)
        out = state.add(text, at)
        if out is not None:
            flushes.append(Flush(at, out, (at,)))
        elif text:
            pending.append(at)
    fire_timers(end)
    rest = state.drain()
    if rest is not None:
        flushes.append(Flush(end, rest, tuple(pending), final=True))
    return flushes


texts = st.text(min_size=0, max_size=6)
gaps = st.floats(min_value=0.0, max_value=0.35, allow_nan=False)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[float, list[tuple[float, str]], float]:
    window = draw(st.sampled_from([0.0, 0.01, 0.1, 0.25]))
    now = 0.0
    arrivals = []
    for gap, text in draw(st.lists(st.tuples(gaps, texts), max_size=60)):
        now += gap
        arrivals.append((now, text))
    end = now + draw(gaps)
    return window, arrivals, end


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_concatenation_is_preserved(scenario: tuple[float, list[tuple[float, str]], float]) -> None:
    window, arrivals, end = scenario
    flushes = simulate(window, arrivals, end)
    assert "".join(f.text for f in flushes) == "".join(text for _, text in arrivals)
    assert all(f.text for f in flushes), "no empty flush"


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_flushes_are_a_window_apart_except_the_final(
    scenario: tuple[float, list[tuple[float, str]], float],
) -> None:
    window, arrivals, end = scenario
    timed = [f.at for f in simulate(window, arrivals, end) if not f.final]
    for earlier, later in itertools.pairwise(timed):
        assert later - earlier >= window - 1e-9


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_no_delta_is_held_longer_than_a_window(
    scenario: tuple[float, list[tuple[float, str]], float],
) -> None:
    window, arrivals, end = scenario
    for flush in simulate(window, arrivals, end):
        for arrived in flush.held:
            assert flush.at - arrived <= window + 1e-9


def test_first_delta_after_a_quiet_period_goes_out_at_once() -> None:
    state = Coalescer(0.1)
    assert state.add("a", 0.0) == "a"
    assert state.add("b", 0.05) is None
    assert state.deadline == pytest.approx(0.1)
    assert state.due(0.09) is None
    assert state.due(0.1) == "b"
    # Quiet for more than a window: immediate again.
    assert state.add("c", 0.5) == "c"
    assert state.drain() is None


def test_negative_window_is_refused() -> None:
    with pytest.raises(ValueError, match="window_s"):
        Coalescer(-1)


async def _source(
    items: list[tuple[float, str]], fail: Exception | None = None
) -> AsyncIterator[str]:
    for delay, text in items:
        await asyncio.sleep(delay)
        yield text
    if fail is not None:
        raise fail


@pytest.mark.anyio
async def test_driver_preserves_text_across_windows() -> None:
    items = [(0.0, "a"), (0.001, "b"), (0.001, "c"), (0.06, "d"), (0.0, "e"), (0.03, "f")]
    out = [text async for text in coalesce(_source(items), 0.02)]
    assert "".join(out) == "abcdef"
    assert out[0] == "a", "the first delta is not held back"
    assert len(out) < len(items), "deltas inside a window were merged"


@pytest.mark.anyio
async def test_driver_flushes_buffered_text_before_raising() -> None:
    out: list[str] = []
    items = [(0.0, "a"), (0.0, "b"), (0.0, "c")]

    async def drain() -> None:
        async for text in coalesce(_source(items, RuntimeError("boom")), 10.0):
            out.append(text)

    with pytest.raises(RuntimeError, match="boom"):
        await drain()
    assert "".join(out) == "abc"
    assert out == ["a", "bc"]


@pytest.mark.anyio
async def test_closing_the_driver_stops_the_source() -> None:
    stopped = asyncio.Event()

    async def endless() -> AsyncIterator[str]:
        try:
            yield "x"
            await asyncio.Event().wait()
            yield "never"
        finally:
            stopped.set()

    flushes = coalesce(endless(), 0.01)
    assert await anext(flushes) == "x"
    waiting = asyncio.ensure_future(anext(flushes))
    await asyncio.sleep(0.02)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await flushes.aclose()
    assert stopped.is_set()
