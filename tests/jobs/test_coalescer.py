"""The lossless throttle: properties of the state machine, and the async driver."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass

import pytest
import uvloop
from hypothesis import given, settings
from hypothesis import strategies as st

from jobs.delivery.coalescer import Coalescer, Throttle


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


@pytest.mark.anyio
async def test_throttle_merges_within_a_window_and_flushes_on_close() -> None:
    flushes: list[tuple[float, str]] = []
    loop = asyncio.get_running_loop()
    throttle = Throttle(0.05, lambda text: flushes.append((loop.time(), text)))
    started = loop.time()
    throttle.add("a")  # after a quiet period: at once
    assert [text for _, text in flushes] == ["a"]
    throttle.add("b")
    throttle.add("c")  # inside the window: held for its end
    assert len(flushes) == 1
    await asyncio.sleep(0.12)
    assert [text for _, text in flushes] == ["a", "bc"]
    assert flushes[1][0] - started >= 0.05, "held until the window ended"
    throttle.add("d")  # a window has passed since the last flush: at once
    throttle.add("e")
    throttle.close()  # the rest goes out now, window or not
    assert "".join(text for _, text in flushes) == "abcde"
    assert flushes[-1][1] == "e"
    await asyncio.sleep(0.08)
    assert "".join(text for _, text in flushes) == "abcde", "no timer fires after close"


@pytest.mark.anyio
async def test_throttle_with_a_zero_window_flushes_every_delta() -> None:
    flushes: list[str] = []
    throttle = Throttle(0, flushes.append)
    for text in "hello":
        throttle.add(text)
    throttle.close()
    assert flushes == list("hello")


def test_a_window_ends_when_its_timer_fires_a_little_early() -> None:
    state = Coalescer(0.1)
    assert state.add("a", 0.0) == "a"
    assert state.add("b", 0.03) is None
    assert state.end_window(0.0996) == "b", "the timer armed at the deadline ends the window"
    assert state.add("c", 0.15) is None, "the next window counts from the deadline (0.1)"
    assert state.end_window(0.21) == "c"
    assert state.add("d", 0.25) is None, "a late timer's window counts from when it fired"
    assert state.deadline == pytest.approx(0.31)


def test_the_throttle_arms_one_timer_per_window_on_uvloop() -> None:
    """uvloop's timers have millisecond resolution, so a timer due in under a millisecond
    fires at once, before the loop's clock reaches its deadline. Re-checking the deadline
    there re-armed the timer again and again until the clock caught up (seen: ~190 timer
    callbacks per 100 ms window)."""
    fires = 0
    flushes: list[str] = []

    class Counted(Throttle):
        __slots__ = ()

        def _on_timer(self) -> None:
            nonlocal fires
            fires += 1
            super()._on_timer()

    async def tokens() -> None:
        loop = asyncio.get_running_loop()
        throttle = Counted(0.1, flushes.append)  # the default STREAM_THROTTLE_MS
        started = loop.time()
        for i in range(50):  # 50 tokens a second for a second: about 10 windows
            await asyncio.sleep(max(0.0, started + i * 0.02 - loop.time()))
            throttle.add("x")
        throttle.close()

    uvloop.run(tokens())
    assert "".join(flushes) == "x" * 50
    assert fires <= len(flushes), f"{fires} timer callbacks for {len(flushes)} flushes"
