"""Provider tokens: discovery, the JWKS cache and its limits, against a local OIDC provider
over real HTTP (tests/support/idp.py). The cache's clock is injected; no test waits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from auth import AuthUnavailable, CombinedVerifier, InvalidToken, SecretVerifier, mint_token
from auth.jwks import (
    MAX_DOCUMENT_BYTES,
    REFETCH_COOLDOWN_S,
    JwksCache,
    JwksVerifier,
    provider_client,
)
from tests.conftest import SECRET
from tests.support.idp import AUDIENCE, IdentityProvider, hs256_with, oct_jwks, unsigned
from tests.support.redis_server import free_port

pytestmark = pytest.mark.anyio

ALGORITHMS = ["RS256", "ES256", "EdDSA"]


class Clock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    client = provider_client()
    try:
        yield client
    finally:
        await client.aclose()


def make(
    idp: IdentityProvider,
    http: httpx2.AsyncClient,
    clock: Clock | None = None,
    *,
    issuer: str | None = None,
    **cache: Any,
) -> JwksVerifier:
    keys = JwksCache(http, issuer=issuer or idp.issuer, clock=clock or Clock(), **cache)
    return JwksVerifier(keys, algorithms=ALGORITHMS, issuer=idp.issuer, audience=AUDIENCE)


async def test_discovery_alone_verifies_rsa_ec_and_ed25519_tokens(
    idp: IdentityProvider, http: httpx2.AsyncClient
) -> None:
    verifier = make(idp, http)
    for kid in ("rsa-1", "ec-1", "ed-1"):
        principal = await verifier.verify(idp.token("alice", kid=kid))
        assert principal.sub == "alice"
        assert principal.claims["iss"] == idp.issuer
    assert idp.hits == {"discovery": 1, "jwks": 1}, "one discovery, then the cached keys"


async def test_a_jwks_url_is_used_without_discovery(
    idp: IdentityProvider, http: httpx2.AsyncClient
) -> None:
    keys = JwksCache(http, jwks_url=idp.jwks_url)
    verifier = JwksVerifier(keys, algorithms=ALGORITHMS, audience=AUDIENCE)
    assert (await verifier.verify(idp.token("bob"))).sub == "bob"
    assert idp.hits == {"jwks": 1}


async def test_concurrent_requests_on_a_cold_cache_share_one_fetch(
    idp: IdentityProvider, http: httpx2.AsyncClient
) -> None:
    verifier = make(idp, http)
    tokens = [idp.token(f"user-{n}", kid=("rsa-1", "ec-1")[n % 2]) for n in range(20)]
    principals = await asyncio.gather(*(verifier.verify(token) for token in tokens))
    assert [p.sub for p in principals] == [f"user-{n}" for n in range(20)]
    assert idp.hits == {"discovery": 1, "jwks": 1}


async def test_an_unknown_kid_refetches_at_most_once_per_cooldown(
    idp: IdentityProvider, http: httpx2.AsyncClient
) -> None:
    clock = Clock()
    verifier = make(idp, http, clock)
    await verifier.verify(idp.token())
    stranger = RSAKey.generate_key(2048)
    for attempt in range(5):
        with pytest.raises(InvalidToken, match="signing key") as caught:
            await verifier.verify(idp.token(kid=f"bogus-{attempt}", key=stranger))
        assert "bogus" not in caught.value.description, "header values are not echoed"
    assert idp.hits["jwks"] == 2, "five unknown kids within the cooldown: one refetch"
    clock.now_s += REFETCH_COOLDOWN_S
    with pytest.raises(InvalidToken):
        await verifier.verify(idp.token(kid="bogus-late", key=stranger))
    assert idp.hits["jwks"] == 3, "after the cooldown, one more"
    assert idp.hits["discovery"] == 1


async def test_a_rotated_key_is_picked_up_without_a_restart(
    idp: IdentityProvider, http: httpx2.AsyncClient
) -> None:
    verifier = make(idp, http)
    old = idp.token("alice")
    assert (await verifier.verify(old)).sub == "alice"
    new_kid = idp.rotate()
    assert (await verifier.verify(idp.token("alice", kid=new_kid))).sub == "alice"
    assert idp.hits["jwks"] == 2
    with pytest.raises(InvalidToken, match="signing key"):
        await verifier.verify(old)  # the withdrawn key is gone from the cache too


async def test_keys_are_refreshed_after_the_ttl(
    idp: IdentityProvider, http: httpx2.AsyncClient
) -> None:
    clock = Clock()
    verifier = make(idp, http, clock, ttl_s=600)
    token = idp.token(kid="ec-1")
    await verifier.verify(token)
    clock.now_s += 599
    await verifier.verify(token)
    assert idp.hits["jwks"] == 1
    del idp.keys["ec-1"]  # the provider withdraws a key
    clock.now_s += 1
    with pytest.raises(InvalidToken, match="signing key"):
        await verifier.verify(token)
    assert idp.hits["jwks"] == 2, "refreshed once at the TTL (its refetch is the same fetch)"


async def test_a_provider_outage_is_unavailable_not_invalid_and_is_not_hammered(
    idp: IdentityProvider, http: httpx2.AsyncClient
) -> None:
    clock = Clock()
    verifier = make(idp, http, clock, retry_after_s=5)
    idp.failure = 503
    for _ in range(3):
        with pytest.raises(AuthUnavailable, match="cannot be fetched"):
            await verifier.verify(idp.token())
    assert idp.hits["discovery"] == 1, "no retry before retry_after_s"
    idp.failure = None
    clock.now_s += 5
    assert (await verifier.verify(idp.token())).sub == "alice", "recovers by itself"


async def test_cached_keys_outlive_a_provider_outage(
    idp: IdentityProvider, http: httpx2.AsyncClient
) -> None:
    clock = Clock()
    verifier = make(idp, http, clock, ttl_s=60)
    token = idp.token()
    await verifier.verify(token)
    idp.failure = 500
    clock.now_s += 120
    assert (await verifier.verify(token)).sub == "alice", "stale keys beat no keys"
    assert idp.hits["jwks"] == 2
    with pytest.raises(AuthUnavailable):
        # A kid we do not have while the provider fails: it may be a real new key.
        await verifier.verify(idp.token(kid="rsa-9", key=RSAKey.generate_key(2048)))
    assert idp.hits["jwks"] == 2


@pytest.mark.parametrize(
    "breakage",
    ["http-500", "not-json", "no-keys-list", "only-symmetric-keys", "oversized", "wrong-issuer"],
)
async def test_a_broken_provider_is_unavailable(
    idp: IdentityProvider, http: httpx2.AsyncClient, breakage: str
) -> None:
    if breakage == "http-500":
        idp.failure = 500
    elif breakage == "not-json":
        idp.jwks_body = b"<html>login</html>"
    elif breakage == "no-keys-list":
        idp.jwks_body = b'{"keys": "none"}'
    elif breakage == "only-symmetric-keys":
        idp.jwks_body = oct_jwks(SECRET)
    elif breakage == "oversized":
        idp.jwks_body = json.dumps({"keys": [], "pad": "x" * MAX_DOCUMENT_BYTES}).encode()
    elif breakage == "wrong-issuer":
        idp.discovery_issuer = "https://elsewhere.example"
    with pytest.raises(AuthUnavailable):
        await make(idp, http).verify(idp.token())


async def test_an_unreachable_provider_is_unavailable(http: httpx2.AsyncClient) -> None:
    keys = JwksCache(http, issuer=f"http://127.0.0.1:{free_port()}")
    verifier = JwksVerifier(keys, algorithms=ALGORITHMS, audience=AUDIENCE)
    with pytest.raises(AuthUnavailable):
        await verifier.verify(jwt.encode({"alg": "RS256"}, {"sub": "a"}, RSAKey.generate_key(2048)))


async def test_symmetric_keys_in_a_jwks_are_never_used(
    idp: IdentityProvider, http: httpx2.AsyncClient
) -> None:
    """A JWKS that publishes an ``oct`` key next to RSA: the cache drops the ``oct`` key, so
    no token can be checked against it, whatever algorithm it names."""
    symmetric = json.loads(oct_jwks(SECRET))["keys"]
    assert [entry["kty"] for entry in symmetric] == ["oct"]
    idp.jwks_body = json.dumps(
        {"keys": [*symmetric, idp.keys["rsa-1"].as_dict(private=False)]}
    ).encode()
    cache = JwksCache(http, issuer=idp.issuer, clock=Clock())
    held = await cache.keys()
    assert [(key.kid, key.key_type) for key in held] == [("rsa-1", "RSA")]

    # An allowed algorithm naming the oct key's kid: had the cache kept the key, the verifier
    # would find it and refuse the mismatch; dropped, the kid is simply not published.
    verifier = JwksVerifier(cache, algorithms=ALGORITHMS, issuer=idp.issuer, audience=AUDIENCE)
    naming_oct = idp.token(kid="oct-1", key=idp.keys["rsa-1"])
    with pytest.raises(InvalidToken, match="not one the provider publishes"):
        await verifier.verify(naming_oct)

    # A key set of nothing but the oct key is no key set at all.
    idp.jwks_body = oct_jwks(SECRET)
    with pytest.raises(AuthUnavailable):
        await JwksCache(http, issuer=idp.issuer, clock=Clock()).keys()
    with pytest.raises(ValueError, match="public-key algorithms only"):
        JwksVerifier(
            JwksCache(http, issuer=idp.issuer), algorithms=["RS256", "HS256"], audience=AUDIENCE
        )


@pytest.mark.parametrize(
    ("forge", "why"),
    [
        ("none", "algorithm is not allowed"),
        ("hs256-with-public-key", "algorithm is not allowed"),
        ("es256-naming-the-rsa-kid", "does not match its signing key"),
        ("no-kid-several-keys", "no 'kid'"),
        ("iat-in-the-future", "issued in the future"),
    ],
)
async def test_forgeries_are_refused(
    idp: IdentityProvider, http: httpx2.AsyncClient, forge: str, why: str
) -> None:
    idp.keys["rsa-2"] = RSAKey.generate_key(2048, {"kid": "rsa-2"})
    claims = idp.claims()
    token = {
        "none": lambda: unsigned(claims),
        "hs256-with-public-key": lambda: hs256_with(idp.public_pem(), claims),
        "es256-naming-the-rsa-kid": lambda: idp.token(kid="rsa-1", key=idp.keys["ec-1"]),
        "no-kid-several-keys": lambda: idp.token(header={"kid": None}, kid="rsa-2"),
        "iat-in-the-future": lambda: idp.token(iat=claims["iat"] + 600),
    }[forge]()
    with pytest.raises(InvalidToken, match=why) as caught:
        await make(idp, http).verify(token)
    assert token not in caught.value.description


async def test_a_token_without_kid_uses_the_only_key_of_its_type(
    idp: IdentityProvider, http: httpx2.AsyncClient
) -> None:
    verifier = make(idp, http)
    assert (await verifier.verify(idp.token("carol", kid="ec-1", header={"kid": None}))).sub == (
        "carol"
    )


async def test_both_secret_and_provider_never_confuse_their_keys(
    idp: IdentityProvider, http: httpx2.AsyncClient
) -> None:
    verifier = CombinedVerifier(SecretVerifier(SECRET), make(idp, http))
    assert (await verifier.verify(mint_token(SECRET, "hs-user"))).sub == "hs-user"
    assert (await verifier.verify(idp.token("rs-user"))).sub == "rs-user"
    # HS256 goes to the secret, so the RSA public key as an HMAC key is just a wrong secret.
    with pytest.raises(InvalidToken, match="signature"):
        await verifier.verify(hs256_with(idp.public_pem(), idp.claims()))
    # An RS256 header never reaches the secret.
    with pytest.raises(InvalidToken, match="signing key"):
        await verifier.verify(idp.token(kid="made-up", key=RSAKey.generate_key(2048)))


async def test_a_kid_that_cannot_be_checked_during_an_outage_is_503_until_it_can_be(
    idp: IdentityProvider, http: httpx2.AsyncClient
) -> None:
    """The service has keys; the provider goes down; a token arrives with a kid the service
    has not seen. Every request is 503 while the provider fails (never "not a key the provider
    publishes"), and the first one after it is back (past the retry wait) fetches the key: no
    cooldown was started by the failed fetches."""
    clock = Clock()
    verifier = make(idp, http, clock, retry_after_s=5)
    await verifier.verify(idp.token())
    idp.failure = 503
    new_kid = idp.rotate("rsa-new")  # the provider rotated during its outage
    new = idp.token("alice", kid=new_kid)
    for step_s in (0, 1, 5, 1, 5):  # within and past the retry wait, several fetches failing
        clock.now_s += step_s
        with pytest.raises(AuthUnavailable):
            await verifier.verify(new)
    # At 0, 6 and 12 s (each failure rediscovers: the JWKS may have moved), never in between.
    assert idp.hits["jwks"] + idp.hits["discovery"] == 2 + 3, "once per retry wait at most"
    idp.failure = None
    clock.now_s += 6
    assert (await verifier.verify(new)).sub == "alice", "fetched at once, no 30 s cooldown"


async def test_the_refetch_cooldown_starts_after_a_successful_refetch_only(
    idp: IdentityProvider, http: httpx2.AsyncClient
) -> None:
    clock = Clock()
    verifier = make(idp, http, clock, retry_after_s=5)
    await verifier.verify(idp.token())
    stranger = RSAKey.generate_key(2048)
    with pytest.raises(InvalidToken, match="signing key"):  # a successful refetch: not there
        await verifier.verify(idp.token(kid="bogus", key=stranger))
    assert idp.hits["jwks"] == 2
    clock.now_s += REFETCH_COOLDOWN_S - 1
    with pytest.raises(InvalidToken, match="signing key"):  # cooling down: no fetch
        await verifier.verify(idp.token(kid="bogus-2", key=stranger))
    assert idp.hits["jwks"] == 2


async def test_an_issuer_mismatch_is_a_configuration_error_named_in_every_503(
    idp: IdentityProvider, http: httpx2.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    configured = idp.issuer + "/"  # the provider names itself without the trailing slash
    keys = JwksCache(http, issuer=configured, clock=clock)
    problem = await keys.check()
    assert problem is not None
    assert repr(configured) in problem
    assert repr(idp.issuer) in problem
    assert "trailing slash" in problem
    assert keys.misconfiguration == problem
    assert any(
        r.levelname == "ERROR" and "CONFIGURATION ERROR" in r.getMessage() for r in caplog.records
    )
    verifier = JwksVerifier(keys, algorithms=ALGORITHMS, issuer=configured, audience=AUDIENCE)
    with pytest.raises(AuthUnavailable, match="misconfigured: AUTH_ISSUER is"):
        await verifier.verify(idp.token())
    idp.discovery_issuer = configured  # the provider is changed to match
    clock.now_s += 5
    assert await keys.check() is None, "resolved once the provider names the issuer asked"
    assert keys.misconfiguration is None
