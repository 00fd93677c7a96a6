"""Which credentials this instance accepts: the verifier for the configured auth (an HS256
secret, an identity provider's keys, or both), the stream tickets' key, and the start-up log
line that says which (never the secrets)."""

from __future__ import annotations

import logging
import secrets

import httpx2

from app.settings import Settings
from auth import CachingVerifier, CombinedVerifier, SecretVerifier, Verifier
from auth.access_tokens import TokenTypes
from auth.jwks import JwksCache, JwksVerifier
from auth.verifier import LifetimeCap

logger = logging.getLogger(__name__)


def build_provider(settings: Settings, http: httpx2.AsyncClient | None) -> JwksCache | None:
    """The identity provider's key cache, when AUTH_ISSUER or AUTH_JWKS_URL is set."""
    if not settings.oidc:
        return None
    if http is None:
        raise RuntimeError("AUTH_ISSUER/AUTH_JWKS_URL need an HTTP client for the keys")
    return JwksCache(http, issuer=settings.auth_issuer, jwks_url=settings.auth_jwks_url)


def build_verifier(
    settings: Settings, dev_secret: str | None, provider: JwksCache | None = None
) -> Verifier:
    """The verifier for the configured auth: an HS256 secret (or the dev secret), an identity
    provider's keys, or both, chosen per token by its ``alg``."""
    secret = settings.auth_jwt_secret.get_secret_value() if settings.auth_jwt_secret else None
    secret = secret or dev_secret
    by_secret = SecretVerifier(secret, audience=settings.auth_audience) if secret else None
    by_provider = None
    if provider is not None:
        assert settings.auth_audience is not None  # Settings requires it with a provider
        by_provider = JwksVerifier(
            provider,
            algorithms=settings.auth_algorithms,
            issuer=settings.auth_issuer,
            audience=settings.auth_audience,
            token_types=TokenTypes(settings.auth_token_types),
        )
    verifier: Verifier | None = by_secret or by_provider
    if by_secret is not None and by_provider is not None:
        verifier = CombinedVerifier(by_secret, by_provider)
    if verifier is None:
        raise RuntimeError("configure AUTH_JWT_SECRET, AUTH_ISSUER or AUTH_JWKS_URL")
    return CachingVerifier(LifetimeCap(verifier, settings.auth_max_token_lifetime_s))


def log_auth(settings: Settings) -> None:
    """Say at start-up which credentials this instance accepts (never the secrets)."""
    if settings.dev_auth:
        logger.warning(
            "no authentication configured: DEV MODE, tokens use a per-process key and "
            "POST /dev/token gives one to any local caller; set AUTH_JWT_SECRET or "
            "AUTH_ISSUER/AUTH_JWKS_URL before exposing this service"
        )
        return
    accepted = []
    if settings.auth_jwt_secret is not None:
        accepted.append("HS256 (AUTH_JWT_SECRET)")
    if settings.oidc:
        source = settings.auth_jwks_url or f"discovery at {settings.auth_issuer}"
        accepted.append(
            f"{','.join(settings.auth_algorithms)} from {source}, "
            f"typ {','.join(settings.auth_token_types)}, aud {settings.auth_audience}"
        )
    logger.info("auth: accepting %s", "; ".join(accepted))
    if settings.auth_jwks_url and not settings.auth_issuer:
        logger.warning("AUTH_ISSUER is not set: the 'iss' of provider tokens is not checked")


def ticket_secret(settings: Settings, dev_secret: str | None) -> str:
    """Tickets must verify on every instance, so they are keyed by a shared secret when there
    is one. With none configured (dev mode, or OIDC with the embedded store: one instance by
    construction; Settings refuses OIDC with a shared Redis and no AUTH_TICKET_SECRET), a
    per-process secret is right."""
    for configured in (settings.auth_ticket_secret, settings.auth_jwt_secret):
        if configured is not None:
            return configured.get_secret_value()
    if dev_secret is not None:
        return dev_secret
    logger.info("stream tickets use a per-process key (no AUTH_TICKET_SECRET; one instance)")
    return secrets.token_urlsafe(32)
