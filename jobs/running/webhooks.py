"""Webhooks: one signed POST to ``WEBHOOK_URL`` for every job that ends, however it ends.

The job store's settle step (``jobs.record.store``) records the delivery beside the job and makes it
due in the same atomic step, so a delivery exists for every ending whichever instance settled
it, even if that instance dies right after. Every instance runs a :class:`WebhookSender` that
sweeps the due deliveries:

- **claim** — one script takes the due job ids and pushes their due time past the attempt's
  bound (``WEBHOOK_TIMEOUT_S`` and a margin): while one instance sends, no other does. If it
  dies mid-attempt, the claim lapses and another instance sends again (at least once);
- **send** — one POST following the Standard Webhooks specification: ``webhook-id`` (the job
  id: the same on every retry, receivers dedup by it), ``webhook-timestamp`` and
  ``webhook-signature``, signed with the ``standardwebhooks`` library, plus the trace context;
- **retry** — on a timeout, a connection error, 408, 429 or a 5xx, with doubling backoff
  while the delivery is younger than ``WEBHOOK_RETRY_FOR_S``; after that, or on any other
  status, the delivery is a **dead letter**, kept ``WEBHOOK_DEAD_TTL_S`` for
  ``python -m jobs ops webhooks``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx2
import orjson
from standardwebhooks import Webhook

from jobs import metrics, tracing
from jobs.errors import StoreUnavailable
from jobs.events import now_ms
from jobs.lifecycle import Lifecycle
from jobs.redis.connection import Redis, cancel_until_done, unavailable_as_domain_error
from jobs.redis.keys import Keys
from jobs.redis.script import Script

# The logger keeps its name from before the module moved (operators' filters use it).
logger = logging.getLogger("jobs.webhooks")

#: The most deliveries one sweep claims (the rest wait for the next sweep).
SWEEP_BATCH = 32
#: The first retry's delay; each later one doubles it, up to :data:`MAX_BACKOFF_S`.
FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 300.0
#: How much longer than an attempt's timeout a claim holds a delivery.
CLAIM_MARGIN_S = 5.0

TYPES = {"completed": "job.completed", "failed": "job.failed", "cancelled": "job.cancelled"}

CLAIM = Script("jobs.running", "webhook_claim", keys=1, args=2)


@dataclass(frozen=True)
class WebhookConfig:
    url: str  # WEBHOOK_URL
    secret: str  # WEBHOOK_SECRET, whsec_<base64>
    timeout_s: float = 10  # WEBHOOK_TIMEOUT_S: one attempt, connect to last byte
    retry_for_s: float = 3600  # WEBHOOK_RETRY_FOR_S: no attempt starts later after the ending
    dead_ttl_s: int = 7 * 86400  # WEBHOOK_DEAD_TTL_S: how long a dead letter is kept
    every_s: float = 1.0  # how often an instance sweeps the due deliveries
    first_backoff_s: float = FIRST_BACKOFF_S


def body(delivery: dict[str, str]) -> bytes:
    """The POST body for a stored delivery (its fields as the settle step wrote them)."""
    status = delivery["status"]
    data: dict[str, Any] = orjson.loads(delivery["data"])
    payload: dict[str, Any] = {
        "jobId": delivery["jobId"],
        "owner": delivery["owner"],
        "agent": delivery["agent"],
        "status": status,
    }
    if status == "completed":
        payload["result"] = data.get("result")
    else:
        payload["error"] = data
    payload["tokenUsage"] = data.get("tokenUsage")
    ended = datetime.fromtimestamp(int(delivery["endedAt"]) / 1000, UTC)
    return orjson.dumps(
        {
            "type": TYPES.get(status, f"job.{status}"),
            "timestamp": ended.isoformat().replace("+00:00", "Z"),
            "data": payload,
        }
    )


class WebhookSender(Lifecycle):
    """This instance's sweep of the due webhook deliveries (an async context manager)."""

    def __init__(self, redis: Redis, keys: Keys, config: WebhookConfig, instance: str) -> None:
        self.redis = redis
        self.keys = keys
        self.config = config
        self.instance = instance
        self._signer = Webhook(config.secret)
        self._http = httpx2.AsyncClient(timeout=config.timeout_s, follow_redirects=False)
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        self._task = asyncio.create_task(self._sweep(), name="webhook-sweep")

    async def aclose(self) -> None:
        await cancel_until_done(self._task)
        await self._http.aclose()

    async def _sweep(self) -> None:
        while True:
            try:
                await self.sweep_once()
            except StoreUnavailable:
                pass
            except Exception:
                logger.exception("the webhook sweep failed")
            await asyncio.sleep(self.config.every_s)

    async def sweep_once(self) -> int:
        """Claim the due deliveries and attempt each once; how many were attempted."""
        hold_ms = int((self.config.timeout_s + CLAIM_MARGIN_S) * 1000)
        with unavailable_as_domain_error():
            job_ids: list[str] = await CLAIM.call(
                self.redis, [self.keys.webhooks_due()], [hold_ms, SWEEP_BATCH]
            )
        outcomes = await asyncio.gather(
            *(self._attempt(job_id) for job_id in job_ids), return_exceptions=True
        )
        for job_id, outcome in zip(job_ids, outcomes, strict=True):
            # The claim lapses and a later sweep tries again.
            if isinstance(outcome, StoreUnavailable):
                logger.warning("webhook not recorded: Redis unavailable", extra={"job_id": job_id})
            elif isinstance(outcome, BaseException):
                logger.error("webhook attempt failed", exc_info=outcome, extra={"job_id": job_id})
        return len(job_ids)

    async def _attempt(self, job_id: str) -> None:
        with unavailable_as_domain_error():
            await self._attempt_once(job_id)

    async def _attempt_once(self, job_id: str) -> None:
        key = self.keys.webhook(job_id)
        delivery: dict[str, str] = await self.redis.hgetall(key)  # type: ignore[assignment]
        if not delivery:  # expired, or delivered meanwhile
            await self.redis.zrem(self.keys.webhooks_due(), job_id)
            return
        error, retry = await self._post(job_id, delivery)
        if error is None:
            pipe = self.redis.pipeline(transaction=True)
            pipe.delete(key)
            pipe.zrem(self.keys.webhooks_due(), job_id)
            await pipe.execute()
            metrics.webhook_attempt("delivered")
            logger.info("webhook delivered", extra={"job_id": job_id})
            return
        attempts = int(delivery.get("attempts", "0")) + 1
        delay_s = min(self.config.first_backoff_s * 2 ** (attempts - 1), MAX_BACKOFF_S)
        delay_s *= random.uniform(0.8, 1.0)  # noqa: S311 -- spreads retries, not a secret
        now = now_ms()
        age_s = (now - int(delivery["endedAt"])) / 1000
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, mapping={"attempts": attempts, "lastError": error, "lastAt": now})
        if retry and age_s + delay_s <= self.config.retry_for_s:
            pipe.zadd(self.keys.webhooks_due(), {job_id: now + int(delay_s * 1000)})
            await pipe.execute()
            metrics.webhook_attempt("retried")
            logger.info("webhook failed, retrying", extra={"job_id": job_id, "error": error})
            return
        pipe.zrem(self.keys.webhooks_due(), job_id)
        pipe.zadd(self.keys.webhooks_dead(), {job_id: now})
        pipe.expire(key, self.config.dead_ttl_s)
        await pipe.execute()
        metrics.webhook_attempt("dead")
        logger.warning(
            "webhook dead-lettered after %d attempts: %s",
            attempts,
            error,
            extra={"job_id": job_id, "error": error},
        )

    async def _post(self, job_id: str, delivery: dict[str, str]) -> tuple[str | None, bool]:
        """One attempt: (None, _) if delivered, else (why not, whether to retry)."""
        content = body(delivery)
        sent_at = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": job_id,
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": self._signer.sign(job_id, sent_at, content),
            "user-agent": "jobs-service-webhooks",
        }
        trace = delivery.get("traceparent")
        headers.update({"traceparent": trace} if trace else tracing.headers())
        try:
            async with asyncio.timeout(self.config.timeout_s):
                response = await self._http.post(self.config.url, content=content, headers=headers)
        except (TimeoutError, httpx2.TimeoutException):
            return "timeout", True
        except httpx2.TransportError as exc:
            return f"{type(exc).__name__}: {exc}"[:200], True
        status = response.status_code
        if 200 <= status < 300:
            return None, False
        return f"HTTP {status}", status >= 500 or status in (408, 429)


@dataclass(frozen=True)
class DeadLetter:
    """A delivery that gave up: the job, how it ended, the attempts and the last error."""

    job_id: str
    owner: str
    agent: str
    status: str
    attempts: int
    last_error: str
    ended_at: int  # ms
    died_at: int  # ms

    def to_json(self) -> dict[str, Any]:
        return {
            "jobId": self.job_id,
            "owner": self.owner,
            "agent": self.agent,
            "status": self.status,
            "attempts": self.attempts,
            "lastError": self.last_error,
            "endedAt": self.ended_at,
            "diedAt": self.died_at,
        }


async def backlog(redis: Redis, keys: Keys) -> tuple[int, list[DeadLetter]]:
    """How many deliveries are due or being retried, and the dead letters (newest first; those
    whose record has expired are left out)."""
    due: int = await redis.zcard(keys.webhooks_due())
    newest = redis.zrevrange(keys.webhooks_dead(), 0, -1, withscores=True)
    dead: list[tuple[str, float]] = await newest  # type: ignore[assignment]
    letters: list[DeadLetter] = []
    for job_id, died_at in dead:
        fields: dict[str, str] = await redis.hgetall(keys.webhook(job_id))  # type: ignore[assignment]
        if not fields:
            continue
        letters.append(
            DeadLetter(
                job_id=job_id,
                owner=fields.get("owner", ""),
                agent=fields.get("agent", ""),
                status=fields.get("status", ""),
                attempts=int(fields.get("attempts", "0")),
                last_error=fields.get("lastError", ""),
                ended_at=int(fields.get("endedAt", "0")),
                died_at=int(died_at),
            )
        )
    return due, letters
