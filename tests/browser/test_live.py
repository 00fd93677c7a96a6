"""The page while a run streams: cards that grow, a reload or a second tab that resumes, the
job in the URL after it ends, a refused creation, and the layout at 360 px and in dark mode.

Against the live service (real Redis, demo backend); expected text and cards come from the
agent's own offline reply, never from the page.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Request, expect

from tests.browser.pagekit import (
    BASE_INPUT,
    contrast,
    fill_form,
    luminance,
    offline_reply,
    open_page,
    shown_cards,
    stream_text,
    suggestions,
    wait_for_text,
)
from tests.conftest import StartLive, token

pytestmark = pytest.mark.browser

#: Dev mode (no auth configured): every tab of the browser is user "dev", as after a reload.
DEV = {"auth_jwt_secret": None}

FIRST_CARD_WHILE_STREAMING = """() => {
  const card = document.querySelector("#cards > li");
  if (!card || !card.querySelector("h3").textContent) return null;
  window.firstCard = card;
  return {
    state: document.getElementById("run").dataset.state,
    cards: document.querySelectorAll("#cards > li").length,
    visible: card.checkVisibility(),
    text: document.getElementById("stream-text").textContent.length,
  };
}"""


def first_card(page: Page) -> dict[str, Any]:
    """The page's state when the first card appears (read in one go, in the page)."""
    deadline = time.monotonic() + 15
    while (seen := page.evaluate(FIRST_CARD_WHILE_STREAMING)) is None:
        assert time.monotonic() < deadline, "no card appeared"
        page.wait_for_timeout(10)
    result: dict[str, Any] = seen
    return result


def job_in_url(page: Page) -> str:
    fragment: str = page.evaluate("location.hash")
    assert fragment.startswith("#job=")
    return fragment.removeprefix("#job=")


def test_cards_appear_while_the_output_streams_and_are_the_ones_at_complete(
    live: StartLive, page: Page
) -> None:
    server = live(**DEV, demo_tokens_per_second=150)  # about 3 s of output
    values = {**BASE_INPUT, "priorityLevel": "critical"}
    expected_text = offline_reply(values)
    open_page(page, server.url)
    fill_form(page, values)
    page.click("#generate")
    expect(page.locator("#run-heading")).to_be_focused()
    expect(page.locator("#run")).to_be_in_viewport()

    seen = first_card(page)
    assert seen["state"] == "streaming"
    assert seen["visible"] is True
    assert seen["cards"] < len(suggestions(expected_text))
    assert seen["text"] < len(expected_text)
    expect(page.locator("#raw")).not_to_have_attribute("open", "")  # raw text: behind a click

    expect(page.locator("#run")).to_have_attribute("data-state", "complete")
    assert stream_text(page) == expected_text
    assert shown_cards(page) == suggestions(expected_text)
    assert page.evaluate("document.querySelector('#cards > li') === window.firstCard"), (
        "the card on screen at complete is the one that grew"
    )
    page.click("#raw summary")
    expect(page.locator("#stream-text")).to_be_visible()


def test_a_reload_mid_stream_resumes_the_job_from_its_first_event(
    live: StartLive, page: Page
) -> None:
    server = live(**DEV, demo_tokens_per_second=60)
    expected_text = offline_reply(BASE_INPUT)
    creates: list[Request] = []
    page.on("request", lambda r: creates.append(r) if r.url.endswith("/jobs") else None)
    streams: list[Request] = []
    page.on("request", lambda r: streams.append(r) if "/stream" in r.url else None)
    open_page(page, server.url)
    fill_form(page, BASE_INPUT)
    page.click("#generate")
    wait_for_text(page, 300)
    job_id = job_in_url(page)

    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("#run")).to_be_visible()
    assert len(stream_text(page)) < len(expected_text), "the reload came mid-stream"
    expect(page.locator("#run")).to_have_attribute("data-state", "complete")
    assert stream_text(page) == expected_text, "nothing lost, nothing repeated"
    assert shown_cards(page) == suggestions(expected_text)
    assert job_in_url(page) == job_id
    assert len(creates) == 1, "the reload created no job"
    resumed = streams[-1]
    assert resumed.url.endswith(f"/jobs/{job_id}/stream")
    assert resumed.all_headers()["last-event-id"] == "0-0", "from the job's first stored event"


def test_a_second_tab_follows_the_same_job(live: StartLive, page: Page) -> None:
    server = live(**DEV, demo_tokens_per_second=60)
    expected_text = offline_reply(BASE_INPUT)
    open_page(page, server.url)
    fill_form(page, BASE_INPUT)
    page.click("#generate")
    wait_for_text(page, 200)
    url = page.url
    assert "#job=" in url

    other = page.context.new_page()
    try:
        other.goto(url)
        expect(other.locator("body")).to_have_attribute("data-ready", "true")
        first_card(other)  # it streams there too
        for tab in (page, other):
            expect(tab.locator("#run")).to_have_attribute("data-state", "complete")
            assert stream_text(tab) == expected_text
            assert shown_cards(tab) == suggestions(expected_text)
    finally:
        other.close()


def test_a_finished_job_shows_its_result_then_a_clear_message(live: StartLive, page: Page) -> None:
    server = live(**DEV, resume_grace_s=2, result_ttl_s=0)  # events: 2 s after the end; no record
    expected_text = offline_reply(BASE_INPUT)
    open_page(page, server.url)
    fill_form(page, BASE_INPUT)
    page.click("#generate")
    expect(page.locator("#run")).to_have_attribute("data-state", "complete")
    job_id = job_in_url(page)

    page.reload()  # at once: the events are still there
    expect(page.locator("#run")).to_have_attribute("data-state", "complete")
    assert stream_text(page) == expected_text
    assert shown_cards(page) == suggestions(expected_text)

    dev_token = httpx.post(f"{server.url}/dev/token").json()["token"]
    deadline = time.monotonic() + 15
    while (
        httpx.get(
            f"{server.url}/jobs/{job_id}", headers={"Authorization": f"Bearer {dev_token}"}
        ).status_code
        != 404
    ):
        assert time.monotonic() < deadline, "the job's events did not expire"
        time.sleep(0.2)
    page.reload()
    expect(page.locator("#run")).to_have_attribute("data-state", "error")
    expect(page.locator("#error-title")).to_have_text("This job is no longer available")
    expect(page.locator("#error-detail")).to_contain_text(job_id)
    expect(page.locator("#error-code")).to_have_text("JOB_NOT_FOUND")
    expect(page.locator("#cards > li")).to_have_count(0)


def test_a_refused_creation_says_no_job_was_created(live: StartLive, page: Page) -> None:
    server = live(rate_limit_create_per_min=1)
    bearer = token()
    used = httpx.post(
        f"{server.url}/jobs",
        json={"agent": "feature-suggestion", "input": BASE_INPUT},
        headers={"Authorization": f"Bearer {bearer}"},
    )
    assert used.status_code == 201  # the minute's one creation
    open_page(page, server.url, bearer=bearer)
    fill_form(page, BASE_INPUT)
    with page.expect_response("**/jobs") as refused:
        page.click("#generate")
    assert refused.value.status == 429

    expect(page.locator("#run")).to_have_attribute("data-state", "error")
    expect(page.locator("#error-title")).to_have_text("Request refused")
    detail = refused.value.json()["detail"]
    assert "; retry in" in detail
    expect(page.locator("#error-detail")).to_contain_text(detail.split("; retry in")[0])
    expect(page.locator("#error-detail")).to_contain_text("No job was created.")
    # Retry-After counts down, and Generate waits for it.
    counted = re.compile(r"Generate is available again in (\d+) s")
    expect(page.locator("#error-detail")).to_contain_text(counted)
    first = int(counted.search(page.inner_text("#error-detail"))[1])  # type: ignore[index]
    expect(page.locator("#error-detail")).not_to_contain_text(f"again in {first} s")
    later = int(counted.search(page.inner_text("#error-detail"))[1])  # type: ignore[index]
    assert later < first, "the countdown counts down"
    expect(page.locator("#generate")).to_be_disabled()
    expect(page.locator("#error-code")).to_have_text("RATE_LIMITED")
    expect(page.locator("#state-label")).to_have_text("Refused")
    expect(page.locator("#raw")).to_be_hidden()
    assert page.evaluate("location.hash") == ""


def test_the_layout_holds_at_360_px(live: StartLive, page: Page) -> None:
    server = live(**DEV)
    page.set_viewport_size({"width": 360, "height": 740})
    # One long unbreakable word (the demo's titles stay within their 200 characters).
    values = {**BASE_INPUT, "priorityLevel": "critical", "pageOrComponent": "x" * 150}
    open_page(page, server.url)
    fill_form(page, values)
    page.click("#generate")
    expect(page.locator("#run")).to_have_attribute("data-state", "complete")
    page.click("#raw summary")
    expect(page.locator("#stream-text")).to_be_visible()
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 360
    widths = page.evaluate(
        "[...document.querySelectorAll('#cards .card')].map((c) => c.getBoundingClientRect().right)"
    )
    assert len(widths) == 5
    assert max(widths) <= 360
    # The custom agent editor too: every control within the screen, with errors showing.
    page.click("#agent-panel summary")
    page.fill("#agent-temperature", "1.5")
    page.click("#agent-save")
    expect(page.locator("#agent-temperature-error")).to_be_visible()
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 360
    editor = page.evaluate(
        "[...document.querySelectorAll('#agent-editor input, #agent-editor select,"
        " #agent-editor textarea, #agent-editor button')]"
        ".map((c) => c.getBoundingClientRect().right)"
    )
    assert len(editor) >= 10
    assert max(editor) <= 360


COLOURS = """() => {
  const style = (selector) => getComputedStyle(document.querySelector(selector));
  return {
    page: style("body").backgroundColor,
    text: style("body").color,
    panel: style(".panel").backgroundColor,
    muted: style(".card .rationale").color,
    cardText: style(".card h3").color,
    link: style(".foot a").color,
    editorLabel: style("#agent-editor label").color,
    editorInput: style("#agent-name").color,
    editorInputBg: style("#agent-name").backgroundColor,
  };
}"""


def test_dark_mode_has_its_own_readable_colours(live: StartLive, browser: Browser) -> None:
    server = live(**DEV)
    colours = {}
    for scheme in ("light", "dark"):
        context = browser.new_context(color_scheme=scheme, viewport={"width": 800, "height": 900})
        try:
            tab = context.new_page()
            open_page(tab, server.url)
            fill_form(tab, BASE_INPUT)
            tab.click("#generate")
            expect(tab.locator("#run")).to_have_attribute("data-state", "complete")
            colours[scheme] = tab.evaluate(COLOURS)
        finally:
            context.close()
    light, dark = colours["light"], colours["dark"]
    for key in ("page", "text", "panel", "muted", "editorLabel"):
        assert light[key] != dark[key], key
    assert luminance(dark["page"]) < luminance(light["page"]), "dark is darker"
    for scheme, c in colours.items():
        assert contrast(c["text"], c["page"]) >= 7, scheme
        assert contrast(c["cardText"], c["panel"]) >= 7, scheme
        assert contrast(c["muted"], c["panel"]) >= 4.5, scheme
        assert contrast(c["link"], c["page"]) >= 4.5, scheme
        assert contrast(c["editorLabel"], c["panel"]) >= 7, scheme
        assert contrast(c["editorInput"], c["editorInputBg"]) >= 7, scheme


def test_with_a_pasted_token_the_job_in_the_url_resumes_once_it_is_pasted(
    live: StartLive, page: Page
) -> None:
    server = live(demo_tokens_per_second=400)  # real auth: a reload forgets the token
    expected_text = offline_reply(BASE_INPUT)
    bearer = token()
    created = httpx.post(
        f"{server.url}/jobs",
        json={"agent": "feature-suggestion", "input": BASE_INPUT},
        headers={"Authorization": f"Bearer {bearer}"},
    )
    job_id = created.json()["jobId"]
    page.goto(f"{server.url}/#job={job_id}")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("#auth-status")).to_contain_text(f"resumes job {job_id}")
    expect(page.locator("#run")).to_be_hidden()

    page.fill("#token", bearer)
    page.keyboard.press("Tab")
    expect(page.locator("#run")).to_have_attribute("data-state", "complete")
    assert stream_text(page) == expected_text
    assert shown_cards(page) == suggestions(expected_text)
