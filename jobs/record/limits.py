"""Per-user limits, enforced atomically in Redis so that they hold across instances.

- **Job creations** per minute (``RATE_LIMIT_CREATE_PER_MIN``): a sliding one-minute log in
  ``jobs:user:<owner>:creates``; a refused call learns when the oldest creation leaves the
  window (``Retry-After``).
- **Stream tickets** per minute (``RATE_LIMIT_TICKETS_PER_MIN``): the same sliding log in
  ``jobs:user:<owner>:tickets``, checked on its own round trip before ``POST /jobs/{id}/ticket``
  does anything (a client stuck in a loop must not cost more than one script call a request).
- **Open streams** (``MAX_STREAMS_PER_USER``): ``jobs:user:<owner>:streams`` holds one entry
  per open stream, scored by when it expires. A stream refreshes its entry while open and
  removes it when it ends, however it ends; a crashed instance's entries simply expire.

A limit of 0 turns that limit off. Scores use the Redis server's clock (``TIME``), so
instances with skewed clocks still agree.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jobs.errors import RateLimited, TicketsRateLimited, TooManyStreams
from jobs.redis.connection import Pipeline, Redis, ScriptArg, unavailable_as_domain_error
from jobs.redis.keys import Keys
from jobs.redis.script import Script

RATE_WINDOW = Script("jobs.record", "rate_window", keys=1, args=3)
STREAM_SLOT = Script("jobs.record", "stream_slot", keys=1, args=3)

WINDOW_MS = 60_000


@dataclass(frozen=True, slots=True)
class Check:
    """One limit check that travels in the same round trip as the work it guards: ``queue``
    adds it to the pipeline (first), ``verdict`` reads its reply and raises
    :class:`~jobs.errors.LimitExceeded` if the limit refused."""

    queue: Callable[[Pipeline], None]
    verdict: Callable[[Any], None]


class Limits:
    """The per-user limits. :meth:`creation` and :meth:`open_stream` give the :class:`Check`
    to send with the work (None when that limit is off)."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        *,
        creates_per_min: int,
        max_streams: int,
        stream_ttl_s: float,
        tickets_per_min: int = 0,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.creates_per_min = creates_per_min
        self.max_streams = max_streams
        self.stream_ttl_s = stream_ttl_s
        self.tickets_per_min = tickets_per_min

    def creation(self, owner: str, job_id: str) -> Check | None:
        """Count one creation (of ``job_id``, which names its entry in the window)."""
        if self.creates_per_min <= 0:
            return None
        key = self.keys.user_creates(owner)

        def queue(pipe: Pipeline) -> None:
            RATE_WINDOW.queue(pipe, [key], [WINDOW_MS, self.creates_per_min, job_id])

        def verdict(wait_ms: Any) -> None:
            if wait_ms:
                raise RateLimited(self.creates_per_min, retry_after_s=math.ceil(wait_ms / 1000))

        return Check(queue, verdict)

    async def ticket(self, owner: str) -> None:
        """Count one stream ticket for ``owner``; raise :class:`TicketsRateLimited` when the
        minute's quota is spent (refused requests do not count)."""
        if self.tickets_per_min <= 0:
            return
        key = self.keys.user_tickets(owner)
        with unavailable_as_domain_error():
            args: list[ScriptArg] = [WINDOW_MS, self.tickets_per_min, secrets.token_hex(8)]
            wait_ms = await RATE_WINDOW.call(self.redis, [key], args)
        if wait_ms:
            retry_after_s = math.ceil(int(wait_ms) / 1000)
            raise TicketsRateLimited(self.tickets_per_min, retry_after_s=retry_after_s)

    def open_stream(self, owner: str, stream_id: str) -> Check | None:
        """Take (or refresh) one of ``owner``'s stream slots for ``stream_id``."""
        if self.max_streams <= 0:
            return None
        ttl_ms = int(self.stream_ttl_s * 1000)
        key = self.keys.user_streams(owner)

        def queue(pipe: Pipeline) -> None:
            STREAM_SLOT.queue(pipe, [key], [ttl_ms, self.max_streams, stream_id])

        def verdict(held: Any) -> None:
            if not held:
                retry_after_s = math.ceil(self.stream_ttl_s / 3)
                raise TooManyStreams(self.max_streams, retry_after_s=retry_after_s)

        return Check(queue, verdict)

    async def close_stream(self, owner: str, stream_id: str) -> None:
        if self.max_streams <= 0:
            return
        with unavailable_as_domain_error():
            await self.redis.zrem(self.keys.user_streams(owner), stream_id)
