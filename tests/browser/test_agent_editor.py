"""The custom agent editor: an empty form without one, the service's own rules checked in the
page, a 422 of the service shown under its field, save, switch off and delete, and a save that
reaches the next run (its results name the custom agent and version).

Against the live service (real Redis, demo backend, dev mode: the page's user is "dev"); what
was stored is read back with `GET /me/agents/feature-suggestion`, never from the page.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Request, Route, expect

from tests.browser.pagekit import BASE_INPUT, fill_form, open_page
from tests.conftest import StartLive
from tests.support.live import LiveServer

pytestmark = pytest.mark.browser

DEV = {"auth_jwt_secret": None}
AGENT_PATH = "/me/agents/feature-suggestion"


def open_editor(page: Page) -> None:
    """The editor panel is closed on load (it loads what it shows when first opened)."""
    page.click("#agent-panel summary")
    expect(page.locator("#agent-editor")).to_be_visible()


def dev_headers(url: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {httpx.post(f'{url}/dev/token').json()['token']}"}


def stored(server: LiveServer) -> httpx.Response:
    return httpx.get(server.url + AGENT_PATH, headers=dev_headers(server.url))


def puts(page: Page) -> list[Request]:
    sent: list[Request] = []
    page.on("request", lambda r: sent.append(r) if r.method == "PUT" else None)
    return sent


def run_job(page: Page, server: LiveServer) -> dict[str, Any]:
    """Generate from the page; the job as `GET /jobs/{id}` shows it while it runs (a finished
    job's status is only its id and status)."""
    fill_form(page, BASE_INPUT)
    page.click("#generate")
    expect(page.locator("#run")).to_have_attribute("data-state", "streaming")
    job_id = page.evaluate("location.hash").removeprefix("#job=")
    answer = httpx.get(f"{server.url}/jobs/{job_id}", headers=dev_headers(server.url))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert body["status"] == "running", body
    expect(page.locator("#run")).to_have_attribute("data-state", "complete")
    return body


def test_no_agent_is_an_empty_form_and_bad_fields_are_refused_in_the_page(
    live: StartLive, page: Page
) -> None:
    server = live(**DEV)
    sent = puts(page)
    open_page(page, server.url)
    open_editor(page)
    expect(page.locator("#agent-editor")).to_be_visible()
    expect(page.locator("#agent-status")).to_contain_text("You have no custom agent")
    expect(page.locator("#agent-name")).to_have_value("")
    expect(page.locator("#agent-delete")).to_be_disabled()
    expect(page.locator("#agent-isActive")).to_be_checked()

    page.fill("#agent-temperature", "1.5")
    page.fill("#agent-role", "r" * 201)  # the schema's maxLength is 200
    page.click("#agent-save")
    expect(page.locator("#agent-name-error")).to_have_text("This field is required.")
    expect(page.locator("#agent-temperature-error")).to_have_text("Use a number from 0 to 1.")
    expect(page.locator("#agent-role-error")).to_contain_text("at most 200")
    expect(page.locator("#agent-name")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#agent-name")).to_be_focused()
    page.fill("#agent-temperature", "warm")
    page.click("#agent-save")
    expect(page.locator("#agent-temperature-error")).to_have_text("Enter a number.")
    assert sent == [], "nothing invalid was sent"
    assert stored(server).status_code == 404


def test_a_422_of_the_service_appears_under_its_field(live: StartLive, page: Page) -> None:
    server = live(**DEV)
    open_page(page, server.url)
    open_editor(page)

    def as_text(route: Route) -> None:
        # What an older page might send: the service's rules refuse a temperature as text.
        body = json.loads(route.request.post_data or "{}")
        route.continue_(post_data=json.dumps(body | {"temperature": "0.5"}))

    page.route("**" + AGENT_PATH, lambda route: as_text(route)
               if route.request.method == "PUT" else route.continue_())  # fmt: skip
    page.fill("#agent-name", "Checkout critic")
    page.fill("#agent-temperature", "0.5")
    with page.expect_response("**" + AGENT_PATH) as answer:
        page.click("#agent-save")
    assert answer.value.status == 422
    expect(page.locator("#agent-temperature-error")).not_to_be_empty()
    expect(page.locator("#agent-temperature")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#agent-name-error")).to_be_empty()
    assert stored(server).status_code == 404


def test_save_reaches_the_next_run_switch_off_and_delete(live: StartLive, page: Page) -> None:
    server = live(**DEV, demo_tokens_per_second=100)  # a few seconds: running when asked
    open_page(page, server.url)
    open_editor(page)
    page.fill("#agent-name", "  Checkout critic ")
    page.fill("#agent-role", "a conversion-focused product manager")
    page.fill("#agent-focus", "mobile checkout friction")
    page.fill("#agent-temperature", "0.3")
    page.select_option("#agent-effort", "high")
    page.uncheck("#agent-tools input[value='Glob']")
    page.click("#agent-save")
    expect(page.locator("#agent-status")).to_contain_text("Saved: Version 1, active")
    saved = stored(server).json()
    assert {k: saved[k] for k in ("name", "role", "focus", "temperature", "effort", "tools")} == {
        "name": "Checkout critic",
        "role": "a conversion-focused product manager",
        "focus": "mobile checkout friction",
        "temperature": 0.3,
        "effort": "high",
        "tools": ["Grep", "Read"],
    }
    assert saved["isActive"] is True
    assert saved["version"] == 1

    first = run_job(page, server)
    assert first["customAgent"] == {"name": "Checkout critic", "version": 1}
    expect(page.locator("#custom-agent")).to_have_text("Custom agent: Checkout critic (version 1)")

    page.reload()  # the editor shows what is stored
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    open_editor(page)
    expect(page.locator("#agent-name")).to_have_value("Checkout critic")
    expect(page.locator("#agent-temperature")).to_have_value("0.3")
    expect(page.locator("#agent-tools input[value='Glob']")).not_to_be_checked()
    page.uncheck("#agent-isActive")
    page.click("#agent-save")
    expect(page.locator("#agent-status")).to_contain_text("Version 2, switched off")
    assert stored(server).json()["isActive"] is False
    second = run_job(page, server)
    assert "customAgent" not in second
    expect(page.locator("#custom-agent")).to_be_hidden()

    page.click("#agent-delete")
    expect(page.locator("#agent-status")).to_contain_text("Deleted.")
    expect(page.locator("#agent-name")).to_have_value("")
    assert stored(server).status_code == 404
