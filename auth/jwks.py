"""Tokens signed by an identity provider: OIDC discovery, a JWKS key cache, verification.

The keys come from ``AUTH_JWKS_URL``, or from the ``jwks_uri`` of
``{AUTH_ISSUER}/.well-known/openid-configuration``. :class:`JwksCache`:

- is checked once at start-up in the background (:meth:`JwksCache.check`): start-up never
  waits for the provider, and a discovery document naming another issuer than
  ``AUTH_ISSUER`` is reported at once, as a configuration error (logs, ``/readyz``, and the
  ``detail`` of every 503), not as an endless outage;
- fetches single-flight: requests that find the cache cold or stale wait for one shared fetch
  instead of each sending their own;
- keeps keys for ``ttl_s``, then refreshes them;
- refetches for a ``kid`` it does not know; after a *successful* refetch it waits
  ``refetch_cooldown_s`` before the next (as ``jose``'s remote JWKS set does): a rotated key
  works without a restart, and a flood of made-up kids costs the provider one request per
  cooldown. A failed fetch starts no cooldown;
- never answers "invalid token" for a key it could not check: while the provider fails, a
  token whose ``kid`` it does not have gets :class:`~auth.errors.AuthUnavailable` (503), as
  does every token while it has no keys at all. When a refresh fails it keeps the keys it has
  (an outage does not log everybody out), and after any failure waits ``retry_after_s``
  before it asks again, so an outage is not met with a retry storm.

Only public signing keys are taken from a JWKS (``kty`` RSA, EC or OKP; ``use`` absent or
``sig``); ``oct`` keys are ignored. :class:`JwksVerifier` accepts only the configured
public-key algorithms and a key whose type matches the token's ``alg``, so an HS256 token
"signed" with a provider's public key is refused (key confusion), and only access tokens
(:mod:`auth.access_tokens`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx2
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry, Key
from joserfc.jws import JWSRegistry

from auth.access_tokens import ClaimsRegistry, TokenTypes, refuse_id_token
from auth.errors import AuthUnavailable, InvalidToken
from auth.verifier import (
    PUBLIC_KEY_ALGORITHMS,
    Principal,
    decode,
    unverified_header,
)

logger = logging.getLogger(__name__)

CACHE_TTL_S = 600
REFETCH_COOLDOWN_S = 30
RETRY_AFTER_S = 5
FETCH_TIMEOUT_S = 5
#: Discovery documents and key sets are small; a provider (or an impostor) sending more is
#: refused rather than buffered.
MAX_DOCUMENT_BYTES = 512 * 1024
_PUBLIC_KEY_TYPES = frozenset({"RSA", "EC", "OKP"})


def provider_client() -> httpx2.AsyncClient:
    """The HTTP client for discovery and key fetches (the lifespan owns and closes it)."""
    return httpx2.AsyncClient(
        timeout=httpx2.Timeout(FETCH_TIMEOUT_S),
        follow_redirects=True,
        headers={"Accept": "application/json"},
    )


class ProviderError(Exception):
    """The provider's discovery document or key set could not be had (internal to this
    module: callers see :class:`AuthUnavailable`)."""


class Misconfigured(ProviderError):
    """The provider answers, but not as configured: no outage, a setting to fix."""


class JwksCache:
    """An identity provider's public signing keys, fetched over ``http``.

    ``issuer`` alone means discovery; ``jwks_url`` is used as is when given. ``clock`` (a
    monotonic time in seconds) is injectable for tests.
    """

    def __init__(
        self,
        http: httpx2.AsyncClient,
        *,
        issuer: str | None = None,
        jwks_url: str | None = None,
        ttl_s: float = CACHE_TTL_S,
        refetch_cooldown_s: float = REFETCH_COOLDOWN_S,
        retry_after_s: float = RETRY_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (issuer or jwks_url):
            raise ValueError("an issuer (for discovery) or a JWKS URL is required")
        for url in (issuer, jwks_url):
            if url and urlsplit(url).scheme not in ("http", "https"):
                raise ValueError("the issuer and the JWKS URL must be http(s) URLs")
        self._http = http
        self._issuer = issuer
        self._jwks_url = jwks_url
        self._discovered_jwks_url: str | None = None
        self._ttl_s = ttl_s
        self._cooldown_s = refetch_cooldown_s
        self._retry_after_s = retry_after_s
        self._clock = clock
        self._lock = asyncio.Lock()
        self._keys: list[Key] | None = None
        self._fetched_at_s = 0.0
        self._failed_at_s: float | None = None
        self._refetched_at_s: float | None = None  # the last *successful* refetch
        self._attempts = 0  # completed fetches, successful or not
        #: Why the provider's answer does not fit the configuration, while it does not.
        self.misconfiguration: str | None = None

    @property
    def fetches(self) -> int:
        """How many fetches have completed (successfully or not): read it before
        :meth:`keys` and pass it to :meth:`refetch`."""
        return self._attempts

    async def keys(self) -> Sequence[Key]:
        """The provider's keys: from the cache while it is fresh, else fetched."""
        if self._keys is not None and self._clock() - self._fetched_at_s < self._ttl_s:
            return self._keys
        return await self._load(unknown_kid=False, since=self._attempts)

    async def refetch(self, since: int) -> Sequence[Key]:
        """The keys again, for a token whose ``kid`` was not among them: fetched unless a
        refetch succeeded within the cooldown, and not at all when a fetch completed after
        ``since`` (the :attr:`fetches` the caller saw before asking for the keys: such keys
        are as new as they get). While the provider fails: :class:`AuthUnavailable`."""
        return await self._load(unknown_kid=True, since=since)

    async def check(self) -> str | None:
        """Fetch the keys now unless they are fresh or the provider failed within
        ``retry_after_s``; the configuration problem found, if any. For start-up (in the
        background) and the readiness check; an outage is logged, not raised."""
        with contextlib.suppress(AuthUnavailable):
            await self.keys()
        return self.misconfiguration

    async def _load(self, *, unknown_kid: bool, since: int) -> list[Key]:
        async with self._lock:
            if self._attempts != since:
                # A fetch completed after the caller looked (perhaps while it waited for the
                # lock): share its result rather than fetch again.
                return self._result(unknown_kid=unknown_kid)
            now = self._clock()
            if (
                not unknown_kid
                and self._keys is not None
                and now - self._fetched_at_s < self._ttl_s
            ):
                return self._keys
            if self._failed_at_s is not None:
                if now - self._failed_at_s < self._retry_after_s:
                    return self._result(unknown_kid=unknown_kid)
            elif (
                unknown_kid
                and self._refetched_at_s is not None
                and now - self._refetched_at_s < self._cooldown_s
            ):
                # The provider answered recently, and without this kid: it does not publish it.
                return self._result(unknown_kid=False)
            try:
                keys = await self._fetch()
            except ProviderError as exc:
                self._failed(exc)
                return self._result(unknown_kid=unknown_kid)
            self._keys, self._fetched_at_s, self._failed_at_s = keys, self._clock(), None
            if unknown_kid:
                self._refetched_at_s = self._fetched_at_s
            self._attempts += 1
            if self.misconfiguration is not None:
                logger.warning("identity provider configuration problem resolved")
            self.misconfiguration = None
            logger.info("identity provider keys loaded: %d", len(keys), extra={"keys": len(keys)})
            return keys

    def _failed(self, exc: ProviderError) -> None:
        self._failed_at_s = self._clock()
        self._attempts += 1
        if isinstance(exc, Misconfigured):
            self.misconfiguration = str(exc)
            logger.error("identity provider CONFIGURATION ERROR: %s", exc)
            return
        self.misconfiguration = None
        logger.warning(
            "identity provider keys unavailable: %s%s",
            exc,
            "; still using the cached keys" if self._keys is not None else "",
        )

    def _result(self, *, unknown_kid: bool) -> list[Key]:
        """What a request gets without fetching: the cached keys, unless there are none or
        the provider failed its last fetch and the token needs a key we do not have."""
        failing = self._failed_at_s is not None
        if self._keys is None or (unknown_kid and failing):
            if self.misconfiguration is not None:
                raise AuthUnavailable(
                    f"the identity provider is misconfigured: {self.misconfiguration}"
                )
            raise AuthUnavailable(
                "the identity provider's signing keys cannot be fetched; try again shortly"
            )
        return self._keys

    async def _fetch(self) -> list[Key]:
        url = self._jwks_url or await self._discover()
        try:
            return usable_keys(await self._get_json(url, "the JWKS"))
        except ProviderError:
            self._discovered_jwks_url = None  # the provider may have moved it: rediscover
            raise

    async def _discover(self) -> str:
        if self._discovered_jwks_url is not None:
            return self._discovered_jwks_url
        assert self._issuer is not None
        url = self._issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = await self._get_json(url, "the discovery document")
        # OpenID Connect Discovery 1.0, section 4.3: the document must name the issuer asked.
        named = document.get("issuer")
        if named != self._issuer:
            raise Misconfigured(issuer_mismatch(self._issuer, named, url))
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or urlsplit(jwks_uri).scheme not in ("http", "https"):
            raise ProviderError("the discovery document has no usable jwks_uri")
        self._discovered_jwks_url = jwks_uri
        return jwks_uri

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            async with self._http.stream("GET", url) as response:
                if response.status_code != 200:
                    raise ProviderError(f"{what} at {url} answered HTTP {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise ProviderError(f"{what} at {url} is over {MAX_DOCUMENT_BYTES} bytes")
        except httpx2.HTTPError as exc:
            raise ProviderError(f"{what} at {url} could not be fetched ({exc!r})") from exc
        try:
            document = json.loads(body)
        except ValueError:
            raise ProviderError(f"{what} at {url} is not JSON") from None
        if not isinstance(document, dict):
            raise ProviderError(f"{what} at {url} is not a JSON object")
        return document


def issuer_mismatch(configured: str, named: object, url: str) -> str:
    """Say plainly how ``AUTH_ISSUER`` and the provider's own issuer differ."""
    if not isinstance(named, str):
        return f"the discovery document at {url} names no issuer"
    hint = ""
    if configured.rstrip("/") == named.rstrip("/"):
        hint = " (they differ only in the trailing slash)"
    return (
        f"AUTH_ISSUER is {configured!r} but the provider's discovery document at {url} names "
        f"the issuer {named!r}{hint}; set AUTH_ISSUER to exactly what the provider names "
        f"(its tokens' 'iss')"
    )


def usable_keys(jwks: dict[str, Any]) -> list[Key]:
    """The public signing keys of a JWKS document; others, and ones that do not import, are
    skipped (RFC 7517 section 5 asks a reader to ignore keys it does not understand)."""
    entries = jwks.get("keys")
    if not isinstance(entries, list):
        raise ProviderError("the JWKS has no 'keys' list")
    keys: list[Key] = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("kty") not in _PUBLIC_KEY_TYPES:
            continue
        if entry.get("use", "sig") != "sig":
            continue
        try:
            keys.append(JWKRegistry.import_key(entry))
        except (JoseError, ValueError, TypeError):
            logger.warning(
                "skipping a JWKS key that does not import", extra={"kid": entry.get("kid")}
            )
    if not keys:
        raise ProviderError("the JWKS holds no usable signing key")
    return keys


def select_key(keys: Sequence[Key], kid: str | None, alg: str) -> Key | None:
    """The key that should have signed a token with this ``kid`` and ``alg``; ``None`` when no
    key has that kid (the caller may refetch)."""
    key_type = JWSRegistry.algorithms[alg].key_type
    if kid is None:
        candidates = [key for key in keys if key.key_type == key_type]
        if len(candidates) != 1:
            raise InvalidToken("the token does not name its signing key (no 'kid')")
        return candidates[0]
    named = [key for key in keys if key.kid == kid]
    if not named:
        return None
    for key in named:
        if key.key_type == key_type and key.get("alg") in (None, alg):
            return key
    raise InvalidToken("the token's algorithm does not match its signing key")


class JwksVerifier:
    """Verifies tokens signed with an identity provider's keys (``AUTH_ISSUER`` /
    ``AUTH_JWKS_URL``), accepting only ``algorithms`` (public-key algorithms only)."""

    def __init__(
        self,
        keys: JwksCache,
        *,
        algorithms: Collection[str],
        audience: str,
        issuer: str | None = None,
        token_types: TokenTypes | None = None,
    ) -> None:
        if not audience:
            raise ValueError("a provider's tokens are only accepted for an audience (aud)")
        refused = set(algorithms) - PUBLIC_KEY_ALGORITHMS
        if refused or not algorithms:
            raise ValueError(
                "a JWKS verifier takes public-key algorithms only, e.g. RS256, ES256, EdDSA"
            )
        self._keys = keys
        self._algorithms = frozenset(algorithms)
        self._types = token_types or TokenTypes()
        self._expected = {
            name: value for name, value in (("iss", issuer), ("aud", audience)) if value
        }

    @property
    def misconfiguration(self) -> str | None:
        return self._keys.misconfiguration

    @property
    def generation(self) -> int:
        """Changes whenever the keys were fetched again (a cache of verified tokens checks it,
        so a key withdrawn by the provider stops working as soon as we have seen it go)."""
        return self._keys.fetches

    async def verify(self, token: str) -> Principal:
        header = unverified_header(token)
        alg = header["alg"]
        if alg not in self._algorithms:
            raise InvalidToken("the token's signing algorithm is not allowed")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise InvalidToken("the token is malformed")
        required = self._types.required_claims(header)  # before any fetch: no key needed
        seen = self._keys.fetches
        key = select_key(await self._keys.keys(), kid, alg)
        if key is None:
            key = select_key(await self._keys.refetch(since=seen), kid, alg)
        if key is None:
            raise InvalidToken("the token's signing key (kid) is not one the provider publishes")
        decoded = decode(
            token,
            key,
            algorithms=[alg],
            required=required,
            expected=self._expected,
            claims_registry=ClaimsRegistry,
        )
        refuse_id_token(decoded.claims)
        return Principal(decoded.claims["sub"], decoded.claims)
