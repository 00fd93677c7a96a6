"""CORS for browser frontends (``CORS_ALLOW_ORIGINS``), over a real socket: the preflights a
browser sends before ``fetch("/jobs", {method: "POST", headers: {Authorization, ...}})`` and
before an ``EventSource`` reconnect with ``Last-Event-ID``, and the headers it may read."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import StartLive, token
from tests.support.sse import read_stream

pytestmark = pytest.mark.anyio

APP = "https://app.example"
CHAT = {"agent": "chat", "input": {"prompt": "hello"}}


def preflight(method: str, headers: str, origin: str = APP) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    }


def listed(value: str | None) -> set[str]:
    return {part.strip().lower() for part in (value or "").split(",") if part.strip()}


async def test_preflights_for_start_and_stream_are_allowed(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    server = live(cors_allow_origins=[APP, "http://localhost:5173"])
    start = await client.options(
        f"{server.url}/jobs", headers=preflight("POST", "authorization, content-type")
    )
    assert start.status_code == 200, start.text
    assert start.headers["access-control-allow-origin"] == APP
    assert {"post"} <= listed(start.headers["access-control-allow-methods"])
    assert {"authorization", "content-type"} <= listed(
        start.headers["access-control-allow-headers"]
    )
    assert "access-control-allow-credentials" not in start.headers, "bearer tokens, no cookies"

    stream = await client.options(
        f"{server.url}/jobs/{'a' * 32}/stream",
        headers=preflight("GET", "last-event-id", origin="http://localhost:5173"),
    )
    assert stream.status_code == 200, stream.text
    assert stream.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "last-event-id" in listed(stream.headers["access-control-allow-headers"])

    cancel = await client.options(
        f"{server.url}/jobs/{'a' * 32}", headers=preflight("DELETE", "authorization")
    )
    assert cancel.status_code == 200
    assert "delete" in listed(cancel.headers["access-control-allow-methods"])


async def test_other_origins_are_not_allowed(live: StartLive, client: httpx.AsyncClient) -> None:
    server = live(cors_allow_origins=[APP])
    denied = await client.options(
        f"{server.url}/jobs",
        headers=preflight("POST", "authorization", origin="https://evil.example"),
    )
    assert denied.status_code == 400
    assert "access-control-allow-origin" not in denied.headers
    simple = await client.get(f"{server.url}/agents", headers={"Origin": "https://evil.example"})
    assert simple.status_code == 200
    assert "access-control-allow-origin" not in simple.headers


async def test_responses_expose_what_a_browser_client_reads(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    server = live(cors_allow_origins=[APP])
    origin = {"Origin": APP}
    created = await client.post(
        f"{server.url}/jobs",
        json=CHAT,
        headers=origin | {"Authorization": f"Bearer {token()}"},
    )
    assert created.status_code == 201
    assert created.headers["access-control-allow-origin"] == APP
    exposed = listed(created.headers["access-control-expose-headers"])
    assert {"location", "www-authenticate", "retry-after"} <= exposed

    refused = await client.post(
        f"{server.url}/jobs", json=CHAT, headers=origin | {"Authorization": "Bearer nope"}
    )
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == APP
    assert "www-authenticate" in listed(refused.headers["access-control-expose-headers"])

    job = created.json()
    stream = await read_stream(
        client,
        server.url + job["streamUrl"],
        headers=origin,
        params={"ticket": job["streamTicket"]},
    )
    assert stream.headers["access-control-allow-origin"] == APP
    assert stream.events[-1].event == "complete", "the stream passes through unbuffered"


async def test_no_origins_means_no_cors(live: StartLive, client: httpx.AsyncClient) -> None:
    server = live()
    response = await client.options(
        f"{server.url}/jobs", headers=preflight("POST", "authorization")
    )
    assert response.status_code == 405
    assert "access-control-allow-origin" not in response.headers
    plain = await client.get(f"{server.url}/agents", headers={"Origin": APP})
    assert "access-control-allow-origin" not in plain.headers
