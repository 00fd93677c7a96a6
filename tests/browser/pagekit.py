"""What the browser tests share: the form's input, the expected reply, and page helpers.

Expected output is what the demo backend streams for the input, run apart from the server on
the same workspace (the shipped sample), never what the page shows. Waits are conditions on
the page, not durations.
"""

from __future__ import annotations

import json
import time
from typing import Any

from playwright.sync_api import Page, expect

from jobs.tools import Workspace
from tests.support.demo import demo_text

BASE_INPUT = {
    "pageOrComponent": "checkout page",
    "featureType": "enhancement",
    "priorityLevel": "medium",
}


def offline_reply(raw: dict[str, Any]) -> str:
    """What the demo backend streams for this input on the live server's workspace (the
    shipped sample): the notes of its tool steps, each a line, then the JSON answer."""
    with Workspace.open(None) as workspace:
        return demo_text("feature-suggestion", raw, workspace)


def answer_of(reply: str) -> str:
    """The JSON answer at the end of a reply (after the tool steps' lines)."""
    return reply if reply.startswith("{") else reply[reply.index("\n{") + 1 :]


def fill_form(page: Page, values: dict[str, str]) -> None:
    page.fill("#pageOrComponent", values["pageOrComponent"])
    page.select_option("#featureType", values["featureType"])
    page.select_option("#priorityLevel", values["priorityLevel"])
    page.fill("#additionalContext", values.get("additionalContext", ""))


def open_page(page: Page, url: str, *, bearer: str | None = None) -> None:
    page.goto(url + "/")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    if bearer is not None:
        page.fill("#token", bearer)


def stream_text(page: Page) -> str:
    return page.text_content("#stream-text") or ""


def wait_for_text(page: Page, at_least: int) -> None:
    """Until the page shows ``at_least`` characters of output (checked in the page's own loop:
    ``wait_for_function`` would need eval, which the page's CSP forbids)."""
    deadline = time.monotonic() + 15
    while len(stream_text(page)) < at_least:
        assert time.monotonic() < deadline, f"the page showed {len(stream_text(page))} chars"
        page.wait_for_timeout(20)


def suggestions(reply: str) -> list[dict[str, Any]]:
    """The suggestions of a reply, as the cards must show them."""
    result: list[dict[str, Any]] = json.loads(answer_of(reply))["suggestions"]
    return result


def shown_cards(page: Page) -> list[dict[str, Any]]:
    """The cards on the page, read back field by field."""
    cards: list[dict[str, Any]] = page.evaluate(
        """() => [...document.querySelectorAll("#cards > li > .card")].map((card) => ({
          title: card.querySelector("h3").textContent,
          rationale: card.querySelector(".rationale").textContent,
          description: card.querySelectorAll("p")[1].textContent,
          implementationConsiderations:
            [...card.querySelectorAll("ul > li")].map((li) => li.textContent),
        }))"""
    )
    return cards


def luminance(css: str) -> float:
    """WCAG relative luminance of an ``rgb(r, g, b)`` colour."""
    r, g, b = (int(part) for part in css[css.index("(") + 1 : css.index(")")].split(",")[:3])

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(one: str, other: str) -> float:
    high, low = sorted((luminance(one), luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)
