"""Bearer JWT verification with Authlib's JOSE engine, joserfc.

The algorithms are an allow-list (``none`` is never on it); ``exp`` and ``sub`` are required;
``iss`` and ``aud`` are checked when configured; ``nbf`` and ``iat`` when present; a small
leeway absorbs clock skew. Failures raise :class:`~auth.errors.InvalidToken` with a
description fit for ``WWW-Authenticate`` that never quotes the token (nor its header values,
which the sender chose).

Three verifiers share :func:`decode`: :class:`SecretVerifier` (HS256, ``AUTH_JWT_SECRET``),
:class:`~auth.jwks.JwksVerifier` (an identity provider's public keys) and
:class:`CombinedVerifier`, which routes a token to one of them by its ``alg`` so that a key
of one kind is never used to check a token meant for the other.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Protocol

from joserfc import jws, jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyCurveError,
    JoseError,
    KeyParameterError,
    MissingClaimError,
    UnsupportedAlgorithmError,
)
from joserfc.jwk import Key, OctKey

from auth.errors import InvalidToken

LEEWAY_S = 30
MIN_SECRET_LENGTH = 32

#: Signature algorithms whose keys are public: the only ones an identity provider's JWKS is
#: used for (``AUTH_ALGORITHMS`` must be a subset). HS256 is checked with AUTH_JWT_SECRET only.
PUBLIC_KEY_ALGORITHMS = frozenset(
    {
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
        "ES256", "ES384", "ES512", "ES256K", "EdDSA", "Ed25519", "Ed448",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller. ``sub`` owns the jobs it creates."""

    sub: str
    claims: dict[str, Any] = field(default_factory=dict, compare=False)


class Verifier(Protocol):
    async def verify(self, token: str) -> Principal: ...


def secret_key(secret: str) -> OctKey:
    """An HS256 key; refuses secrets too short to be safe (joserfc would only warn)."""
    if len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(f"an HS256 secret must be at least {MIN_SECRET_LENGTH} characters")
    return OctKey.import_key(secret)


def signature_registry(algorithms: Collection[str]) -> jws.JWSRegistry:
    """joserfc's JWS registry restricted to ``algorithms``.

    joserfc warns on every ``EdDSA`` verification because RFC 9864 deprecates that *name*
    (in favour of ``Ed25519``/``Ed448``), not the algorithm. Under ``AUTH_ALGORITHMS`` the
    operator chose it, so this registry's copy of EdDSA stays quiet; the global registry is
    left alone.
    """
    registry = jws.JWSRegistry(algorithms=list(algorithms))
    if "EdDSA" in algorithms:
        quiet = copy.copy(jws.JWSRegistry.algorithms["EdDSA"])
        quiet.security_warning = None
        registry.algorithms = {**jws.JWSRegistry.algorithms, "EdDSA": quiet}
    return registry


def unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header of ``token``, before any check: only to choose how to verify it."""
    if not token or token.count(".") != 2:
        raise InvalidToken("the token is not a JWT")
    try:
        header = dict(jws.extract_compact(token.encode()).headers())
    except (JoseError, ValueError, TypeError):
        raise InvalidToken("the token is malformed") from None
    if not isinstance(header.get("alg"), str):
        raise InvalidToken("the token is malformed")
    return header


def decode(
    token: str,
    key: Key,
    *,
    algorithms: Collection[str],
    required: Collection[str] = ("exp", "sub"),
    expected: dict[str, str] | None = None,
    leeway_s: int = LEEWAY_S,
    claims_registry: type[jwt.JWTClaimsRegistry] = jwt.JWTClaimsRegistry,
) -> jwt.Token:
    """Decode and validate ``token``; every failure is an :class:`InvalidToken` saying why."""
    if not token or token.count(".") != 2:
        raise InvalidToken("the token is not a JWT")
    try:
        decoded = jwt.decode(token, key, registry=signature_registry(algorithms))
    except UnsupportedAlgorithmError:
        raise InvalidToken("the token's signing algorithm is not allowed") from None
    except BadSignatureError:
        raise InvalidToken("the token's signature is invalid") from None
    except (KeyParameterError, InvalidKeyCurveError):
        # e.g. an HS256 header on a token whose kid names an RSA key: key confusion.
        raise InvalidToken("the token's algorithm does not match its signing key") from None
    except (JoseError, ValueError, TypeError):
        raise InvalidToken("the token is malformed") from None
    options: dict[str, Any] = {name: {"essential": True} for name in required}
    for name, value in (expected or {}).items():
        options[name] = {"essential": True, "value": value}
    try:
        claims_registry(leeway=leeway_s, **options).validate(decoded.claims)
    except ExpiredTokenError:
        raise InvalidToken("the token has expired") from None
    except MissingClaimError as exc:
        raise InvalidToken(f"the token lacks the {exc.claim!r} claim") from None
    except InvalidClaimError as exc:
        raise InvalidToken(_claim_problem(exc)) from None
    except JoseError:
        raise InvalidToken("the token's claims are invalid") from None
    sub = decoded.claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise InvalidToken("the token's 'sub' claim is empty")
    return decoded


def _claim_problem(exc: InvalidClaimError) -> str:
    if exc.claim == "nbf" and "not yet valid" in exc.description:
        return "the token is not valid yet (nbf)"
    if exc.claim == "iat" and "future" in exc.description:
        return "the token was issued in the future (iat)"
    if exc.claim == "iss":
        return "the token's issuer is not accepted"
    if exc.claim == "aud":
        return "the token's audience is not accepted"
    return f"the token's {exc.claim!r} claim is invalid"


class SecretVerifier:
    """Verifies HS256 tokens signed with a shared secret (``AUTH_JWT_SECRET``)."""

    def __init__(
        self, secret: str, *, issuer: str | None = None, audience: str | None = None
    ) -> None:
        self._key = secret_key(secret)
        self._expected = {
            name: value for name, value in (("iss", issuer), ("aud", audience)) if value
        }

    async def verify(self, token: str) -> Principal:
        decoded = decode(token, self._key, algorithms=["HS256"], expected=self._expected)
        return Principal(decoded.claims["sub"], decoded.claims)


class CombinedVerifier:
    """Both a shared secret and an identity provider: an HS256 token goes to the secret, any
    other to the provider's keys (which accept only ``AUTH_ALGORITHMS``). Routing by ``alg``
    means an HS256 token is never checked against a provider's key, nor an RS256 token
    against the secret."""

    def __init__(self, secret: Verifier, provider: Verifier) -> None:
        self._secret = secret
        self._provider = provider

    @property
    def generation(self) -> int:
        return int(getattr(self._provider, "generation", 0))

    async def verify(self, token: str) -> Principal:
        if unverified_header(token)["alg"] == "HS256":
            return await self._secret.verify(token)
        return await self._provider.verify(token)


class LifetimeCap:
    """Refuses tokens that claim a longer life than ``max_lifetime_s``
    (``AUTH_MAX_TOKEN_LIFETIME_S``): an ``exp`` further than that from now, or from the
    token's ``iat``. A token whose ``exp`` is ``1e300`` would otherwise never expire, and
    nothing could take it back."""

    def __init__(self, inner: Verifier, max_lifetime_s: float) -> None:
        self._inner = inner
        self._max_lifetime_s = max_lifetime_s

    @property
    def generation(self) -> int:
        return int(getattr(self._inner, "generation", 0))

    async def verify(self, token: str) -> Principal:
        principal = await self._inner.verify(token)
        expires = principal.claims.get("exp")
        issued = principal.claims.get("iat")
        now = time.time()
        starts = [now] + ([float(issued)] if isinstance(issued, int | float) else [])
        limit = self._max_lifetime_s + LEEWAY_S
        if not isinstance(expires, int | float) or any(expires - t > limit for t in starts):
            raise InvalidToken(
                f"the token claims a lifetime longer than this service accepts "
                f"({self._max_lifetime_s:g} s)"
            )
        return principal


class CachingVerifier:
    """Remembers tokens it has verified, for ``ttl_s`` at most and never past their ``exp``.

    A client presents the same bearer token on every call (create, attach, resume, status);
    verifying it once per ``ttl_s`` instead of per request takes the signature check off the
    hot path. Only successes are cached, and only while the inner verifier's ``generation``
    (if it has one: the JWKS verifier counts its key fetches) is unchanged, so a token whose
    key the provider withdrew is refused as soon as the new key set is fetched; the TTL bounds
    the rest. The cache is bounded: past ``max_entries`` the oldest entries are dropped.
    """

    def __init__(self, inner: Verifier, *, ttl_s: float = 60, max_entries: int = 4096) -> None:
        self._inner = inner
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._cache: dict[str, tuple[Principal, float, int]] = {}

    def _generation(self) -> int:
        return int(getattr(self._inner, "generation", 0))

    async def verify(self, token: str) -> Principal:
        now = time.time()
        hit = self._cache.get(token)
        if hit is not None:
            if now < hit[1] and hit[2] == self._generation():
                return hit[0]
            del self._cache[token]
        principal = await self._inner.verify(token)
        generation = self._generation()
        expires = principal.claims.get("exp")
        until = now + self._ttl_s
        if isinstance(expires, int | float):
            until = min(until, float(expires))
        if len(self._cache) >= self._max_entries:
            for stale in list(self._cache)[: self._max_entries // 8]:
                del self._cache[stale]
        self._cache[token] = (principal, until, generation)
        return principal


def mint_token(secret: str, sub: str, *, ttl_s: int = 3600, **claims: Any) -> str:
    """An HS256 token for ``sub`` that expires in ``ttl_s`` seconds."""
    now = int(time.time())
    payload = {"sub": sub, "iat": now, "exp": now + ttl_s, **claims}
    return jwt.encode({"alg": "HS256", "typ": "JWT"}, payload, secret_key(secret))
