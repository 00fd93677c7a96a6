"""Only access tokens are accepted from a provider: the ``typ`` policy (``AUTH_TOKEN_TYPES``),
RFC 9068's required claims, and ID tokens refused, against the local provider over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest

from auth import InvalidToken
from auth.access_tokens import TokenTypes
from auth.jwks import JwksCache, JwksVerifier, provider_client
from tests.support.idp import AUDIENCE, IdentityProvider

pytestmark = pytest.mark.anyio


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    client = provider_client()
    try:
        yield client
    finally:
        await client.aclose()


def make(idp: IdentityProvider, http: httpx2.AsyncClient, *types: str) -> JwksVerifier:
    return JwksVerifier(
        JwksCache(http, issuer=idp.issuer),
        algorithms=["RS256", "ES256", "EdDSA"],
        issuer=idp.issuer,
        audience=AUDIENCE,
        token_types=TokenTypes(types) if types else None,
    )


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT", "Application/At+Jwt"])
async def test_rfc9068_access_tokens_are_accepted_in_every_spelling(
    idp: IdentityProvider, http: httpx2.AsyncClient, typ: str
) -> None:
    token = idp.token("alice", header={"typ": typ}, client_id="web", jti="j-1")
    principal = await make(idp, http).verify(token)
    assert principal.sub == "alice"
    assert principal.claims["client_id"] == "web"


async def test_by_default_jwt_typed_access_tokens_are_accepted_and_untyped_ones_refused(
    idp: IdentityProvider, http: httpx2.AsyncClient
) -> None:
    verifier = make(idp, http)
    assert (await verifier.verify(idp.token("alice", kid="ec-1"))).sub == "alice"
    assert (await verifier.verify(idp.access_token("bob", kid="ed-1"))).sub == "bob"
    with pytest.raises(InvalidToken, match="no 'typ' header"):
        await verifier.verify(idp.token("alice", header={"typ": None}))


async def test_untyped_tokens_are_accepted_only_when_the_operator_opts_in(
    idp: IdentityProvider, http: httpx2.AsyncClient
) -> None:
    verifier = make(idp, http, "at+jwt", "JWT", "untyped")
    assert (await verifier.verify(idp.token("alice", header={"typ": None}))).sub == "alice"


@pytest.mark.parametrize("typ", ["id_token+jwt", "dpop+jwt", "logout+jwt", "secevent+jwt", ""])
async def test_other_token_types_are_refused(
    idp: IdentityProvider, http: httpx2.AsyncClient, typ: str
) -> None:
    with pytest.raises(InvalidToken, match="type \\(typ\\) is not an accepted") as caught:
        await make(idp, http).verify(idp.token("alice", header={"typ": typ}))
    assert typ not in caught.value.description or not typ, "the sender's value is not echoed"
    assert idp.hits["jwks"] == 0, "refused before any key is fetched"


async def test_an_at_jwt_only_list_refuses_jwt_typed_tokens(
    idp: IdentityProvider, http: httpx2.AsyncClient
) -> None:
    verifier = make(idp, http, "at+jwt")
    assert (await verifier.verify(idp.access_token("alice"))).sub == "alice"
    with pytest.raises(InvalidToken, match="not an accepted access token type"):
        await verifier.verify(idp.token("alice"))


@pytest.mark.parametrize("missing", ["client_id", "jti", "iat", "iss"])
async def test_an_at_jwt_token_must_carry_rfc9068s_claims(
    idp: IdentityProvider, http: httpx2.AsyncClient, missing: str
) -> None:
    leave_out: dict[str, Any] = {missing: None}
    token = idp.access_token("alice", **leave_out)
    with pytest.raises(InvalidToken, match=f"lacks the '{missing}' claim"):
        await make(idp, http).verify(token)


async def test_rfc9068_claim_types_are_checked(
    idp: IdentityProvider, http: httpx2.AsyncClient
) -> None:
    with pytest.raises(InvalidToken, match="'amr' claim is invalid"):
        await make(idp, http).verify(idp.access_token("alice", amr="pwd"))


@pytest.mark.parametrize("claim", ["nonce", "at_hash", "c_hash", "s_hash"])
async def test_id_tokens_are_refused_by_their_claims(
    idp: IdentityProvider, http: httpx2.AsyncClient, claim: str
) -> None:
    extra: dict[str, Any] = {claim: "x"}
    token = idp.token("alice", **extra)  # typ JWT, aud the service's own
    with pytest.raises(InvalidToken, match=f"an ID token \\(it has '{claim}'\\)"):
        await make(idp, http).verify(token)


async def test_a_real_shaped_id_token_is_refused_even_as_at_jwt(
    idp: IdentityProvider, http: httpx2.AsyncClient
) -> None:
    with pytest.raises(InvalidToken, match="ID token"):
        await make(idp, http).verify(idp.id_token("alice"))
    mislabelled = idp.token("alice", header={"typ": "at+jwt"}, client_id="w", jti="j", nonce="n")
    with pytest.raises(InvalidToken, match="ID token"):
        await make(idp, http).verify(mislabelled)


async def test_a_type_list_needs_an_entry_and_a_provider_an_audience(
    http: httpx2.AsyncClient,
) -> None:
    with pytest.raises(ValueError, match="at least one"):
        TokenTypes([" "])
    with pytest.raises(ValueError, match="audience"):
        JwksVerifier(JwksCache(http, jwks_url="http://x/"), algorithms=["RS256"], audience="")
