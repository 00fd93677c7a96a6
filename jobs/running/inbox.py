"""How one instance asks another to stop a run: ``jobs:instance:<id>:inbox`` carries cancel
requests to the instance that runs the job, so a cancel takes effect within a second wherever
it was asked; the lease renewal's cancel flag (:mod:`jobs.running.lease`) is the fallback
should a request be missed.
"""

from __future__ import annotations

from typing import Any

from jobs.redis.connection import Redis, unavailable_as_domain_error
from jobs.redis.keys import Keys

#: How long a cancel request waits in an inbox for an instance that has gone away.
INBOX_TTL_S = 60


class CancelInbox:
    """The cancel inboxes of one key prefix's instances."""

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def request_cancel(self, instance_id: str, job_id: str) -> None:
        """Ask instance ``instance_id`` to cancel its run of ``job_id``."""
        key = self.keys.inbox(instance_id)
        with unavailable_as_domain_error():
            # MULTI/EXEC: the list is never created without its TTL (one key: cluster-safe).
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.rpush(key, job_id)
                pipe.expire(key, INBOX_TTL_S)
                await pipe.execute()

    async def next_request(self, instance_id: str, *, timeout_s: float) -> str | None:
        """The next job id this instance is asked to cancel, waiting up to ``timeout_s``."""
        with unavailable_as_domain_error():
            reply: Any = await self.redis.blpop([self.keys.inbox(instance_id)], timeout=timeout_s)
        return None if reply is None else str(reply[1])
