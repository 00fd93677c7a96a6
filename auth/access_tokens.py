"""Which provider tokens are access tokens: the ``typ`` policy and ID-token refusal.

An identity provider signs more than access tokens with the same keys: an OIDC **ID token**
names the client as its ``aud``, and a service whose audience happens to match would take it
as an access token. RFC 9068 gives access tokens their own type, ``typ: at+jwt``
(``application/at+jwt``), so a resource server can tell them apart; many providers still send
``typ: JWT`` for access tokens. :class:`TokenTypes` is the operator's list
(``AUTH_TOKEN_TYPES``):

- ``typ`` values compare case-insensitively, with or without the ``application/`` prefix
  (RFC 7515, section 4.1.9), so ``at+jwt`` and ``application/at+jwt`` are one type;
- a token with no ``typ`` is refused unless the list holds :data:`UNTYPED`;
- an ``at+jwt`` token must carry RFC 9068's required claims (``iss``, ``exp``, ``aud``,
  ``sub``, ``client_id``, ``iat``, ``jti``); its claims are validated with Authlib's RFC 9068
  claims registry (``auth_time`` a number, ``amr`` a list);
- whatever its ``typ``, a token carrying a claim only ID tokens carry (``nonce``, ``at_hash``,
  ``c_hash``, ``s_hash``) is refused: an ID token with ``typ: JWT`` is told apart this way.

What cannot be told apart: an ID token with ``typ: JWT`` and none of those claims (an
authorization-code flow without a nonce). Against that, ``AUTH_AUDIENCE`` is required with a
provider and should be the API's own identifier, never a client id; a provider that issues
RFC 9068 tokens is best met with ``AUTH_TOKEN_TYPES=at+jwt``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from authlib.oauth2.rfc9068.claims import JWTAccessTokenClaimsValidator

from auth.errors import InvalidToken

#: The ``AUTH_TOKEN_TYPES`` entry that admits tokens without a ``typ`` header.
UNTYPED = "untyped"
DEFAULT_TOKEN_TYPES = ("at+jwt", "application/at+jwt", "JWT")
RFC9068_TYPE = "at+jwt"
#: Claims RFC 9068 (section 2.2) requires in an ``at+jwt`` token.
RFC9068_REQUIRED = ("iss", "exp", "aud", "sub", "client_id", "iat", "jti")
#: Claims that only ID tokens carry (OpenID Connect Core 1.0, sections 2, 3.1.3.6, 3.3.2.11;
#: ``s_hash`` from FAPI).
ID_TOKEN_CLAIMS = ("nonce", "at_hash", "c_hash", "s_hash")

ClaimsRegistry = JWTAccessTokenClaimsValidator


def normalize(typ: str) -> str:
    """``typ`` as compared: lower case, without the ``application/`` prefix."""
    lowered = typ.strip().lower()
    return lowered.removeprefix("application/")


class TokenTypes:
    """The accepted ``typ`` values (``AUTH_TOKEN_TYPES``)."""

    def __init__(self, accepted: Collection[str] = DEFAULT_TOKEN_TYPES) -> None:
        values = [value for value in accepted if value.strip()]
        if not values:
            raise ValueError("at least one token type must be accepted")
        self.untyped = any(value.strip().lower() == UNTYPED for value in values)
        self._accepted = frozenset(
            normalize(value) for value in values if value.strip().lower() != UNTYPED
        )

    def required_claims(self, header: Mapping[str, Any]) -> tuple[str, ...]:
        """The claims a token with this header must carry; refuses a type not accepted."""
        typ = header.get("typ")
        if typ is None:
            if not self.untyped:
                raise InvalidToken("the token has no 'typ' header: not an access token")
            return ("exp", "sub")
        if not isinstance(typ, str) or normalize(typ) not in self._accepted:
            # The value is the sender's: not quoted.
            raise InvalidToken("the token's type (typ) is not an accepted access token type")
        if normalize(typ) == RFC9068_TYPE:
            return RFC9068_REQUIRED
        return ("exp", "sub")


def refuse_id_token(claims: Mapping[str, Any]) -> None:
    """An ID token is not an access token, whatever its ``typ`` says."""
    for name in ID_TOKEN_CLAIMS:
        if name in claims:
            raise InvalidToken(f"the token is an ID token (it has {name!r}), not an access token")
