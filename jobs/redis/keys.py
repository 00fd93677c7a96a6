"""Every Redis key this service uses, built here and nowhere else.

One job's keys share the hash tag ``{<id>}`` so that they live in one Redis Cluster slot and a
script may touch several of them::

    jobs:{<id>}                 HASH    the job record
    jobs:{<id>}:events          STREAM  the job's stored events
    jobs:{<id>}:lease           STRING  the running instance's id, while its lease is alive
    jobs:{<id>}:readers         ZSET    attached streams, scored by when their presence expires
    jobs:{<id>}:webhook         HASH    the job's pending (or dead) webhook delivery
    jobs:user:<owner>:creates   ZSET    the owner's job creations in the last minute
    jobs:user:<owner>:tickets   ZSET    the owner's stream tickets in the last minute
    jobs:user:<owner>:streams   ZSET    the owner's open streams, scored by expiry
    jobs:user:<owner>:tokens    ZSET    the owner's model calls of the last day and their tokens
    jobs:user:<owner>:jobs      ZSET    the owner's jobs (ids by creation time), for listing
    jobs:user:<owner>:idempotency:<sha256>  HASH  one Idempotency-Key's request and response
    jobs:instance:<id>:inbox    LIST    job ids an instance is asked to cancel
    jobs:user:<owner>:agent:<agent>  HASH  the owner's custom agent (no TTL: configuration)
    jobs:webhooks:due           ZSET    job ids whose webhook is due, scored by when
    jobs:webhooks:dead          ZSET    job ids whose webhook gave up, scored by when
    jobs:pending                ZSET    pending job ids, scored by when their record expires

Per-user and per-instance keys are only ever used one at a time, so they need no hash tag.
Operators can rely on the layout documented in the README; ``job_keys_pattern`` is what a SCAN
for every per-job key should match
(``python -m jobs ops`` groups them by ``job_id_of``), and ``job_keys`` lists one job's keys
so that they can be deleted together.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from jobs.errors import InvalidJobId

#: Job ids are 32 lowercase hex characters: URL- and shell-safe, never a CLI flag, never a brace.
JOB_ID_RE = re.compile(r"[0-9a-f]{32}")


def new_job_id() -> str:
    """Return a fresh, unguessable job id (128 random bits)."""
    return secrets.token_hex(16)


def check_job_id(job_id: str) -> str:
    """Return ``job_id`` if it is well formed, else raise :class:`InvalidJobId`."""
    if JOB_ID_RE.fullmatch(job_id) is None:
        raise InvalidJobId(job_id)
    return job_id


@dataclass(frozen=True, slots=True)
class Keys:
    """Builds key names under one prefix (``JOBS_REDIS_PREFIX``)."""

    prefix: str = "jobs"

    def job(self, job_id: str) -> str:
        """The job record (HASH)."""
        return f"{self.prefix}:{{{job_id}}}"

    def events(self, job_id: str) -> str:
        """The job's event log (STREAM)."""
        return f"{self.prefix}:{{{job_id}}}:events"

    def lease(self, job_id: str) -> str:
        """The runner's lease (STRING holding the runner's name, with a PX expiry)."""
        return f"{self.prefix}:{{{job_id}}}:lease"

    def readers(self, job_id: str) -> str:
        """Streams attached to the job (ZSET: stream id → presence expiry, Unix ms)."""
        return f"{self.prefix}:{{{job_id}}}:readers"

    def webhook(self, job_id: str) -> str:
        """The job's webhook delivery: what ended it, attempts, why the last one failed."""
        return f"{self.prefix}:{{{job_id}}}:webhook"

    def webhooks_due(self) -> str:
        """Job ids whose webhook is due, scored by when (ms): every instance sweeps it."""
        return f"{self.prefix}:webhooks:due"

    def webhooks_dead(self) -> str:
        """Job ids whose webhook gave up (the dead letters), scored by when (ms)."""
        return f"{self.prefix}:webhooks:dead"

    def pending(self) -> str:
        """Pending jobs, deployment-wide (ZSET: job id → when its pending record expires, Unix
        ms), for the ``jobs_pending`` gauge (an index: each job's record is the truth)."""
        return f"{self.prefix}:pending"

    def lease_deadlines(self) -> str:
        """Running jobs by lease deadline (ZSET: job id → Unix ms), swept for lapsed leases
        by every live instance (an index: each job's lease key is the truth)."""
        return f"{self.prefix}:leases"

    def user_creates(self, owner: str) -> str:
        """The owner's recent job creations (ZSET: creation id → Unix ms), for the rate limit."""
        return f"{self.prefix}:user:{owner}:creates"

    def user_tokens(self, owner: str) -> str:
        """The owner's model calls of the last day (ZSET: ``<call id>:<tokens>`` → Unix ms),
        for the daily token budget."""
        return f"{self.prefix}:user:{owner}:tokens"

    def user_tickets(self, owner: str) -> str:
        """The owner's recent stream tickets (ZSET: request id → Unix ms), for the rate limit."""
        return f"{self.prefix}:user:{owner}:tickets"

    def user_streams(self, owner: str) -> str:
        """The owner's open streams (ZSET: stream id → presence expiry, Unix ms)."""
        return f"{self.prefix}:user:{owner}:streams"

    def user_jobs(self, owner: str) -> str:
        """The owner's jobs (ZSET: job id → creation time, Unix ms), for ``GET /jobs``."""
        return f"{self.prefix}:user:{owner}:jobs"

    def idempotency(self, owner: str, key_digest: str) -> str:
        """One of the owner's ``Idempotency-Key`` entries (HASH: fingerprint, token or
        response), named by the key's SHA-256 (hex)."""
        return f"{self.prefix}:user:{owner}:idempotency:{key_digest}"

    def custom_agent(self, owner: str, agent: str) -> str:
        """The owner's custom ``agent`` (HASH: config, version, updatedAt). No TTL: it is
        configuration, not a job."""
        return f"{self.prefix}:user:{owner}:agent:{agent}"

    def is_custom_agent(self, key: str) -> bool:
        """Whether ``key`` is a custom agent's (as :meth:`custom_agent` names them)."""
        head = f"{self.prefix}:user:"
        return key.startswith(head) and ":agent:" in key[len(head) :]

    def inbox(self, instance_id: str) -> str:
        """Requests for one service instance (LIST of job ids to cancel)."""
        return f"{self.prefix}:instance:{instance_id}:inbox"

    @property
    def job_keys_pattern(self) -> str:
        """A SCAN MATCH pattern for every per-job key: records, streams, leases, readers."""
        return f"{self.prefix}:{{*}}*"

    @property
    def all_pattern(self) -> str:
        """A SCAN MATCH pattern for every key under the prefix (per-job, per-user, ...)."""
        return f"{self.prefix}:*"

    def job_keys(self, job_id: str) -> list[str]:
        """All of one job's keys (one hash slot), in the order record, events, lease, readers."""
        return [self.job(job_id), self.events(job_id), self.lease(job_id), self.readers(job_id)]

    def job_id_of(self, key: str) -> str | None:
        """The job id inside a job or events key, or None for a foreign key."""
        head = f"{self.prefix}:{{"
        if not key.startswith(head):
            return None
        job_id, sep, _ = key[len(head) :].partition("}")
        return job_id if sep and JOB_ID_RE.fullmatch(job_id) else None
