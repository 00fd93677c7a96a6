"""A local OpenID Connect provider over real HTTP: discovery, a JWKS, and tokens signed with
its RSA, EC and Ed25519 keys. It counts the requests it serves, can rotate its keys, and can be
told to fail, so tests see exactly what the service asks of a provider.

Tokens come in the shapes real providers issue: ``typ: JWT`` access tokens (:meth:`token`),
RFC 9068 ``typ: at+jwt`` access tokens (:meth:`access_token`) and OpenID Connect ID tokens
(:meth:`id_token`). Also the forgeries an attacker would try, built by hand as an attacker
would build them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import Counter
from typing import Any

from joserfc import jws, jwt
from joserfc.jwk import ECKey, Key, OctKey, OKPKey, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from auth.verifier import signature_registry
from tests.support.live import LiveServer

AUDIENCE = "jobs-api"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(data: dict[str, Any]) -> str:
    return b64(json.dumps(data).encode())


class IdentityProvider:
    """Serves ``/.well-known/openid-configuration`` and ``/jwks`` on a free port.

    ``failure`` set to an HTTP status makes both answer it; ``jwks_body`` replaces the JWKS
    document with raw bytes. ``hits`` counts requests by path.
    """

    def __init__(self) -> None:
        self._initial_keys: dict[str, Key] = {
            "rsa-1": RSAKey.generate_key(2048, {"kid": "rsa-1", "use": "sig"}),
            "ec-1": ECKey.generate_key("P-256", {"kid": "ec-1", "use": "sig"}),
            "ed-1": OKPKey.generate_key("Ed25519", {"kid": "ed-1", "use": "sig"}),
        }
        self.reset()
        self.server = LiveServer(
            Starlette(
                routes=[
                    Route("/.well-known/openid-configuration", self._discovery),
                    Route("/jwks", self._jwks),
                ]
            )
        )

    def reset(self) -> None:
        """Back to the first keys, no failure, no hits (one server serves many tests)."""
        self.keys: dict[str, Key] = dict(self._initial_keys)
        self.hits: Counter[str] = Counter()
        self.failure: int | None = None
        self.jwks_body: bytes | None = None
        self.discovery_issuer: str | None = None

    def start(self) -> IdentityProvider:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    @property
    def issuer(self) -> str:
        return self.server.url

    @property
    def jwks_url(self) -> str:
        return f"{self.server.url}/jwks"

    async def _discovery(self, request: Request) -> Response:
        self.hits["discovery"] += 1
        if self.failure is not None:
            return Response("unavailable", status_code=self.failure)
        return JSONResponse(
            {
                "issuer": self.discovery_issuer or self.issuer,
                "jwks_uri": self.jwks_url,
                "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
            }
        )

    async def _jwks(self, request: Request) -> Response:
        self.hits["jwks"] += 1
        if self.failure is not None:
            return Response("unavailable", status_code=self.failure)
        if self.jwks_body is not None:
            return Response(self.jwks_body, media_type="application/json")
        return JSONResponse({"keys": [key.as_dict(private=False) for key in self.keys.values()]})

    def rotate(self, kid: str = "rsa-2") -> str:
        """Replace the RSA key with a new one named ``kid`` (the old one is withdrawn)."""
        for old in [name for name, key in self.keys.items() if key.key_type == "RSA"]:
            del self.keys[old]
        self.keys[kid] = RSAKey.generate_key(2048, {"kid": kid, "use": "sig"})
        return kid

    def claims(self, sub: str | None = "alice", **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": sub,
            "iat": now,
            "exp": now + 600,
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def token(
        self,
        sub: str | None = "alice",
        *,
        kid: str = "rsa-1",
        key: Key | None = None,
        header: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A token signed with the key ``kid`` (or ``key``, still naming ``kid``); a ``None``
        in ``header`` or among the claims leaves that entry out."""
        signing_key = key or self.keys[kid]
        alg = {"RSA": "RS256", "EC": "ES256", "OKP": "EdDSA"}[signing_key.key_type]
        full_header = {"alg": alg, "kid": kid, "typ": "JWT", **(header or {})}
        header_set = {name: value for name, value in full_header.items() if value is not None}
        registry = signature_registry([alg])  # EdDSA without joserfc's naming warning
        if "typ" not in header_set:  # jwt.encode would add "typ": "JWT"
            payload = json.dumps(self.claims(sub, **claims)).encode()
            return jws.serialize_compact(header_set, payload, signing_key, registry=registry)
        return jwt.encode(header_set, self.claims(sub, **claims), signing_key, registry=registry)

    def access_token(self, sub: str = "alice", *, kid: str = "rsa-1", **claims: Any) -> str:
        """An RFC 9068 access token: ``typ: at+jwt``, with ``client_id``, ``jti`` and ``iat``
        (the shape ``oidc-provider`` issues for a resource indicator)."""
        shape: dict[str, Any] = {
            "client_id": "planner-web",
            "jti": secrets.token_urlsafe(12),
            "scope": "jobs",
        }
        return self.token(sub, kid=kid, header={"typ": "at+jwt"}, **(shape | claims))

    def id_token(self, sub: str = "alice", *, kid: str = "rsa-1", **claims: Any) -> str:
        """An OpenID Connect ID token whose ``aud`` happens to be the service's audience:
        ``typ: JWT``, with the claims only ID tokens carry (``nonce``, ``at_hash``)."""
        shape: dict[str, Any] = {
            "nonce": "n-0S6_WzA2Mj",
            "at_hash": "77QmUPtjPfzWtF2AnpK9RQ",
            "auth_time": 1,
        }
        return self.token(sub, kid=kid, **(shape | claims))

    def public_pem(self, kid: str = "rsa-1") -> bytes:
        key = self.keys[kid]
        assert isinstance(key, RSAKey)
        return key.as_pem(private=False)


def unsigned(claims: dict[str, Any], kid: str = "rsa-1") -> str:
    """``alg: none``: no signature at all."""
    return f"{b64json({'alg': 'none', 'kid': kid, 'typ': 'JWT'})}.{b64json(claims)}."


def hs256_with(secret: bytes, claims: dict[str, Any], kid: str = "rsa-1") -> str:
    """An HS256 token whose HMAC key is ``secret``: given a provider's public key PEM, the
    classic key-confusion forgery."""
    signing_input = f"{b64json({'alg': 'HS256', 'kid': kid, 'typ': 'JWT'})}.{b64json(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def tampered(token: str, **claims: Any) -> str:
    """``token`` with its payload rewritten and its signature kept."""
    header, payload, signature = token.split(".")
    original = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return f"{header}.{b64json(original | claims)}.{signature}"


def oct_jwks(secret: str) -> bytes:
    """A JWKS that publishes only a symmetric key (which must never be used)."""
    key = OctKey.import_key(secret, {"kid": "oct-1"})
    return json.dumps({"keys": [key.as_dict(private=True)]}).encode()
