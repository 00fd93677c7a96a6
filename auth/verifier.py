"""Bearer JWT verification with Authlib's JOSE engine, joserfc.

The algorithms are an allow-list (``none`` is never on it); ``exp`` and ``sub`` are required;
``iss`` and ``aud`` are checked when configured; a small leeway absorbs clock skew. Failures
raise :class:`~auth.errors.InvalidToken` with a description fit for ``WWW-Authenticate``.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Protocol

from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
    UnsupportedAlgorithmError,
)
from joserfc.jwk import OctKey

from auth.errors import InvalidToken

#: Header ``typ`` of stream tickets; a bearer token of this type is refused.
TICKET_TYPE = "stream-ticket+jwt"
LEEWAY_S = 30
MIN_SECRET_LENGTH = 32


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


def decode(
    token: str,
    key: OctKey,
    *,
    algorithms: Collection[str],
    required: Collection[str] = ("exp", "sub"),
    expected: dict[str, str] | None = None,
) -> jwt.Token:
    """Decode and validate ``token``; every failure is an :class:`InvalidToken` saying why."""
    if not token or token.count(".") != 2:
        raise InvalidToken("the token is not a JWT")
    try:
        decoded = jwt.decode(token, key, algorithms=list(algorithms))
    except UnsupportedAlgorithmError:
        raise InvalidToken("the token's signing algorithm is not allowed") from None
    except BadSignatureError:
        raise InvalidToken("the token's signature is invalid") from None
    except (JoseError, ValueError, TypeError):
        raise InvalidToken("the token is malformed") from None
    options: dict[str, Any] = {name: {"essential": True} for name in required}
    for name, value in (expected or {}).items():
        options[name] = {"essential": True, "value": value}
    try:
        jwt.JWTClaimsRegistry(leeway=LEEWAY_S, **options).validate(decoded.claims)
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
    if "not yet valid" in exc.description:
        return "the token is not valid yet (nbf)"
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
        if decoded.header.get("typ") == TICKET_TYPE:
            raise InvalidToken("a stream ticket is not a bearer token")
        return Principal(decoded.claims["sub"], decoded.claims)


def mint_token(secret: str, sub: str, *, ttl_s: int = 3600, **claims: Any) -> str:
    """An HS256 token for ``sub`` that expires in ``ttl_s`` seconds."""
    now = int(time.time())
    payload = {"sub": sub, "iat": now, "exp": now + ttl_s, **claims}
    return jwt.encode({"alg": "HS256", "typ": "JWT"}, payload, secret_key(secret))
