"""The agent's tool steps on the page: live, in order, failures shown as failures, the files
read at `complete`, and a reload mid-run that shows every step once.

The live service (real Redis) runs a scripted model (StepsBackend) over a fake toolbox, so the
steps and their summaries are the script's and the toolbox's, never the page's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest
from playwright.sync_api import Browser, Page, expect

from jobs.backends import BackendEvent, ModelRequest, TextDelta, ToolUse
from tests.browser.pagekit import (
    BASE_INPUT,
    answer_of,
    contrast,
    fill_form,
    offline_reply,
    open_page,
    shown_cards,
    stream_text,
    suggestions,
)
from tests.conftest import StartLive
from tests.support.tools import FakeToolbox, StepsBackend, answer_step, tool_step

pytestmark = pytest.mark.browser

DEV = {"auth_jwt_secret": None}
PAGE = "src/pages/checkout.tsx"
STYLES = "src/styles/checkout.css"

STEP_TEXTS = """() => [...document.querySelectorAll("#steps > li")].map((li) => ({
  state: li.dataset.state,
  text: li.textContent,
}))"""


def scripted(delay_s: float) -> StepsBackend:
    """Three model steps: a slow read, then a refused search and a second read, then the
    answer (the demo's own reply for the form's input)."""
    return StepsBackend(
        [
            tool_step(ToolUse("t1", "Read", {"path": PAGE, "delay_s": delay_s})),
            tool_step(
                ToolUse("t2", "Grep", {"pattern": "checkout", "refuse": "pattern too costly"}),
                ToolUse("t3", "Read", {"path": STYLES, "delay_s": delay_s}),
            ),
            answer_step(answer_of(offline_reply(BASE_INPUT))),
        ]
    )


def steps_on(page: Page) -> list[dict[str, str]]:
    shown: list[dict[str, str]] = page.evaluate(STEP_TEXTS)
    return shown


EXPECTED_DONE = [
    {"state": "done", "text": f"done Reading {PAGE}: read"},  # the path once, not twice
    {"state": "failed", "text": 'failed Searching for "checkout": refused'},
    {"state": "done", "text": f"done Reading {STYLES}: read"},
]


def test_steps_appear_live_in_order_and_a_refused_one_is_shown_failed(
    live: StartLive, page: Page
) -> None:
    server = live(**DEV, backend=scripted(1.0), workspace=FakeToolbox())
    open_page(page, server.url)
    fill_form(page, BASE_INPUT)
    page.click("#generate")

    first = page.locator("#steps > li").first
    expect(first).to_have_attribute("data-state", "running")
    expect(first).to_contain_text(f"Reading {PAGE}")
    expect(page.locator("#run")).to_have_attribute("data-state", "streaming")
    expect(page.locator("#steps")).to_be_visible()
    expect(page.locator("#steps")).to_have_attribute("aria-live", "polite")
    # The refused search is marked failed while the run is still going (the second read waits).
    failed = page.locator("#steps > li").nth(1)
    expect(failed).to_have_attribute("data-state", "failed")
    assert page.get_attribute("#run", "data-state") == "streaming"

    expect(page.locator("#run")).to_have_attribute("data-state", "complete")
    assert steps_on(page) == EXPECTED_DONE
    # "failed" is text, not only a colour: screen readers read it.
    expect(failed.locator(".step-mark")).to_have_text("failed")
    expect(page.locator("#files-read li")).to_have_text([PAGE, STYLES])
    assert stream_text(page) == answer_of(offline_reply(BASE_INPUT))


def test_a_reload_mid_run_shows_every_step_once(live: StartLive, page: Page) -> None:
    server = live(**DEV, backend=scripted(2.0), workspace=FakeToolbox())
    open_page(page, server.url)
    fill_form(page, BASE_INPUT)
    page.click("#generate")
    expect(page.locator("#steps > li").first).to_have_attribute("data-state", "done")
    expect(page.locator("#steps > li")).to_have_count(3)  # the last read is still running
    assert page.get_attribute("#run", "data-state") == "streaming"

    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("#steps > li")).to_have_count(3)
    assert page.get_attribute("#run", "data-state") != "complete", "the reload came mid-run"
    expect(page.locator("#run")).to_have_attribute("data-state", "complete")
    assert steps_on(page) == EXPECTED_DONE, "every step once, in order"
    expect(page.locator("#files-read li")).to_have_text([PAGE, STYLES])


PHRASES = """async (calls) => {
  const { phrase } = await import("/static/steps.js");
  return calls.map(([name, input]) => phrase(name, input));
}"""


def test_each_tool_call_is_phrased_from_its_tool_and_input(live: StartLive, page: Page) -> None:
    server = live(**DEV)
    open_page(page, server.url)
    calls = [
        ["Glob", {"pattern": "src/**/*.tsx"}],
        ["Grep", {"pattern": "checkout", "glob": "*.tsx"}],
        ["Read", {"path": PAGE, "offset": 10}],
        ["Read", {"path": 7}],  # the model's input is untrusted: no path, no made-up one
        ["Glob", None],
        ["Fetch", {"url": "https://example.com"}],
    ]
    assert page.evaluate(PHRASES, calls) == [
        "Looking for files matching src/**/*.tsx",
        'Searching for "checkout"',
        f"Reading {PAGE}",
        "Using Read",
        "Using Glob",
        "Using Fetch",
    ]


MARKS = """() => {
  const colour = (selector) => getComputedStyle(document.querySelector(selector)).color;
  return {
    panel: getComputedStyle(document.querySelector(".panel")).backgroundColor,
    done: colour('#steps > li[data-state="done"] .step-mark'),
    failed: colour('#steps > li[data-state="failed"] .step-mark'),
    summary: colour("#steps .step-summary"),
  };
}"""


def test_step_marks_are_readable_in_light_and_dark(live: StartLive, browser: Browser) -> None:
    for scheme in ("light", "dark"):
        server = live(**DEV, backend=scripted(0.0), workspace=FakeToolbox())
        context = browser.new_context(color_scheme=scheme, viewport={"width": 360, "height": 740})
        try:
            tab = context.new_page()
            open_page(tab, server.url)
            fill_form(tab, BASE_INPUT)
            tab.click("#generate")
            expect(tab.locator("#run")).to_have_attribute("data-state", "complete")
            colours = tab.evaluate(MARKS)
            assert tab.evaluate("document.scrollingElement.scrollWidth") <= 360, scheme
        finally:
            context.close()
        assert colours["done"] != colours["failed"], scheme
        for key in ("done", "failed", "summary"):
            assert contrast(colours[key], colours["panel"]) >= 4.5, (scheme, key)


class PacedSteps(StepsBackend):
    """StepsBackend with a pause before each event, so the page sees the answer grow."""

    async def stream(self, request: ModelRequest) -> AsyncGenerator[BackendEvent, None]:
        async for item in super().stream(request):
            await asyncio.sleep(0.05)
            yield item


def test_notes_before_a_tool_call_do_not_stop_the_live_cards(live: StartLive, page: Page) -> None:
    notes = "Let me look at the checkout page first."
    reply = answer_of(offline_reply(BASE_INPUT))
    chunks = [reply[i : i + 40] for i in range(0, len(reply), 40)]
    backend = PacedSteps(
        [
            tool_step(ToolUse("t1", "Read", {"path": PAGE}), text=notes),
            [*(TextDelta(chunk) for chunk in chunks), *answer_step("")[1:]],
        ]
    )
    server = live(**DEV, backend=backend, workspace=FakeToolbox(), stream_throttle_ms=50)
    open_page(page, server.url)
    fill_form(page, BASE_INPUT)
    page.click("#generate")
    expect(page.locator("#cards > li h3").first).not_to_be_empty()
    assert page.get_attribute("#run", "data-state") == "streaming", "a card while it streams"
    expect(page.locator("#run")).to_have_attribute("data-state", "complete")
    assert stream_text(page) == notes + reply
    assert shown_cards(page) == suggestions(reply)
