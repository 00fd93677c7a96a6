"""Bearer tokens and stream tickets, verified with joserfc."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import time

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from auth import CachingVerifier, InvalidToken, Principal, SecretVerifier, TicketSigner, mint_token
from tests.conftest import SECRET

pytestmark = pytest.mark.anyio


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def signed(
    claims: dict[str, object], key: str = SECRET, header: dict[str, object] | None = None
) -> str:
    return jwt.encode(header or {"alg": "HS256"}, claims, OctKey.import_key(key))


def future() -> int:
    # Computed when the tests are collected: far enough ahead for a long, slow suite.
    return int(time.time()) + 3 * 3600


async def test_a_valid_token_names_its_subject() -> None:
    principal = await SecretVerifier(SECRET).verify(mint_token(SECRET, "alice"))
    assert principal.sub == "alice"


@pytest.mark.parametrize(
    ("token", "why"),
    [
        (signed({"sub": "a", "exp": int(time.time()) - 120}), "expired"),
        (signed({"sub": "a"}), "'exp'"),
        (signed({"exp": future()}), "'sub'"),
        (signed({"sub": "", "exp": future()}), "'sub'"),
        (signed({"sub": "a", "exp": future(), "nbf": future()}), "not valid yet"),
        (signed({"sub": "a", "exp": future()}, key="x" * 40), "signature"),
        (b64({"alg": "none"}) + "." + b64({"sub": "a", "exp": future()}) + ".", "algorithm"),
        ("a.b.c", "malformed"),
        ("garbage", "not a JWT"),
    ],
)
async def test_bad_tokens_are_refused_with_a_reason(token: str, why: str) -> None:
    with pytest.raises(InvalidToken, match=why) as caught:
        await SecretVerifier(SECRET).verify(token)
    assert token not in caught.value.description


async def test_tampered_payload_is_refused() -> None:
    header, _, signature = mint_token(SECRET, "alice").split(".")
    forged = f"{header}.{b64({'sub': 'admin', 'exp': future()})}.{signature}"
    with pytest.raises(InvalidToken, match="signature"):
        await SecretVerifier(SECRET).verify(forged)


async def test_only_hs256_is_accepted_with_a_shared_secret() -> None:
    rsa = RSAKey.generate_key(2048)
    token = jwt.encode({"alg": "RS256"}, {"sub": "a", "exp": future()}, rsa)
    with pytest.raises(InvalidToken, match="algorithm"):
        await SecretVerifier(SECRET).verify(token)


async def test_audience_is_checked_when_configured() -> None:
    verifier = SecretVerifier(SECRET, audience="jobs-api")
    assert (await verifier.verify(mint_token(SECRET, "a", aud="jobs-api"))).sub == "a"
    with pytest.raises(InvalidToken, match="audience"):
        await verifier.verify(mint_token(SECRET, "a", aud="other"))


def test_short_secrets_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        SecretVerifier("short")


async def test_tickets_are_bound_to_one_job_and_are_not_bearer_tokens() -> None:
    signer = TicketSigner(SECRET, ttl_s=60)
    ticket = signer.issue("a" * 32, "alice")
    assert signer.verify(ticket, "a" * 32).principal.sub == "alice"
    with pytest.raises(InvalidToken, match="another job"):
        signer.verify(ticket, "b" * 32)
    with pytest.raises(InvalidToken):
        await SecretVerifier(SECRET).verify(ticket)
    with pytest.raises(InvalidToken):
        signer.verify(mint_token(SECRET, "alice"), "a" * 32)
    expired = TicketSigner(SECRET, ttl_s=-10).issue("a" * 32, "alice")  # past its 5 s leeway
    with pytest.raises(InvalidToken, match="expired"):
        signer.verify(expired, "a" * 32)


def test_a_ticket_starts_its_job_within_its_ttl_and_reattaches_until_the_job_is_over() -> None:
    signer = TicketSigner(SECRET, ttl_s=60, resume_s=360)
    issued = time.time()
    fresh = signer.verify(signer.issue("a" * 32, "alice", now=issued), "a" * 32)
    assert fresh.may_start
    # 200 s later: past the 60 s (and the 5 s leeway) for a first attach, within 60 + 360.
    later = signer.verify(signer.issue("a" * 32, "alice", now=issued - 200), "a" * 32)
    assert later.principal.sub == "alice"
    assert not later.may_start, "a reconnect only: it may not start a pending job any more"
    with pytest.raises(InvalidToken, match="another job"):
        signer.verify(signer.issue("a" * 32, "alice", now=issued - 200), "b" * 32)
    # 60 + 360 + 5 (the leeway) + 1 s later: gone for good.
    with pytest.raises(InvalidToken, match="expired"):
        signer.verify(signer.issue("a" * 32, "alice", now=issued - 426), "a" * 32)
    assert signer.lifetime_s == 420


def test_the_token_command_mints_a_verifiable_token() -> None:
    env = {"AUTH_JWT_SECRET": SECRET, "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "auth", "token", "--sub", "carol", "--ttl", "120"],
        capture_output=True, text=True, env=env, check=True,
    )  # fmt: skip
    token = result.stdout.strip()
    claims = jwt.decode(token, OctKey.import_key(SECRET), algorithms=["HS256"]).claims
    assert claims["sub"] == "carol"
    assert 100 <= claims["exp"] - time.time() <= 120


def test_the_token_command_explains_a_missing_secret() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "auth", "token", "--sub", "carol"],
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 2
    assert "AUTH_JWT_SECRET" in result.stderr


class Counting:
    def __init__(self) -> None:
        self.calls = 0

    async def verify(self, token: str) -> Principal:
        self.calls += 1
        if token == "bad":
            raise InvalidToken("bad")
        exp = int(time.time()) + (1 if token == "short" else 600)
        return Principal(token, {"sub": token, "exp": exp})


async def test_the_cache_verifies_a_token_once_and_never_caches_failures() -> None:
    inner = Counting()
    cached = CachingVerifier(inner, ttl_s=60)
    assert (await cached.verify("alice")).sub == "alice"
    assert (await cached.verify("alice")).sub == "alice"
    assert inner.calls == 1
    for _ in range(2):
        with pytest.raises(InvalidToken):
            await cached.verify("bad")
    assert inner.calls == 3, "a failure is checked again every time"


async def test_the_cache_forgets_a_token_at_its_exp_and_stays_bounded() -> None:
    inner = Counting()
    cached = CachingVerifier(inner, ttl_s=60, max_entries=16)
    await cached.verify("short")
    await asyncio.sleep(1.1)
    await cached.verify("short")
    assert inner.calls == 2, "an expired entry is verified again (and fails if expired)"
    for n in range(100):
        await cached.verify(f"user-{n}")
    assert len(cached._cache) <= 16


def test_tickets_that_were_tampered_with_or_forged_are_refused() -> None:
    signer = TicketSigner(SECRET)
    ticket = signer.issue("a" * 32, "alice")
    prefix, payload, signature = ticket.split(".")
    forged_payload = b64({"sub": "mallory", "job": "a" * 32, "exp": future()})
    for bad in (
        f"{prefix}.{forged_payload}.{signature}",
        f"{prefix}.{payload}.{signature[:-2]}AA",
        TicketSigner("another-secret-" + "x" * 32).issue("a" * 32, "alice"),
        "st1.",
        "",
        mint_token(SECRET, "alice"),
    ):
        with pytest.raises(InvalidToken):
            signer.verify(bad, "a" * 32)
