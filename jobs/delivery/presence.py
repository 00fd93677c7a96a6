"""Who watches a job: every open stream, on any instance, keeps a presence entry in
``jobs:{<id>}:readers`` that expires unless refreshed, so a crashed instance's entries lapse on
their own. The runner's lease renewal (:mod:`jobs.running.lease`) counts them: a run nobody
watches is abandoned. :class:`~jobs.delivery.open_streams.OpenStreams` refreshes the entries of
this instance's streams together.
"""

from __future__ import annotations

from jobs.redis.connection import Pipeline, Redis, unavailable_as_domain_error
from jobs.redis.keys import Keys
from jobs.redis.script import Script

PRESENT = Script("jobs.delivery", "present", keys=1, args=2)


class Readers:
    """The presence entries of one key prefix's jobs; each lasts ``ttl_s`` unless refreshed."""

    def __init__(self, redis: Redis, keys: Keys, *, ttl_s: float) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl_s = ttl_s

    def queue_present(self, pipe: Pipeline, job_id: str, stream_id: str) -> None:
        """Queue marking stream ``stream_id`` as attached to the job for one lease TTL."""
        ttl_ms = int(self.ttl_s * 1000)
        PRESENT.queue(pipe, [self.keys.readers(job_id)], [stream_id, ttl_ms])

    async def present(self, job_id: str, stream_id: str) -> None:
        """Mark stream ``stream_id`` as attached to the job for one lease TTL."""
        with unavailable_as_domain_error():
            async with self.redis.pipeline(transaction=False) as pipe:
                self.queue_present(pipe, job_id, stream_id)
                await pipe.execute()

    async def absent(self, job_id: str, stream_id: str) -> None:
        with unavailable_as_domain_error():
            await self.redis.zrem(self.keys.readers(job_id), stream_id)
