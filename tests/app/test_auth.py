"""Authentication on both phases against a live service and a local OIDC provider.

The matrix: every forged or misissued credential gets 401 on ``POST /jobs`` *and* on
``GET /jobs/{id}/stream``, with an RFC 6750 challenge that says why and never repeats it.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey

from app import create_app
from auth import TicketSigner
from tests.conftest import SECRET, StartLive, make_settings, token
from tests.support.idp import AUDIENCE, IdentityProvider, hs256_with, tampered, unsigned
from tests.support.live import LiveServer
from tests.support.redis_server import free_port
from tests.support.sse import read_stream

pytestmark = pytest.mark.anyio

TICKET_SECRET = "ticket-secret-0123456789abcdef0123456789"
CHAT = {"agent": "chat", "input": {"prompt": "hello"}}


def oidc(live: StartLive, idp: IdentityProvider, *, with_secret: bool = False) -> LiveServer:
    return live(
        auth_jwt_secret=SECRET if with_secret else None,
        auth_issuer=idp.issuer,
        auth_audience=AUDIENCE,
        auth_ticket_secret=TICKET_SECRET,
    )


def bearer(credential: str) -> dict[str, str]:
    # An empty credential is sent as a bare "Bearer" (HTTP clients drop trailing spaces).
    return {"Authorization": f"Bearer {credential}".strip()}


async def create(client: httpx.AsyncClient, server: LiveServer, credential: str) -> dict[str, Any]:
    response = await client.post(f"{server.url}/jobs", json=CHAT, headers=bearer(credential))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def refusal(response: httpx.Response, credential: str) -> str | None:
    """Why ``response`` is not a proper 401 for ``credential``, or None when it is one."""
    if response.status_code != 401:
        return f"answered {response.status_code}: {response.text[:200]}"
    if response.headers.get("content-type") != "application/problem+json":
        return "not a problem document"
    if response.json().get("code") != "UNAUTHORIZED":
        return f"code {response.json().get('code')!r}"
    challenge = response.headers.get("www-authenticate", "")
    if not challenge.startswith('Bearer error="invalid_token", error_description="'):
        return f"challenge {challenge!r}"
    if len(credential) > 8:
        # Any 20-character run of the credential would be an echo of it.
        pieces = {credential[i : i + 20] for i in range(0, max(len(credential) - 20, 1), 10)}
        seen = response.text + challenge
        if any(piece in seen for piece in pieces):
            return "the response repeats the credential"
    return None


@pytest.mark.parametrize("with_secret", [False, True], ids=["oidc", "oidc+hs256"])
async def test_every_forged_or_misissued_credential_gets_401_on_both_phases(
    live: StartLive, idp: IdentityProvider, client: httpx.AsyncClient, with_secret: bool
) -> None:
    server = oidc(live, idp, with_secret=with_secret)
    good = idp.token("alice")
    job = await create(client, server, good)
    other = await create(client, server, good)
    stream_url = server.url + job["streamUrl"]
    claims = idp.claims("alice")
    now = claims["iat"]
    stranger = RSAKey.generate_key(2048)
    expired_ticket = TicketSigner(TICKET_SECRET, ttl_s=-60).issue(job["jobId"], "alice")

    tokens = {
        "alg none": unsigned(claims),
        "HS256 signed with the RSA public key": hs256_with(idp.public_pem(), claims),
        "tampered payload": tampered(good, sub="mallory"),
        "wrong key": idp.token("alice", key=stranger),
        "expired": idp.token("alice", exp=now - 120, iat=now - 720),
        "nbf in the future": idp.token("alice", nbf=now + 600),
        "wrong issuer": idp.token("alice", iss="https://idp.evil.example"),
        "wrong audience": idp.token("alice", aud="another-api"),
        "missing sub": idp.token(None),
        "unknown kid": idp.token("alice", kid="rsa-unknown", key=stranger),
        "malformed": "eyJhbGciOiJSUzI1NiJ9.not-base64!.sig",
        "not a JWT": "garbage",
        "empty bearer": "",
        "ticket used as a bearer token": job["streamTicket"],
    }
    # (ticket, the job whose stream it is presented to)
    tickets = {
        "ticket for another job": (job["streamTicket"], other["jobId"]),
        "expired ticket": (expired_ticket, job["jobId"]),
        "empty ticket": ("", job["jobId"]),
    }

    failures: list[str] = []
    jwks_before = idp.hits["jwks"]
    for name, credential in tokens.items():
        start = await client.post(f"{server.url}/jobs", json=CHAT, headers=bearer(credential))
        attach = await client.get(stream_url, headers=bearer(credential))
        for phase, response in (("POST /jobs", start), ("GET stream", attach)):
            if (why := refusal(response, credential)) is not None:
                failures.append(f"{name} on {phase}: {why}")
        if name == "unknown kid" and idp.hits["jwks"] != jwks_before + 1:
            failures.append(f"unknown kid: {idp.hits['jwks'] - jwks_before} JWKS refetches, not 1")
    for name, (ticket, job_id) in tickets.items():
        start = await client.post(f"{server.url}/jobs", json=CHAT, headers=bearer(ticket))
        attach = await client.get(f"{server.url}/jobs/{job_id}/stream", params={"ticket": ticket})
        for phase, response in (("POST /jobs", start), ("GET stream", attach)):
            if (why := refusal(response, ticket)) is not None:
                failures.append(f"{name} on {phase}: {why}")
    as_ticket = await client.get(stream_url, params={"ticket": good})
    if (why := refusal(as_ticket, good)) is not None:
        failures.append(f"a bearer token as a ticket: {why}")
    # A valid ticket is accepted by the stream and nowhere else.
    ticket = job["streamTicket"]
    for method, path in (
        ("POST", "/jobs"),
        ("GET", f"/jobs/{job['jobId']}"),
        ("POST", f"/jobs/{job['jobId']}/ticket"),
    ):
        response = await client.request(
            method, server.url + path, params={"ticket": ticket}, json=CHAT
        )
        if response.status_code != 401:
            failures.append(f"a ticket on {method} {path}: answered {response.status_code}")
    assert not failures, "\n".join(failures)

    status = await client.get(f"{server.url}/jobs/{job['jobId']}", headers=bearer(good))
    assert status.json()["status"] == "pending", "no refused attach started the run"
    stream = await read_stream(client, stream_url, params={"ticket": ticket})
    assert stream.events[-1].event == "complete", "and the right ticket still works"


async def test_provider_tokens_of_every_key_type_run_a_job(
    live: StartLive, idp: IdentityProvider, client: httpx.AsyncClient
) -> None:
    server = oidc(live, idp)
    for kid in ("rsa-1", "ec-1", "ed-1"):
        credential = idp.token(f"user-{kid}", kid=kid)
        job = await create(client, server, credential)
        stream = await read_stream(client, server.url + job["streamUrl"], token=credential)
        assert stream.events[-1].event == "complete", kid
    assert idp.hits == {"discovery": 1, "jwks": 1}


async def test_a_jwks_url_needs_no_discovery(
    live: StartLive, idp: IdentityProvider, client: httpx.AsyncClient
) -> None:
    server = live(
        auth_jwt_secret=None,
        auth_jwks_url=idp.jwks_url,
        auth_audience=AUDIENCE,
        auth_ticket_secret=TICKET_SECRET,
    )
    await create(client, server, idp.token("alice", kid="ec-1"))
    assert idp.hits == {"jwks": 1}


async def test_hs256_and_provider_tokens_work_side_by_side(
    live: StartLive, idp: IdentityProvider, client: httpx.AsyncClient
) -> None:
    server = oidc(live, idp, with_secret=True)
    for credential in (token("alice", aud=AUDIENCE), idp.token("alice")):
        job = await create(client, server, credential)
        stream = await read_stream(
            client, server.url + job["streamUrl"], params={"ticket": job["streamTicket"]}
        )
        assert stream.events[-1].event == "complete"


async def test_a_key_rotation_needs_no_restart(
    live: StartLive, idp: IdentityProvider, client: httpx.AsyncClient
) -> None:
    server = oidc(live, idp)
    old = idp.token("alice")
    await create(client, server, old)
    new_kid = idp.rotate()
    job = await create(client, server, idp.token("alice", kid=new_kid))
    assert job["status"] == "pending"
    withdrawn = await client.post(f"{server.url}/jobs", json=CHAT, headers=bearer(old))
    assert refusal(withdrawn, old) is None
    assert idp.hits["jwks"] == 2, "one refetch for the new kid; none for the withdrawn one"


async def test_another_users_valid_token_is_forbidden(
    live: StartLive, idp: IdentityProvider, client: httpx.AsyncClient
) -> None:
    server = oidc(live, idp)
    job = await create(client, server, idp.token("alice"))
    mallory = bearer(idp.token("mallory", kid="ec-1"))
    base = f"{server.url}/jobs/{job['jobId']}"
    attempts = (
        ("GET", f"{base}/stream"),
        ("GET", base),
        ("POST", f"{base}/ticket"),
        ("DELETE", base),
    )
    for method, url in attempts:
        response = await client.request(method, url, headers=mallory)
        assert response.status_code == 403, (method, url, response.text)
        assert response.json()["code"] == "NOT_OWNER"
    status = await client.get(base, headers=bearer(idp.token("alice")))
    assert status.json()["status"] == "pending"


@pytest.mark.parametrize("outage", ["unreachable", "http-503"])
async def test_a_provider_outage_is_503_not_401(
    live: StartLive, idp: IdentityProvider, client: httpx.AsyncClient, outage: str
) -> None:
    if outage == "unreachable":
        server = live(
            auth_jwt_secret=None,
            auth_issuer=f"http://127.0.0.1:{free_port()}",
            auth_audience=AUDIENCE,
            auth_ticket_secret=TICKET_SECRET,
        )
    else:
        idp.failure = 503  # before the start, whose check would otherwise fetch the keys
        server = oidc(live, idp)
    response = await client.post(f"{server.url}/jobs", json=CHAT, headers=bearer(idp.token()))
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "AUTH_UNAVAILABLE"
    assert "identity provider" in response.json()["detail"]
    assert int(response.headers["retry-after"]) > 0
    assert (await client.get(f"{server.url}/healthz")).status_code == 200


async def test_oidc_with_the_embedded_store_keys_tickets_per_process(
    live: StartLive, idp: IdentityProvider, client: httpx.AsyncClient
) -> None:
    server = live(
        redis_url=None, auth_jwt_secret=None, auth_issuer=idp.issuer, auth_audience=AUDIENCE
    )
    job = await create(client, server, idp.token())
    stream = await read_stream(
        client, server.url + job["streamUrl"], params={"ticket": job["streamTicket"]}
    )
    assert stream.events[-1].event == "complete"


async def test_credentials_never_reach_the_logs(
    live: StartLive,
    idp: IdentityProvider,
    client: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    server = oidc(live, idp, with_secret=True)
    good, hs = idp.token("alice"), token("alice", aud=AUDIENCE)
    job = await create(client, server, good)
    await create(client, server, hs)
    bad = idp.token("alice", aud="another-api")
    await client.post(f"{server.url}/jobs", json=CHAT, headers=bearer(bad))
    await client.get(server.url + job["streamUrl"], params={"ticket": "x" + job["streamTicket"]})
    stream = await read_stream(
        client, server.url + job["streamUrl"], params={"ticket": job["streamTicket"]}
    )
    assert stream.status_code == 200
    # The test's own HTTP client (httpx, httpcore) logs the URLs it requests; the service
    # (whose provider client is httpx2) must not.
    client_loggers = ("httpx", "httpcore")
    service_logs = [r for r in caplog.records if r.name.split(".")[0] not in client_loggers]
    assert any(r.name == "app.access" for r in service_logs), "the access log was captured"
    text = "\n".join(f"{r.getMessage()} {vars(r)}" for r in service_logs)
    for secret in (good, hs, bad, job["streamTicket"], SECRET, TICKET_SECRET):
        assert secret not in text
        assert secret.rsplit(".", 1)[-1] not in text, "not even a token's signature"


def test_configured_auth_is_never_dev_mode(idp: IdentityProvider) -> None:
    for auth in (
        {"auth_jwt_secret": SECRET},
        {"auth_jwt_secret": None, "auth_issuer": idp.issuer, "auth_audience": AUDIENCE},
        {"auth_jwt_secret": None, "auth_jwks_url": idp.jwks_url, "auth_audience": AUDIENCE},
    ):
        settings = make_settings(None, **auth)
        assert not settings.dev_auth
        assert create_app(settings).state.dev_secret is None
    assert create_app(make_settings(None, auth_jwt_secret=None)).state.dev_secret is not None
