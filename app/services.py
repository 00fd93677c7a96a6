"""The composition root: :func:`build_services` opens everything the service owns (the Redis
client, the identity provider's HTTP client, the model backend, the runner and its loops, the
stream upkeep) on one :class:`~contextlib.AsyncExitStack`, so whatever fails midway closes what
was already opened, in reverse order. The app's lifespan and the tests both use it."""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

import anyio

from app.auth_setup import build_provider, build_verifier, log_auth, ticket_secret
from app.settings import Settings, config_from
from app.store_watch import StoreWatch, display_url
from auth import TicketSigner, Verifier
from auth.jwks import JwksCache, provider_client
from jobs import metrics
from jobs.agents import AgentRegistry, default_agents
from jobs.backends import Backend, build_backend
from jobs.delivery.eventlog import EventLog
from jobs.delivery.open_streams import OpenStreams
from jobs.delivery.tailer import Tailer
from jobs.record.custom_agents import CustomAgents
from jobs.record.idempotency import Idempotency
from jobs.record.limits import Limits
from jobs.record.store import JobStore, Lifetimes
from jobs.redis.connection import Redis, connect, connect_single, is_cluster_url, plain_url
from jobs.redis.keys import Keys
from jobs.running.budgets import UserBudget
from jobs.running.lease import Leases
from jobs.running.loop import MAX_CALLS_PER_STEP, Toolbox
from jobs.running.prices import PriceTable
from jobs.running.runner import RunLimits, Runner
from jobs.running.webhooks import WebhookConfig, WebhookSender
from jobs.service import JobService
from jobs.tools import Workspace

logger = logging.getLogger(__name__)

#: Room a run gets, beyond RUN_TIMEOUT_S, to store its ending before its keys could expire.
FINISH_MARGIN_S = 60


@dataclass(frozen=True, slots=True)
class Services:
    """What the lifespan builds and the routes use: one object, no module-level clients."""

    settings: Settings
    redis: Redis
    keys: Keys
    store: JobStore
    agents: AgentRegistry
    runner: Runner
    jobs: JobService
    verifier: Verifier
    tickets: TicketSigner
    #: The ``Idempotency-Key`` entries of ``POST /jobs``.
    idempotency: Idempotency
    #: The tools over the directory agents may read (``AGENT_WORKSPACE``); None: no tools.
    workspace: Toolbox | None
    #: The identity provider's keys, when one is configured (the readiness check asks it).
    provider: JwksCache | None = None
    #: Set (by sse-starlette, on every stream response) when the server begins shutting down.
    shutdown: anyio.Event = field(default_factory=anyio.Event)
    #: Set when a drain starts (the first SIGTERM): the streams open then end cleanly.
    draining: anyio.Event = field(default_factory=anyio.Event)

    async def drain(self) -> bool:
        """The first ``SIGTERM``: start no more runs (``/readyz`` answers 503), end the open
        streams cleanly (their clients resume elsewhere), and give the runs here up to
        ``SHUTDOWN_DRAIN_S`` to finish; whether they all did. The server keeps serving
        meanwhile; it stops when this returns."""
        drain_s = self.settings.shutdown_drain_s
        logger.info(
            "draining: %d runs may go on for up to %g s; no new runs start here",
            self.runner.active,
            drain_s,
            extra={"instance": self.runner.instance_id},
        )
        self.runner.drain()
        self.draining.set()
        self.jobs.wake_all()
        drained = await self.runner.drained(drain_s)
        left = self.runner.active
        logger.info("drain over: %d runs still going", left, extra={"runs": left})
        return drained


def max_events(settings: Settings) -> int:
    """The most events one run can store: one per throttle window (at least 10 ms), two per
    tool call (a call and its result), plus slack."""
    window_ms = max(settings.stream_throttle_ms, 10)
    tool_events = 2 * MAX_CALLS_PER_STEP * settings.agent_max_steps
    return int(settings.run_timeout_s * 1000 / window_ms) + tool_events + 100


def lifetimes(settings: Settings) -> Lifetimes:
    # pending_s keeps its name (tests read it); running_s is derived.
    running_s = int(settings.run_timeout_s) + FINISH_MARGIN_S
    return config_from(settings, Lifetimes, pending_s=settings.job_ttl_s, running_s=running_s)


def webhook_config(settings: Settings) -> WebhookConfig | None:
    """The webhook sender's settings; None while webhooks are off (no ``WEBHOOK_URL``)."""
    if settings.webhook_url is None or settings.webhook_secret is None:
        return None
    return config_from(settings, WebhookConfig, "webhook")


def run_limits(settings: Settings) -> RunLimits:
    # throttle_ms keeps its name (tests build RunLimits with it).
    return config_from(settings, RunLimits, throttle_ms=settings.stream_throttle_ms)


async def _open_parts(
    stack: AsyncExitStack,
    settings: Settings,
    cluster: bool,
    events: EventLog,
    runner: Runner,
    streams: OpenStreams,
) -> Tailer:
    """Start what runs in the background (closed by ``stack``, in reverse): the tailer of
    runs elsewhere, the runner, the webhook sweep, the open streams' upkeep and the store
    watch."""
    store, redis, keys = runner.store, runner.store.redis, runner.store.keys
    # Streams of runs elsewhere share a few connections of their own (standalone Redis),
    # or poll through the cluster client.
    url = settings.redis_url
    single = (lambda: connect_single(plain_url(url))) if url and not cluster else None
    tailer = await stack.enter_async_context(Tailer(events, connect=single))
    await stack.enter_async_context(runner)
    if (hook := webhook_config(settings)) is not None:
        await stack.enter_async_context(WebhookSender(redis, keys, hook, runner.instance_id))
    streams.open()
    stack.push_async_callback(streams.aclose)
    if url is not None:  # the embedded store cannot go away
        await stack.enter_async_context(StoreWatch(store, display_url(url)))
    return tailer


def _redis(stack: AsyncExitStack, settings: Settings) -> tuple[Redis, bool]:
    """The shared client (closed by ``stack``), and whether it talks to a Redis Cluster."""
    url = settings.redis_url
    if url is None:
        logger.warning("REDIS_URL is not set: using an embedded in-process Redis (fakeredis)")
    else:
        logger.info("job store: %s", display_url(url))
    cluster = settings.redis_cluster or is_cluster_url(url)
    redis = connect(plain_url(url) if url else None, cluster=cluster)
    stack.push_async_callback(redis.aclose)
    return redis, cluster


def _workspace(stack: AsyncExitStack, settings: Settings) -> Toolbox | None:
    """The real tools over ``AGENT_WORKSPACE`` (their thread pool closed by ``stack``), or
    None: agents run without tools."""
    root = settings.workspace_root
    if root is None:
        logger.warning(
            "AGENT_WORKSPACE is not set: agents run without tools "
            "(set it to a directory, or to 'sample' for the sample tree shipped here)"
        )
        return None
    opened = Workspace.open(root, extra_secret_patterns=settings.agent_secret_patterns)
    logger.info("agent workspace: %s", opened.root)
    return stack.enter_context(opened)


def _limits(redis: Redis, keys: Keys, settings: Settings) -> Limits:
    return Limits(
        redis,
        keys,
        creates_per_min=settings.rate_limit_create_per_min,
        max_streams=settings.max_streams_per_user,
        stream_ttl_s=settings.lease_ttl_s,
        tickets_per_min=settings.rate_limit_tickets_per_min,
    )


def _tickets(settings: Settings, dev_secret: str | None) -> TicketSigner:
    return TicketSigner(
        ticket_secret(settings, dev_secret),
        ttl_s=settings.stream_ticket_ttl_s,
        resume_s=int(settings.run_timeout_s) + settings.resume_grace_s,
    )


@asynccontextmanager
async def build_services(
    settings: Settings,
    *,
    dev_secret: str | None = None,
    backend: Backend | None = None,
    instance_id: str | None = None,
    workspace: Toolbox | None = None,
) -> AsyncIterator[Services]:
    """Open the service's parts for ``settings``; close them all when the block ends.

    ``dev_secret`` signs tokens in dev mode (no auth configured); ``backend`` replaces the
    configured model backend (tests script failures with it); ``instance_id`` names this
    instance's runner (default: host, pid and a random suffix); ``workspace`` replaces the
    tools agents may use (Glob, Grep, Read over ``AGENT_WORKSPACE``; tests pass a fake).
    """
    log_auth(settings)
    async with AsyncExitStack() as stack:
        redis, cluster = _redis(stack, settings)
        if cluster and settings.webhook_url is not None:
            raise RuntimeError("WEBHOOK_URL is not supported on a Redis Cluster yet")
        http = await stack.enter_async_context(provider_client()) if settings.oidc else None
        provider = build_provider(settings, http)
        toolbox = workspace or _workspace(stack, settings)
        model_backend = backend or build_backend(settings.backend, settings)
        stack.push_async_callback(model_backend.aclose)
        keys = Keys(settings.jobs_redis_prefix)
        spans = lifetimes(settings)
        events = EventLog(redis, keys, maxlen=max_events(settings), live_ttl_s=spans.running_s)
        store = JobStore(redis, keys, events, spans, webhooks=settings.webhook_url is not None)
        agents = AgentRegistry(
            default_agents(), model_backend, allowed_models=settings.allowed_models, toolbox=toolbox
        )
        leases = Leases(redis, keys, lease_ttl_s=settings.lease_ttl_s, index_ttl_s=spans.running_s)
        limits = _limits(redis, keys, settings)
        instance = instance_id or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        budget = UserBudget(redis, keys, per_day=settings.user_token_budget)
        runner = Runner(
            store, events, agents, leases, run_limits(settings), instance_id=instance,
            prices=PriceTable.with_overrides(settings.model_prices), budget=budget,
        )  # fmt: skip
        metrics.declare(agents.names, agents.allowed_models, instance)
        streams = OpenStreams(redis, leases, limits)
        tailer = await _open_parts(stack, settings, cluster, events, runner, streams)
        ready = {"backend": model_backend.name, "instance": instance}
        logger.info("ready: backend=%s instance=%s", *ready.values(), extra=ready)
        jobs = JobService(
            store, events, runner, agents, leases, limits, streams, CustomAgents(redis, keys),
            tailer, budget if budget.on else None,
        )  # fmt: skip
        yield Services(
            settings=settings,
            redis=redis,
            keys=keys,
            store=store,
            agents=agents,
            runner=runner,
            jobs=jobs,
            verifier=build_verifier(settings, dev_secret, provider),
            workspace=toolbox,
            tickets=_tickets(settings, dev_secret),
            idempotency=Idempotency(redis, keys, ttl_s=settings.idempotency_ttl_s),
            provider=provider,
        )
