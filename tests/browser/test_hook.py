"""``useJob`` (the package's React hook) rendered in a real Chromium page against the live
service: a page that makes its ``JobsClient`` anew on every render, a reload mid-stream, a cut
connection, a stream refused with 429 while the user's five streams are open, and a cancel.

The page (``clients/js/test/browser/app.js``) is bundled with React by esbuild and served on the
service's own origin by Playwright's routing (no CORS involved); it writes the hook's state into
data attributes. The text at the end must equal the demo backend's reply for the prompt.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Request, Route, expect

from jobs.backends.demo import split_tokens
from tests.conftest import StartLive, token
from tests.support.demo import demo_text
from tests.support.js_package import hook_page_bundle
from tests.support.proxy import Proxy as TcpProxy

pytestmark = pytest.mark.browser

PROMPT = "plan the checkout page"
HTML = '<!doctype html><meta charset="utf-8"><div id="root"></div>'
HTML += '<script type="module" src="/hook/app.js"></script>'


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> str:
    return hook_page_bundle(tmp_path_factory.mktemp("hook"))


def reply() -> str:
    return demo_text("chat", {"prompt": PROMPT})


def pace(seconds: float) -> float:
    """The demo pace that makes the reply last about ``seconds``."""
    return len(split_tokens(reply())) / seconds


def open_hook(page: Page, base: str, bundle: str, *, renders: int = 0) -> str:
    """Open the hook's page on ``base``'s origin; the bearer token it was given."""

    def serve(route: Route) -> None:
        if route.request.url.endswith("/app.js"):
            route.fulfill(content_type="text/javascript", body=bundle)
        else:
            route.fulfill(content_type="text/html", body=HTML)

    page.route(re.compile(r"/hook/(app\.js|\?.*)?$"), serve)
    bearer = token()
    page.goto(f"{base}/hook/?token={bearer}&prompt={PROMPT}&renders={renders}")
    return bearer


def requests_of(page: Page) -> list[Request]:
    seen: list[Request] = []
    page.on("request", lambda r: seen.append(r) if "/jobs" in r.url else None)
    return seen


def run_of(page: Page) -> Any:
    return page.locator("#run")


def text_of(page: Page) -> str:
    return page.locator("#text").inner_text()


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


def test_a_client_made_on_every_render_makes_one_job_and_one_stream(
    live: StartLive, page: Page, bundle: str
) -> None:
    server = live(demo_tokens_per_second=pace(3))
    seen = requests_of(page)
    bearer = open_hook(page, server.url, bundle, renders=40)
    page.click("#start")
    expect(run_of(page)).to_have_attribute("data-status", "complete", timeout=20_000)
    assert text_of(page) == reply()
    assert page.evaluate("window.renders") > 40, "the component re-rendered meanwhile"
    creates = [r for r in seen if r.method == "POST" and r.url.endswith("/jobs")]
    tickets = [r for r in seen if r.url.endswith("/ticket")]
    streams = [r for r in seen if r.url.endswith("/stream")]
    assert (len(creates), len(tickets), len(streams)) == (1, 0, 1)
    assert streams[0].all_headers()["authorization"] == f"Bearer {bearer}"


def test_a_reload_mid_stream_watches_the_job_again_from_its_start(
    live: StartLive, page: Page, bundle: str
) -> None:
    server = live(demo_tokens_per_second=pace(4))
    seen = requests_of(page)
    open_hook(page, server.url, bundle)
    page.click("#start")
    expect(page.locator("#text")).not_to_be_empty()
    job_id = run_of(page).get_attribute("data-job-id")
    assert page.evaluate("location.hash") == f"#job={job_id}"
    page.reload()
    expect(run_of(page)).to_have_attribute("data-job-id", job_id or "-")
    assert len(text_of(page)) < len(reply()), "the reload came mid-stream"
    expect(run_of(page)).to_have_attribute("data-status", "complete", timeout=20_000)
    assert text_of(page) == reply(), "nothing lost, nothing twice"
    assert len([r for r in seen if r.method == "POST" and r.url.endswith("/jobs")]) == 1
    resumed = [r for r in seen if r.url.endswith("/stream")][-1]
    assert resumed.all_headers()["last-event-id"] == "0-0"


def test_a_cut_connection_resumes_with_last_event_id(
    proxied: Callable[..., TcpProxy], page: Page, bundle: str
) -> None:
    proxy = proxied(demo_tokens_per_second=pace(4))
    seen = requests_of(page)
    open_hook(page, proxy.url, bundle)
    page.click("#start")
    expect(page.locator("#text")).not_to_be_empty()
    assert proxy.sever() >= 1
    expect(run_of(page)).to_have_attribute("data-status", "complete", timeout=20_000)
    assert text_of(page) == reply(), "nothing lost, nothing twice"
    streams = [r for r in seen if r.url.endswith("/stream")]
    assert len(streams) >= 2
    assert re.fullmatch(r"\d+-\d+", streams[-1].all_headers()["last-event-id"])


def test_a_sixth_stream_refused_with_429_says_so_and_goes_on_when_a_slot_frees(
    live: StartLive, page: Page, bundle: str
) -> None:
    server = live(demo_tokens_per_second=pace(3), lease_ttl_s=3, max_streams_per_user=5)
    auth = {"Authorization": f"Bearer {token()}"}
    body = {"agent": "chat", "input": {"prompt": PROMPT}}
    with httpx.Client(base_url=server.url, headers=auth, timeout=30) as client:
        jobs = [client.post("/jobs", json=body).json() for _ in range(5)]
        with contextlib.ExitStack() as held:
            for job in jobs:  # five streams of the same user, open
                response = held.enter_context(client.stream("GET", job["streamUrl"]))
                assert response.status_code == 200
            open_hook(page, server.url, bundle)
            page.click("#start")
            run = run_of(page)
            expect(run).to_have_attribute("data-error-code", "TOO_MANY_STREAMS")
            expect(run).to_have_attribute("data-retry-after-ms", "1000")  # Retry-After: 1
            expect(run).to_have_attribute("data-reconnecting", "true")
            assert run.get_attribute("data-status") != "error", "refused is not a failed job"
            job_id = run.get_attribute("data-job-id")
            status = client.get(f"/jobs/{job_id}").json()["status"]
            assert status == "pending"
        # The five streams closed: the hook's next retry gets a slot.
        expect(run).to_have_attribute("data-status", "complete", timeout=20_000)
        assert text_of(page) == reply()
        assert run.get_attribute("data-error-code") == ""


def test_cancel_stops_the_run(live: StartLive, page: Page, bundle: str) -> None:
    server = live(demo_tokens_per_second=pace(6))
    open_hook(page, server.url, bundle)
    page.click("#start")
    expect(page.locator("#text")).not_to_be_empty()
    page.click("#cancel")
    run = run_of(page)
    expect(run).to_have_attribute("data-status", "cancelled")
    expect(run).to_have_attribute("data-job-status", "cancelled")
    assert 0 < len(text_of(page)) < len(reply())
    assert reply().startswith(text_of(page))
