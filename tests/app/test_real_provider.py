"""The service against a real, certified OpenID provider: panva's ``oidc-provider`` (npm) on
loopback, issuing RFC 9068 ``at+jwt`` access tokens (RS256 and ES256) and ID tokens; its keys
rotated, removed, and the provider stopped (tests/support/oidc_provider.py).

Needs Node and npm (``npm ci`` runs in tests/oidc_provider/ on first use): skipped locally
without them, failed in CI.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.app.test_provider import oidc, start
from tests.conftest import StartLive
from tests.support.oidc_provider import AUDIENCE, WEB, RealProvider, installed, signing_keys
from tests.support.sse import read_stream

pytestmark = pytest.mark.anyio


@pytest.fixture
def provider() -> Iterator[RealProvider]:
    installed()
    real = RealProvider()
    try:
        yield real.start(signing_keys())
    finally:
        real.stop()


async def test_its_access_tokens_run_jobs_and_its_id_tokens_are_refused(
    live: StartLive, provider: RealProvider, client: httpx.AsyncClient
) -> None:
    server = oidc(live, provider.issuer, AUDIENCE)
    for alg in ("RS256", "ES256"):
        access = provider.access_token(alg)
        created = await start(client, server, access)
        assert created.status_code == 201, (alg, created.text, provider.log())
        job = created.json()
        stream = await read_stream(
            client, server.url + job["streamUrl"], params={"ticket": job["streamTicket"]}
        )
        assert stream.events[-1].event == "complete", alg
    id_token = provider.id_token()
    refused = await start(client, server, id_token)
    assert refused.status_code == 401, refused.text

    # The case reported: an ID token whose aud is the service's audience (here, the service
    # is misconfigured with the web client's id as its audience).
    confused = oidc(live, provider.issuer, WEB[0])
    for token in (id_token, provider.id_token(nonce=None)):
        response = await start(client, confused, token)
        assert response.status_code == 401, response.text
        assert "no 'typ' header" in response.json()["detail"]
    # Even by an operator who accepts untyped tokens, one with a nonce is an ID token.
    lenient = oidc(live, provider.issuer, WEB[0], auth_token_types=["at+jwt", "untyped"])
    response = await start(client, lenient, id_token)
    assert response.status_code == 401, response.text
    assert "ID token" in response.json()["detail"]


async def test_a_rotated_and_removed_key(
    live: StartLive, provider: RealProvider, client: httpx.AsyncClient
) -> None:
    server = oidc(live, provider.issuer, AUDIENCE)
    first = provider.access_token("RS256")
    assert (await start(client, server, first)).status_code == 201

    provider.restart(signing_keys(rsa_kid="rsa-2"))  # rsa-1 rotated out and removed
    rotated = await start(client, server, provider.access_token("RS256"))
    assert rotated.status_code == 201, "the new kid is fetched at once"
    assert (await start(client, server, provider.access_token("ES256"))).status_code == 201
    removed = await start(client, server, first)
    assert removed.status_code == 401
    assert "not one the provider publishes" in removed.json()["detail"]


async def test_an_outage_with_a_kid_the_service_has_not_seen(
    live: StartLive, provider: RealProvider, client: httpx.AsyncClient
) -> None:
    server = oidc(live, provider.issuer, AUDIENCE)
    assert (await start(client, server, provider.access_token("RS256"))).status_code == 201
    keys = signing_keys(rsa_kid="rsa-3")
    provider.restart(keys)
    unseen = provider.access_token("RS256")
    provider.stop()
    for _ in range(3):
        response = await start(client, server, unseen)
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "AUTH_UNAVAILABLE"
    provider.start(keys)
    seen = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        seen.append((await start(client, server, unseen)).status_code)
        if seen[-1] != 503:
            break
        await asyncio.sleep(0.5)
    assert seen[-1] == 201, seen
    assert set(seen) <= {503, 201}, f"never a 401 for a key that could not be checked: {seen}"
