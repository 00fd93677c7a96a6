"""What the lifespan builds and the routes use: one object, no module-level clients."""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio

from app.settings import Settings
from auth import TicketSigner, Verifier
from auth.jwks import JwksCache
from jobs.agents import AgentRegistry
from jobs.connection import Redis
from jobs.runner import Runner
from jobs.service import JobService


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    redis: Redis
    agents: AgentRegistry
    runner: Runner
    jobs: JobService
    verifier: Verifier
    tickets: TicketSigner
    #: The identity provider's keys, when one is configured (the readiness check asks it).
    provider: JwksCache | None = None
    #: Set (by sse-starlette, on every stream response) when the server begins shutting down.
    shutdown: anyio.Event = field(default_factory=anyio.Event)
