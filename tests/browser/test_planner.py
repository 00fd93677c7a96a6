"""The feature planner page in a real browser, against the live service (real Redis, demo
backend): the happy path to cards, validation, cancel, a network drop mid-stream, auth errors.

Expected output comes from the agent's own offline reply (what the demo backend streams), never
from the page. Waits are conditions on the page (Playwright's auto-waiting), not durations.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Request, Route, expect

from jobs.backends.demo import split_tokens
from tests.browser.pagekit import (
    BASE_INPUT,
    fill_form,
    offline_reply,
    open_page,
    stream_text,
    suggestions,
    wait_for_text,
)
from tests.conftest import StartLive, token
from tests.support.proxy import Proxy as TcpProxy

pytestmark = pytest.mark.browser


def record_states(page: Page) -> None:
    """Record every change of ``#run[data-state]``; ``states(page)`` lists the values."""
    page.evaluate(
        """() => {
          window.previousStates = [];
          new MutationObserver((changes) => {
            for (const change of changes) window.previousStates.push(change.oldValue);
          }).observe(document.getElementById("run"),
                     {attributeFilter: ["data-state"], attributeOldValue: true});
        }"""
    )


def states(page: Page) -> list[str]:
    """Every state ``#run`` has been in since ``record_states``, in order (a state set twice
    in a row counts twice)."""
    values: list[str] = page.evaluate(
        "[...window.previousStates, document.getElementById('run').dataset.state]"
    )
    return values


@pytest.fixture
def stream_requests(page: Page) -> list[Request]:
    """Every request the page makes for a job's event stream, in order."""
    requests: list[Request] = []
    page.on("request", lambda r: requests.append(r) if "/stream" in r.url else None)
    return requests


@pytest.fixture
def proxied(live: StartLive) -> Iterator[Callable[..., TcpProxy]]:
    proxies: list[TcpProxy] = []

    def start(**settings: Any) -> TcpProxy:
        proxy = TcpProxy(live(**settings).port).start()
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in proxies:
        proxy.stop()


def test_happy_path_streams_into_cards_in_dev_mode(live: StartLive, page: Page) -> None:
    server = live(auth_jwt_secret=None, demo_tokens_per_second=400)  # dev mode: no auth set
    values = {**BASE_INPUT, "priorityLevel": "high", "additionalContext": "B2B shoppers"}
    expected_text = offline_reply(values)
    expected = suggestions(expected_text)

    open_page(page, server.url)
    expect(page.locator("#auth-status")).to_contain_text("Dev mode")
    expect(page.locator("#token-field")).to_be_hidden()
    fill_form(page, values)
    record_states(page)
    page.click("#generate")

    expect(page.locator("#run")).to_have_attribute("data-state", "complete")
    assert states(page) == ["idle", "creating", "connecting", "streaming", "complete"]
    assert stream_text(page) == expected_text
    cards = page.locator("#cards > li")
    expect(cards).to_have_count(len(expected))
    expect(cards.locator("h3")).to_have_text([s["title"] for s in expected])
    for card, suggestion in zip(cards.all(), expected, strict=True):
        expect(card.locator(".rationale")).to_have_text(suggestion["rationale"])
        expect(card.locator("p").nth(1)).to_have_text(suggestion["description"])
        expect(card.locator("ul > li")).to_have_text(suggestion["implementationConsiderations"])
    expect(page.locator("#progress")).to_have_attribute("aria-valuenow", "100")
    expect(page.locator("#usage-output")).to_have_text(str(len(split_tokens(expected_text))))
    expect(page.locator("#usage-model")).to_have_text("demo")
    expect(page.locator("#usage-reconnects")).to_have_text("0")
    expect(page.locator("#error-panel")).to_be_hidden()
    expect(page.locator("#cancel")).to_be_hidden()


def test_validation_errors_are_shown_inline_client_side_and_from_the_server(
    live: StartLive, page: Page
) -> None:
    server = live()
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.url.endswith("/jobs") else None)
    page.set_viewport_size({"width": 375, "height": 800})  # a phone
    open_page(page, server.url, bearer=token())

    # Keyboard only: type into the fields and submit with Enter.
    page.focus("#pageOrComponent")
    page.keyboard.type("   ")  # blank once trimmed, as the server trims
    page.keyboard.press("Enter")
    expect(page.locator("#pageOrComponent-error")).to_have_text("This field is required.")
    expect(page.locator("#pageOrComponent")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#pageOrComponent")).to_be_focused()

    page.fill("#pageOrComponent", "x" * 201)
    page.fill("#additionalContext", "y" * 1001)
    page.focus("#additionalContext")
    page.keyboard.press("Tab")
    expect(page.locator("#generate")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#pageOrComponent-error")).to_contain_text("at most 200 characters")
    expect(page.locator("#additionalContext-error")).to_contain_text("at most 1000 characters")
    assert posts == [], "nothing is sent while the form is invalid"
    assert page.evaluate("document.documentElement.scrollWidth") <= 375, "no sideways scroll"

    # A server that is stricter than the schema the page loaded (say, a newer deployment):
    # the page passes 250 characters, the server answers 422, shown at the field.
    def looser_schema(route: Route) -> None:
        response = route.fetch()
        body = response.json()
        (agent,) = (a for a in body["agents"] if a["name"] == "feature-suggestion")
        agent["inputSchema"]["properties"]["pageOrComponent"]["maxLength"] = 1000
        route.fulfill(response=response, json=body)

    page.route("**/agents", looser_schema)
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.fill("#token", token())
    values = {**BASE_INPUT, "pageOrComponent": "z" * 250}
    fill_form(page, values)
    page.click("#generate")

    direct = httpx.post(
        f"{server.url}/jobs",
        json={"agent": "feature-suggestion", "input": values},
        headers={"Authorization": f"Bearer {token()}"},
    )
    assert direct.status_code == 422
    (error,) = direct.json()["errors"]
    assert error["loc"] == ["input", "pageOrComponent"]
    expect(page.locator("#pageOrComponent-error")).to_have_text(error["message"])
    expect(page.locator("#pageOrComponent")).to_be_focused()
    expect(page.locator("#error-code")).to_have_text("INPUT_INVALID")
    expect(page.locator("#run")).to_have_attribute("data-state", "error")


VALIDATION_CASES: list[dict[str, Any]] = [
    BASE_INPUT,
    {**BASE_INPUT, "pageOrComponent": ""},
    {**BASE_INPUT, "pageOrComponent": "   "},
    {**BASE_INPUT, "pageOrComponent": "x" * 200},
    {**BASE_INPUT, "pageOrComponent": "x" * 201},
    {**BASE_INPUT, "pageOrComponent": f"  {'x' * 200}  "},
    {**BASE_INPUT, "pageOrComponent": "😀" * 200},  # 400 UTF-16 units, 200 characters
    {**BASE_INPUT, "pageOrComponent": "😀" * 201},
    {**BASE_INPUT, "featureType": "nope"},
    {k: v for k, v in BASE_INPUT.items() if k != "priorityLevel"},
    {**BASE_INPUT, "additionalContext": "y" * 1000},
    {**BASE_INPUT, "additionalContext": "y" * 1001},
    {**BASE_INPUT, "customModel": "demo"},  # the demo backend's model, allowed by default
    {**BASE_INPUT, "customModel": "gpt-whatever"},
    {**BASE_INPUT, "surprise": "field"},
]


def test_client_side_validation_agrees_with_the_server(live: StartLive, page: Page) -> None:
    """validation.js, fed the schema from GET /agents, flags exactly the fields the server
    rejects, case by case."""
    server = live(rate_limit_create_per_min=0)
    open_page(page, server.url)
    # The page sends what normalize() made of the form (trimmed); the server judges that.
    checked: list[tuple[dict[str, Any], list[str]]] = page.evaluate(
        """async (cases) => {
          const v = await import("/static/validation.js");
          const { agents } = await (await fetch("/agents")).json();
          const schema = agents.find((a) => a.name === "feature-suggestion").inputSchema;
          const rules = v.fieldRules(schema);
          return cases.map((raw) => {
            const sent = v.normalize(rules, raw);
            return [sent, Object.keys(v.validate(rules, sent)).sort()];
          });
        }""",
        VALIDATION_CASES,
    )
    client_verdicts = [verdict for _, verdict in checked]
    server_verdicts = []
    for sent, _ in checked:
        answer = httpx.post(
            f"{server.url}/jobs",
            json={"agent": "feature-suggestion", "input": sent},
            headers={"Authorization": f"Bearer {token()}"},
        )
        assert answer.status_code in (201, 422), answer.text
        errors = answer.json().get("errors", []) if answer.status_code == 422 else []
        server_verdicts.append(sorted(error["loc"][1] for error in errors))
    assert client_verdicts == server_verdicts
    assert server_verdicts.count([]) == 6, "the cases include valid input, not only errors"


def test_cancel_mid_stream(live: StartLive, page: Page) -> None:
    server = live(demo_tokens_per_second=20)  # about 12 s of output: plenty to cancel in
    expected_text = offline_reply(BASE_INPUT)
    open_page(page, server.url, bearer=token())
    fill_form(page, BASE_INPUT)
    with page.expect_response("**/jobs") as created:
        page.click("#generate")
    job_id = created.value.json()["jobId"]
    wait_for_text(page, 20)
    # After Generate the results get focus (screen readers hear "Suggestions"); Cancel is
    # the next stop for a keyboard user.
    expect(page.locator("#run-heading")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#cancel")).to_be_focused()

    with page.expect_response(lambda r: r.request.method == "DELETE") as deleted:
        page.keyboard.press("Enter")
    assert deleted.value.status == 204

    expect(page.locator("#run")).to_have_attribute("data-state", "error")
    expect(page.locator("#error-title")).to_have_text("Cancelled")
    expect(page.locator("#error-code")).to_have_text("CANCELLED")
    expect(page.locator("#cancel")).to_be_hidden()
    shown = stream_text(page)
    assert 20 <= len(shown) < len(expected_text)
    assert expected_text.startswith(shown), "what was shown is the reply's beginning"
    status = httpx.get(
        f"{server.url}/jobs/{job_id}", headers={"Authorization": f"Bearer {token()}"}
    )
    assert status.json()["status"] == "cancelled"


def test_a_network_drop_mid_stream_resumes_with_last_event_id(
    proxied: Callable[..., TcpProxy], page: Page, stream_requests: list[Request]
) -> None:
    proxy = proxied(demo_tokens_per_second=60)  # about 4 s of output
    expected_text = offline_reply(BASE_INPUT)
    open_page(page, proxy.url, bearer=token())
    fill_form(page, BASE_INPUT)
    page.click("#generate")
    wait_for_text(page, 100)

    proxy.offline = True
    assert proxy.sever() >= 1
    expect(page.locator("#reconnecting")).to_be_visible()  # and it stays: we are offline
    shown_while_offline = stream_text(page)
    assert len(shown_while_offline) < len(expected_text), "the drop came mid-stream"
    proxy.offline = False

    expect(page.locator("#run")).to_have_attribute("data-state", "complete")
    assert stream_text(page) == expected_text, "nothing lost, nothing repeated"
    expect(page.locator("#reconnecting")).to_be_hidden()
    expect(page.locator("#usage-reconnects")).to_have_text("1")
    first, *retries = stream_requests
    resumed = retries[-1]  # the attempts made while offline failed
    assert first.all_headers().get("last-event-id") is None
    assert resumed.all_headers()["last-event-id"], "the browser resumed from its last event"
    assert resumed.url == first.url, "the same URL: the bearer token travels in a header"
    assert "ticket=" not in resumed.url


def test_a_refused_reconnect_says_why_and_resumes_after_its_retry_after(
    proxied: Callable[..., TcpProxy], page: Page, stream_requests: list[Request]
) -> None:
    """The page streams with fetch and its bearer token, so it sees a refused reconnect's
    status: a 429 ``TOO_MANY_STREAMS`` is shown with its code, retried after its
    ``Retry-After``, and the run resumes from its last event (not "the job failed")."""
    proxy = proxied(demo_tokens_per_second=60)  # about 4 s of output
    expected_text = offline_reply(BASE_INPUT)
    attempts: list[str] = []

    def refuse_reconnect(route: Route) -> None:
        attempts.append(route.request.url)
        if len(attempts) == 2:
            route.fulfill(
                status=429,
                headers={"Retry-After": "2"},
                content_type="application/problem+json",
                body=json.dumps({"status": 429, "code": "TOO_MANY_STREAMS",
                                 "detail": "at most 5 streams may be open at once"}),
            )  # fmt: skip
        else:
            route.continue_()

    page.route(re.compile(r"/jobs/[0-9a-f]+/stream$"), refuse_reconnect)
    open_page(page, proxy.url, bearer=token())
    fill_form(page, BASE_INPUT)
    page.click("#generate")
    wait_for_text(page, 100)
    assert proxy.sever() >= 1

    badge = page.locator("#reconnecting")
    expect(badge).to_contain_text("TOO_MANY_STREAMS")
    expect(badge).to_contain_text("retrying")
    expect(page.locator("#run")).to_have_attribute("data-state", "complete")
    assert stream_text(page) == expected_text, "nothing lost, nothing repeated"
    first, refused, resumed = stream_requests
    assert refused.all_headers()["last-event-id"] == resumed.all_headers()["last-event-id"]
    assert re.fullmatch(r"\d+-\d+", resumed.all_headers()["last-event-id"])
    assert first.all_headers()["authorization"].startswith("Bearer ")
    expect(page.locator("#usage-reconnects")).to_have_text("1")


def test_a_stream_refused_until_the_client_gives_up_is_not_a_failed_job(
    live: StartLive, page: Page
) -> None:
    """Every attach refused with 429 ``TOO_MANY_STREAMS``: after its retries the page says
    "Stream refused" with that code and the job's real status (still pending), not that the
    job failed (and not ``STREAM_LOST``)."""
    server = live(demo_tokens_per_second=60)

    def refuse(route: Route) -> None:
        route.fulfill(
            status=429,
            headers={"Retry-After": "0"},
            content_type="application/problem+json",
            body=json.dumps({"status": 429, "code": "TOO_MANY_STREAMS",
                             "detail": "at most 5 streams may be open at once"}),
        )  # fmt: skip

    page.route(re.compile(r"/jobs/[0-9a-f]+/stream$"), refuse)
    open_page(page, server.url, bearer=token())
    fill_form(page, BASE_INPUT)
    page.click("#generate")
    expect(page.locator("#error-title")).to_have_text("Stream refused", timeout=20_000)
    expect(page.locator("#error-code")).to_have_text("TOO_MANY_STREAMS")
    expect(page.locator("#state-label")).to_have_text("Refused")
    expect(page.locator("#error-detail")).to_contain_text("The job is still pending")
    job_id = page.evaluate("location.hash").removeprefix("#job=")
    status = httpx.get(
        f"{server.url}/jobs/{job_id}", headers={"Authorization": f"Bearer {token()}"}
    )
    assert status.json()["status"] == "pending"


def test_an_expired_token_shows_the_auth_error(live: StartLive, page: Page) -> None:
    server = live()
    expired = token(exp=int(time.time()) - 3600)
    answer = httpx.post(
        f"{server.url}/jobs",
        json={"agent": "feature-suggestion", "input": BASE_INPUT},
        headers={"Authorization": f"Bearer {expired}"},
    )
    assert answer.status_code == 401
    open_page(page, server.url, bearer=expired)
    expect(page.locator("#auth-status")).to_contain_text("bearer token")
    fill_form(page, BASE_INPUT)
    page.click("#generate")

    expect(page.locator("#run")).to_have_attribute("data-state", "error")
    expect(page.locator("#error-title")).to_have_text("Not signed in")
    expect(page.locator("#error-detail")).to_have_text(answer.json()["detail"])
    expect(page.locator("#error-code")).to_have_text("UNAUTHORIZED")
    expect(page.locator("#token-error")).to_have_text(answer.json()["detail"])
    expect(page.locator("#token")).to_have_attribute("aria-invalid", "true")
