"""``create_app(settings)``: the Starlette application and its lifespan.

The lifespan builds everything with a connection or a task to own (the Redis client, the
agent registry and its backend, the runner, the verifier) and closes it all on shutdown, in
reverse order. Nothing is built at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from app.logs import configure
from app.middleware import AccessLog, BodyLimit, BodyTimeout, RequestId, cors
from app.openapi import openapi_json
from app.page import page_routes
from app.problems import EXCEPTION_HANDLERS
from app.routes import routes
from app.services import Services
from app.settings import Settings
from app.store_watch import StoreWatch, display_url
from auth import CachingVerifier, CombinedVerifier, SecretVerifier, TicketSigner, Verifier
from auth.jwks import JwksCache, JwksVerifier, provider_client
from jobs import metrics
from jobs.agents import AgentRegistry, Backend, DemoBackend, default_agents
from jobs.agents.anthropic import AnthropicBackend
from jobs.connection import connect, is_cluster_url, plain_url
from jobs.events import EventLog
from jobs.keys import Keys
from jobs.lease import Leases
from jobs.limits import Limits
from jobs.runner import RunLimits, Runner
from jobs.service import JobService
from jobs.store import JobStore, Lifetimes
from jobs.streams import OpenStreams

logger = logging.getLogger(__name__)

#: Room a run gets, beyond RUN_TIMEOUT_S, to store its ending before its keys could expire.
FINISH_MARGIN_S = 60


def max_events(settings: Settings) -> int:
    """The most events one run can store: one per throttle window (at least 10 ms), plus slack."""
    window_ms = max(settings.stream_throttle_ms, 10)
    return int(settings.run_timeout_s * 1000 / window_ms) + 100


def build_backend(settings: Settings) -> Backend:
    if settings.backend == "demo":
        return DemoBackend(tokens_per_second=settings.demo_tokens_per_second)
    assert settings.anthropic_api_key is not None  # Settings refuses anthropic without a key
    return AnthropicBackend(
        api_key=settings.anthropic_api_key.get_secret_value(),
        base_url=settings.anthropic_base_url,
        timeout_s=settings.anthropic_timeout_s,
        max_retries=settings.anthropic_max_retries,
    )


def build_verifier(
    settings: Settings, dev_secret: str | None, http: httpx2.AsyncClient | None = None
) -> Verifier:
    """The verifier for the configured auth: an HS256 secret (or the dev secret), an identity
    provider's keys (fetched with ``http``), or both, chosen per token by its ``alg``."""
    secret = settings.auth_jwt_secret.get_secret_value() if settings.auth_jwt_secret else None
    secret = secret or dev_secret
    by_secret = SecretVerifier(secret, audience=settings.auth_audience) if secret else None
    by_provider = None
    if settings.oidc:
        if http is None:
            raise RuntimeError("AUTH_ISSUER/AUTH_JWKS_URL need an HTTP client for the keys")
        keys = JwksCache(http, issuer=settings.auth_issuer, jwks_url=settings.auth_jwks_url)
        by_provider = JwksVerifier(
            keys,
            algorithms=settings.auth_algorithms,
            issuer=settings.auth_issuer,
            audience=settings.auth_audience,
        )
    verifier: Verifier | None = by_secret or by_provider
    if by_secret is not None and by_provider is not None:
        verifier = CombinedVerifier(by_secret, by_provider)
    if verifier is None:
        raise RuntimeError("configure AUTH_JWT_SECRET, AUTH_ISSUER or AUTH_JWKS_URL")
    return CachingVerifier(verifier)


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
        accepted.append(f"{','.join(settings.auth_algorithms)} from {source}")
    logger.info("auth: accepting %s", "; ".join(accepted))
    if settings.oidc and not settings.auth_audience:
        logger.warning(
            "AUTH_AUDIENCE is not set: any token the identity provider signs, for any "
            "application, is accepted"
        )
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


def create_app(settings: Settings, *, backend: Backend | None = None) -> Starlette:
    """The service for ``settings``. In dev mode (no auth configured) tokens are signed with a
    per-process secret, kept in ``app.state.dev_secret`` for ``python -m app`` to mint one.

    ``backend`` replaces the configured model backend (tests use it to script failures).
    """
    dev_secret = secrets.token_urlsafe(32) if settings.dev_auth else None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        if settings.redis_url is None:
            logger.warning("REDIS_URL is not set: using an embedded in-process Redis (fakeredis)")
        else:
            logger.info("job store: %s", display_url(settings.redis_url))
        log_auth(settings)
        http = provider_client() if settings.oidc else None
        url = settings.redis_url
        cluster = settings.redis_cluster or is_cluster_url(url)
        redis = connect(plain_url(url) if url else None, cluster=cluster)
        keys = Keys(settings.jobs_redis_prefix)
        lifetimes = Lifetimes(
            pending_s=settings.job_ttl_s,
            running_s=int(settings.run_timeout_s) + FINISH_MARGIN_S,
            resume_grace_s=settings.resume_grace_s,
            failed_retention_s=settings.failed_retention_s,
            lease_s=settings.lease_ttl_s,
        )
        events = EventLog(redis, keys, maxlen=max_events(settings), live_ttl_s=lifetimes.running_s)
        store = JobStore(redis, keys, events, lifetimes)
        model_backend = backend or build_backend(settings)
        agents = AgentRegistry(
            default_agents(),
            model_backend,
            default_model=settings.anthropic_model,
            allowed_models=settings.models,
        )
        instance_id = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        leases = Leases(redis, keys, lease_ttl_s=settings.lease_ttl_s)
        limits = Limits(
            redis,
            keys,
            creates_per_min=settings.rate_limit_create_per_min,
            max_streams=settings.max_streams_per_user,
            stream_ttl_s=settings.lease_ttl_s,
        )
        streams = OpenStreams(redis, leases, limits)
        runner = Runner(
            store,
            events,
            agents,
            leases,
            RunLimits(
                throttle_ms=settings.stream_throttle_ms,
                run_timeout_s=settings.run_timeout_s,
                abandon_after_s=settings.abandon_after_s,
                shutdown_grace_s=settings.shutdown_grace_s,
            ),
            instance_id=instance_id,
        )
        services = Services(
            settings=settings,
            redis=redis,
            agents=agents,
            runner=runner,
            jobs=JobService(store, events, runner, agents, leases, limits, streams),
            verifier=build_verifier(settings, dev_secret, http),
            tickets=TicketSigner(
                ticket_secret(settings, dev_secret), ttl_s=settings.stream_ticket_ttl_s
            ),
        )
        logger.info(
            "ready: backend=%s instance=%s",
            model_backend.name,
            instance_id,
            extra={"backend": model_backend.name, "instance": instance_id},
        )
        metrics.forget_dead_workers()
        await runner.open()
        streams.open()
        closing = asyncio.create_task(_wake_streams_at_shutdown(services), name="shutdown-watch")
        try:
            async with contextlib.AsyncExitStack() as watching:
                if url is not None:  # the embedded store cannot go away
                    await watching.enter_async_context(StoreWatch(store, display_url(url)))
                yield {"services": services}
        finally:
            closing.cancel()
            await runner.aclose()
            await streams.aclose()
            await model_backend.aclose()
            await redis.aclose()
            if http is not None:
                await http.aclose()
            metrics.worker_stopped()

    app = Starlette(
        routes=[
            *routes,
            Route("/openapi.json", openapi_json, methods=["GET"]),
            *page_routes(dev_secret),
        ],
        middleware=[
            Middleware(RequestId),
            Middleware(AccessLog),
            *cors(settings.cors_allow_origins),
            Middleware(BodyLimit, max_body_bytes=settings.max_body_bytes),
            Middleware(BodyTimeout, body_timeout_s=settings.http_body_timeout_s),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.dev_secret = dev_secret
    return app


async def _wake_streams_at_shutdown(services: Services) -> None:
    """When the server starts shutting down (sse-starlette notices first), wake every stream
    waiting on a local run so that it ends cleanly at once (see ``app.sse``)."""
    await services.shutdown.wait()
    services.jobs.wake_all()


def from_environment() -> Starlette:
    """The service as configured by the environment, with logging set up: the factory each
    uvicorn worker calls (``python -m app --workers N``)."""
    settings = Settings()
    configure(settings.log_level, json_lines=settings.json_logs)
    return create_app(settings)
