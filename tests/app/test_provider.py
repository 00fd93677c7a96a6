"""A live service against the local OIDC provider: which token shapes start a job, what an
outage and a misconfigured issuer look like to clients and to the readiness check."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import pytest

from tests.conftest import StartLive
from tests.support.idp import AUDIENCE, IdentityProvider
from tests.support.live import LiveServer

pytestmark = pytest.mark.anyio

TICKET_SECRET = "ticket-secret-0123456789abcdef0123456789"
CHAT = {"agent": "chat", "input": {"prompt": "hello"}}


def oidc(live: StartLive, issuer: str, audience: str = AUDIENCE, **settings: Any) -> LiveServer:
    """A service that takes its tokens from the provider at ``issuer``, for ``audience``."""
    values: dict[str, Any] = {
        "auth_jwt_secret": None,
        "auth_issuer": issuer,
        "auth_audience": audience,
        "auth_ticket_secret": TICKET_SECRET,
    }
    return live(**(values | settings))


async def start(client: httpx.AsyncClient, server: LiveServer, token: str) -> httpx.Response:
    return await client.post(
        f"{server.url}/jobs", json=CHAT, headers={"Authorization": f"Bearer {token}"}
    )


async def test_access_tokens_of_both_shapes_run_jobs_and_an_id_token_does_not(
    live: StartLive, idp: IdentityProvider, client: httpx.AsyncClient
) -> None:
    server = oidc(live, idp.issuer)
    for shape, token in (("at+jwt", idp.access_token("alice")), ("JWT", idp.token("alice"))):
        response = await start(client, server, token)
        assert response.status_code == 201, (shape, response.text)
    refused = await start(client, server, idp.id_token("alice"))
    assert refused.status_code == 401, refused.text
    assert "ID token" in refused.json()["detail"]
    assert "ID token" in refused.headers["www-authenticate"]


async def test_only_the_configured_types_are_accepted(
    live: StartLive, idp: IdentityProvider, client: httpx.AsyncClient
) -> None:
    server = oidc(live, idp.issuer, auth_token_types=["at+jwt"])
    assert (await start(client, server, idp.access_token("alice"))).status_code == 201
    refused = await start(client, server, idp.token("alice"))
    assert refused.status_code == 401
    assert "type (typ)" in refused.json()["detail"]


async def test_during_an_outage_an_unseen_kid_is_503_every_time_then_works(
    live: StartLive, idp: IdentityProvider, client: httpx.AsyncClient
) -> None:
    """The sequence reported against the service: 503, then 401 on the next request, and
    still 401 for ~30 s after the provider came back. Now: 503 while it fails, then 201."""
    server = oidc(live, idp.issuer)
    assert (await start(client, server, idp.token("alice"))).status_code == 201
    idp.failure = 503
    new = idp.token("alice", kid=idp.rotate("rsa-new"))
    for _ in range(3):
        response = await start(client, server, new)
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "AUTH_UNAVAILABLE"
        assert int(response.headers["retry-after"]) > 0
    readiness = await client.get(f"{server.url}/readyz")
    assert readiness.status_code == 200, "an outage of the provider is not this instance's fault"
    idp.failure = None
    seen = []
    deadline = time.monotonic() + 20  # the service asks again 5 s after its last failure
    while time.monotonic() < deadline:
        response = await start(client, server, new)
        seen.append(response.status_code)
        if response.status_code != 503:
            break
        await asyncio.sleep(0.5)
    assert seen[-1] == 201, seen
    assert set(seen) <= {503, 201}, f"never a 401 for a key that could not be checked: {seen}"


async def test_an_issuer_mismatch_is_reported_by_readyz_logs_and_every_503(
    live: StartLive,
    idp: IdentityProvider,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    server = oidc(live, idp.issuer + "/")  # the provider says no slash
    deadline = time.monotonic() + 10
    while (readiness := await client.get(f"{server.url}/readyz")).status_code == 200:
        assert time.monotonic() < deadline, "the start-up check never reported"
        await asyncio.sleep(0.1)
    assert idp.hits["discovery"] >= 1, "checked at start-up, before any request"
    assert readiness.status_code == 503
    body = readiness.json()
    assert body["code"] == "AUTH_MISCONFIGURED"
    assert f"AUTH_ISSUER is '{idp.issuer}/'" in body["detail"]
    assert f"names the issuer '{idp.issuer}'" in body["detail"]
    assert any(
        r.levelno == logging.ERROR and "CONFIGURATION ERROR" in r.getMessage()
        for r in caplog.records
    )
    response = await start(client, server, idp.token("alice", iss=idp.issuer + "/"))
    assert response.status_code == 503
    assert response.json()["code"] == "AUTH_UNAVAILABLE"
    assert "misconfigured: AUTH_ISSUER is" in response.json()["detail"]
