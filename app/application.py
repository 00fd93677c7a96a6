"""``create_app(settings)``: the Starlette application and its lifespan.

The lifespan enters :func:`app.services.build_services`, which opens everything with a
connection or a task to own and closes it all on shutdown, in reverse order. Nothing is built
at import time.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from app import tracing
from app.custom_agents import routes as custom_agent_routes
from app.logs import configure
from app.middleware import BodyGuard, RequestEdge, cors
from app.openapi import openapi_json
from app.page import page_routes
from app.problems import EXCEPTION_HANDLERS
from app.routes import routes
from app.services import Services, build_services
from app.settings import Settings
from jobs import metrics
from jobs.backends import Backend
from jobs.running.loop import Toolbox

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

logger = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    backend: Backend | None = None,
    workspace: Toolbox | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Starlette:
    """The service for ``settings``. In dev mode (no auth configured) tokens are signed with a
    per-process secret, kept in ``app.state.dev_secret`` for ``python -m app`` to mint one.

    ``backend`` replaces the configured model backend (tests use it to script failures);
    ``workspace`` is the tools agents may use (none: agents run without tools);
    ``tracer_provider`` turns tracing on with it (tests use an in-memory exporter), else
    ``OTEL_TRACES_EXPORTER`` decides (see ``app.tracing``).
    """
    dev_secret = secrets.token_urlsafe(32) if settings.dev_auth else None
    provider = tracer_provider or tracing.build_provider(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        metrics.forget_dead_workers()
        try:
            with tracing.instrumented(provider, owned=tracer_provider is None):
                async with build_services(
                    settings, dev_secret=dev_secret, backend=backend, workspace=workspace
                ) as svc:
                    closing = asyncio.create_task(_wake_streams_at_shutdown(svc), name="shutdown")
                    # Discovery and keys checked now, without holding start-up: a
                    # misconfiguration shows in the log and /readyz at once, not at the first
                    # user's request.
                    idp = svc.provider
                    checking = asyncio.create_task(idp.check()) if idp else None
                    app.state.services = svc  # for drain(): a signal has no request state
                    try:
                        yield {"services": svc}
                    finally:
                        app.state.services = None
                        closing.cancel()
                        if checking is not None:
                            checking.cancel()
        finally:
            metrics.worker_stopped()

    app = Starlette(
        routes=[
            *routes,
            *custom_agent_routes,
            Route("/openapi.json", openapi_json, methods=["GET"], name="openapi"),
            *page_routes(dev_secret, settings.cors_allow_origins),
        ],
        middleware=_middleware(settings, provider),
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.dev_secret = dev_secret
    return app


def _middleware(settings: Settings, provider: TracerProvider | None) -> list[Middleware]:
    """Outermost first: tracing (when on), the request's id and access line, CORS (so that
    the body guard's answers carry its headers), the body guard."""
    return [
        *tracing.middleware(provider),
        Middleware(RequestEdge),
        *cors(settings.cors_allow_origins),
        Middleware(
            BodyGuard,
            max_body_bytes=settings.max_body_bytes,
            body_timeout_s=settings.http_body_timeout_s,
        ),
    ]


async def _wake_streams_at_shutdown(services: Services) -> None:
    """When the server starts shutting down (sse-starlette notices first), wake every stream
    waiting on a local run so that it ends cleanly at once (see ``app.sse``)."""
    await services.shutdown.wait()
    services.jobs.wake_all()


async def drain(app: Starlette) -> bool:
    """Drain the running ``app`` (see :meth:`Services.drain`); True at once if its lifespan
    has not started or is over (nothing runs)."""
    svc: Services | None = getattr(app.state, "services", None)
    return True if svc is None else await svc.drain()


def from_environment() -> Starlette:
    """The service as configured by the environment, with logging set up and the collector
    tuned: the factory each uvicorn worker calls (``python -m app --workers N``)."""
    settings = Settings()
    configure(settings.log_level, json_lines=settings.json_logs)
    tune_gc()
    return create_app(settings)


#: The cyclic garbage collector's thresholds in a serving process (CPython's are 700, 10, 10).
GC_THRESHOLDS = (100_000, 50, 100)


def tune_gc() -> None:
    """Run the cyclic garbage collector far less often than CPython's defaults.

    A busy instance allocates millions of short-lived objects a second (frames, futures,
    events), nearly all of them freed by reference counting alone. At the default thresholds
    the collector runs thousands of times a second, and its older generations, which walk
    every live object (a thousand open streams' worth), stall the event loop for tens of
    milliseconds: at 1,000 streams that was most of the p99 lag (see the README's
    Performance section). Cycles are still collected, in larger and rarer passes.
    """
    gc.set_threshold(*GC_THRESHOLDS)
