"""Stream tickets over HTTP: a plain EventSource's reconnect, which repeats the URL it was
opened with, keeps working for the job's whole life, while a stale ticket never starts a job.

"After the ticket's first minute" is emulated with ``STREAM_TICKET_TTL_S=1``: the reconnect
comes after that second and the tickets' 5 s leeway, while the run (a slow demo pace) goes on.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from auth.tickets import TICKET_LEEWAY_S
from jobs.backends.demo import split_tokens
from tests.conftest import StartLive, token
from tests.support.demo import demo_text
from tests.support.sse import read_stream

pytestmark = pytest.mark.anyio

PROMPT = "plan the checkout page"
RUN_S = 10  # how long the demo run lasts: well past the ticket's first window


def reply() -> str:
    return demo_text("chat", {"prompt": PROMPT})


async def test_the_same_ticket_resumes_after_its_ttl_and_a_stale_one_starts_nothing(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    expected = reply()
    pace = len(split_tokens(expected)) / RUN_S
    server = live(stream_ticket_ttl_s=1, demo_tokens_per_second=pace, abandon_after_s=30)
    auth = {"Authorization": f"Bearer {token()}"}
    body = {"agent": "chat", "input": {"prompt": PROMPT}}
    job = (await client.post(f"{server.url}/jobs", json=body, headers=auth)).json()
    idle = (await client.post(f"{server.url}/jobs", json=body, headers=auth)).json()
    issued = time.monotonic()
    url = server.url + job["streamUrl"]
    ticket = {"ticket": job["streamTicket"]}

    first = await read_stream(client, url, params=ticket, stop_after=2)  # then the drop
    await asyncio.sleep(1 + TICKET_LEEWAY_S + 1 - (time.monotonic() - issued))
    rest = await read_stream(client, url, params=ticket, headers={"Last-Event-ID": first.last_id})
    assert rest.status_code == 200
    assert rest.events[0].data["resumed"] is True
    assert rest.events[-1].event == "complete", "the run outlived the ticket's first window"
    assert first.text + rest.text == expected, "nothing lost, nothing repeated"

    stale = await client.get(
        server.url + idle["streamUrl"], params={"ticket": idle["streamTicket"]}
    )
    assert stale.status_code == 401
    assert "expired for starting the job" in stale.json()["detail"]
    status = await client.get(f"{server.url}/jobs/{idle['jobId']}", headers=auth)
    assert status.json()["status"] == "pending", "a stale ticket started nothing"
    fresh = await client.post(f"{server.url}/jobs/{idle['jobId']}/ticket", headers=auth)
    assert fresh.json()["expiresIn"] == 1 + 300 + 60, "STREAM_TICKET_TTL_S + RUN_TIMEOUT_S + grace"
    started = await read_stream(
        client, server.url + idle["streamUrl"], params={"ticket": fresh.json()["streamTicket"]},
        stop_after=1,
    )  # fmt: skip
    assert started.status_code == 200


async def test_tickets_are_rate_limited_per_user_with_retry_after(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    server = live(rate_limit_tickets_per_min=3)
    alice = {"Authorization": f"Bearer {token()}"}
    body = {"agent": "chat", "input": {"prompt": PROMPT}}
    job = (await client.post(f"{server.url}/jobs", json=body, headers=alice)).json()
    url = f"{server.url}/jobs/{job['jobId']}/ticket"
    answers = [await client.post(url, headers=alice) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "RATE_LIMITED"
    assert "stream tickets" in refused.json()["detail"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    bob = {"Authorization": f"Bearer {token('bob')}"}
    other = await client.post(url, headers=bob)
    assert other.status_code == 403, "bob's quota is his own: he gets as far as the owner check"
