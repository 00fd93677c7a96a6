"""A plain browser ``EventSource`` on a job's stream, no page code around it: the README's
``new EventSource(streamUrl + "?ticket=" + streamTicket)`` in Debian's chromium, through a
proxy the test cuts after the ticket's first window. The browser's own reconnect (same URL,
``Last-Event-ID``) must resume the stream with nothing lost and nothing repeated.

The ticket's "first minute" is ``STREAM_TICKET_TTL_S=1`` plus the tickets' 5 s leeway, so the
test waits seconds, not a minute; the run lasts longer (a slow demo pace).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from playwright.sync_api import Page, Request

from auth.tickets import TICKET_LEEWAY_S
from jobs.backends.demo import split_tokens
from tests.conftest import StartLive, token
from tests.support.demo import demo_text
from tests.support.proxy import Proxy as TcpProxy

pytestmark = pytest.mark.browser

PROMPT = "plan the checkout page"
RUN_S = 12

OPEN = """async ({bearer, body}) => {
  const answer = await fetch("/jobs", {method: "POST", body: JSON.stringify(body),
    headers: {Authorization: `Bearer ${bearer}`, "Content-Type": "application/json"}});
  const job = await answer.json();
  window.seen = {deltas: [], opens: 0, drops: 0, end: null};
  const source = new EventSource(job.streamUrl + "?ticket=" + job.streamTicket);
  source.addEventListener("open", () => { window.seen.opens += 1; });
  source.addEventListener("delta", (event) => {
    window.seen.deltas.push({id: event.lastEventId, text: JSON.parse(event.data).text});
  });
  source.addEventListener("complete", () => { window.seen.end = "complete"; source.close(); });
  source.addEventListener("error", (event) => {
    if (event.data) { window.seen.end = "error " + event.data; source.close(); }
    else if (source.readyState === EventSource.CLOSED) { window.seen.end = "gave up"; }
    else { window.seen.drops += 1; }
  });
  return job.jobId;
}"""


def reply() -> str:
    return demo_text("chat", {"prompt": PROMPT})


def seen(page: Page) -> dict[str, Any]:
    value: dict[str, Any] = page.evaluate("window.seen")
    return value


def test_a_plain_event_source_survives_a_drop_after_the_tickets_first_window(
    live: StartLive, page: Page
) -> None:
    expected = reply()
    pace = len(split_tokens(expected)) / RUN_S
    server = live(stream_ticket_ttl_s=1, demo_tokens_per_second=pace)
    proxy = TcpProxy(server.port).start()
    requests: list[Request] = []
    page.on("request", lambda r: requests.append(r) if "/stream?" in r.url else None)
    try:
        page.goto(proxy.url + "/")
        issued = time.monotonic()
        page.evaluate(
            OPEN, {"bearer": token(), "body": {"agent": "chat", "input": {"prompt": PROMPT}}}
        )
        while not seen(page)["deltas"]:
            assert time.monotonic() - issued < 10, "no delta arrived"
            page.wait_for_timeout(50)
        page.wait_for_timeout((1 + TICKET_LEEWAY_S + 1 - (time.monotonic() - issued)) * 1000)
        before = seen(page)
        assert before["end"] is None, "the cut comes mid-run"
        assert proxy.sever() >= 1
        deadline = time.monotonic() + 30
        while seen(page)["end"] is None:
            assert time.monotonic() < deadline, seen(page)
            page.wait_for_timeout(100)
    finally:
        proxy.stop()

    after = seen(page)
    assert after["end"] == "complete", after["end"]
    assert after["drops"] >= 1, "the browser saw the connection drop"
    assert after["opens"] >= 2, "and opened it again by itself"
    ids = [delta["id"] for delta in after["deltas"]]
    assert len(ids) == len(set(ids)), "no event twice"
    assert "".join(delta["text"] for delta in after["deltas"]) == expected, "no loss, no repeat"
    first, *reconnects = requests
    assert reconnects, "a reconnect was made"
    assert all(r.url == first.url for r in reconnects), "the same URL, the same ticket"
    resumed = reconnects[-1]
    assert resumed.all_headers().get("last-event-id") in ids, "resumed from an event it had"
    response = resumed.response()
    assert response is not None
    assert response.status == 200, "the ticket was still good for the reconnect"
