"""Say in the log when the job store (Redis) cannot be reached, for as long as it cannot.

Requests already answer 503 ``STORE_UNAVAILABLE`` during an outage and ``/readyz`` fails; this
is the operator's side of it. :class:`StoreWatch` pings the store at start-up and then every
``interval_s``: the first failed ping logs a warning naming the store (``REDIS_URL`` without
its credentials) and the cause, the warning is repeated every ``repeat_s`` while the outage
lasts, and the recovery is logged with how long the store was away. A service started against
a Redis that is not there therefore says so at once, instead of only printing its banner.
"""

from __future__ import annotations

import asyncio
import logging
import time
from urllib.parse import urlsplit

from jobs.errors import StoreUnavailable
from jobs.lifecycle import Lifecycle
from jobs.record.store import JobStore
from jobs.redis.connection import cancel_until_done

logger = logging.getLogger(__name__)

CHECK_INTERVAL_S = 5.0
REPEAT_S = 30.0


def display_url(url: str) -> str:
    """``url`` without user, password or query (which may carry a password)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


class StoreWatch(Lifecycle):
    """An async context manager: the watch runs while it is entered."""

    def __init__(
        self,
        store: JobStore,
        name: str,
        *,
        interval_s: float = CHECK_INTERVAL_S,
        repeat_s: float = REPEAT_S,
    ) -> None:
        self.store = store
        self.name = name
        self.interval_s = interval_s
        self.repeat_s = repeat_s
        self.down_since: float | None = None
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self._task = asyncio.create_task(self._watch(), name="store-watch")

    async def aclose(self) -> None:
        task, self._task = self._task, None
        await cancel_until_done(task)

    async def _watch(self) -> None:
        warned_at = 0.0
        while self._task is not None:
            try:
                await self.store.ping()
            except StoreUnavailable as exc:
                now = time.monotonic()
                if self.down_since is None:
                    self.down_since = warned_at = now
                    self._warn(exc, 0.0)
                elif now - warned_at >= self.repeat_s:
                    warned_at = now
                    self._warn(exc, now - self.down_since)
            else:
                if self.down_since is not None:
                    away_s = time.monotonic() - self.down_since
                    self.down_since = None
                    logger.warning(
                        "the job store %s is reachable again after %.0f s",
                        self.name, away_s, extra={"store": self.name, "down_s": round(away_s)},
                    )  # fmt: skip
            await asyncio.sleep(self.interval_s)

    def _warn(self, exc: StoreUnavailable, down_s: float) -> None:
        cause = exc.__cause__ or exc
        logger.warning(
            "the job store %s is unreachable%s (%s): jobs cannot be created or streamed, "
            "requests get 503 STORE_UNAVAILABLE and /readyz fails until it is back",
            self.name,
            f" for {down_s:.0f} s" if down_s else "",
            f"{type(cause).__name__}: {cause}",
            extra={"store": self.name, "down_s": round(down_s)},
        )
