"""``Idempotency-Key`` on ``POST /jobs``: a retried start answers the first start again.

After the IETF draft (draft-ietf-httpapi-idempotency-key-header) and Stripe's practice, scoped
to the caller: each (owner, key) pair has one entry, ``jobs:user:<owner>:idempotency:<digest>``
(a HASH; the key itself is stored only as its SHA-256, so any printable key of up to 255
characters makes a short, safe Redis key). One atomic script decides a request's fate, so two
instances racing with twins agree:

- no entry: this request takes the key (the entry holds its body's fingerprint and a token,
  and lives :data:`LOCK_S` while the job is created), and the caller proceeds;
- another fingerprint: the key was used for another body (422 ``IDEMPOTENCY_KEY_REUSED``);
- same fingerprint, no response yet: the twin is still being processed (409
  ``IDEMPOTENCY_IN_PROGRESS``);
- same fingerprint and a stored response: answer it again (``Idempotent-Replayed: true``).

A successful start stores its response for ``IDEMPOTENCY_TTL_S``; a refused one gives the key
back (a 429 or a 503 retried with the same key then gets a real second try, and a request that
was invalid is simply refused again). An instance that dies between taking the key and storing
the response leaves the entry to expire after :data:`LOCK_S`. Stream tickets are never stored:
a replay gets a fresh one (a ticket is a credential, and the first one may have expired).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from jobs.errors import IdempotencyInProgress, IdempotencyKeyInvalid, IdempotencyKeyReused
from jobs.redis.connection import Redis, unavailable_as_domain_error
from jobs.redis.keys import Keys
from jobs.redis.script import Script

#: How long a request holds its key while it creates the job (one round trip, normally).
LOCK_S = 30
#: The longest key accepted (the draft leaves it to the server; Stripe's limit).
MAX_KEY_LENGTH = 255

BEGIN = Script("jobs.record", "idempotency_begin", keys=1, args=3)
COMPLETE = Script("jobs.record", "idempotency_complete", keys=1, args=3)
RELEASE = Script("jobs.record", "idempotency_release", keys=1, args=1)


def check_key(value: str) -> str:
    """The header's key, or :class:`IdempotencyKeyInvalid` if empty or too long."""
    if not value:
        raise IdempotencyKeyInvalid("the Idempotency-Key header is empty")
    if len(value) > MAX_KEY_LENGTH:
        raise IdempotencyKeyInvalid(
            f"the Idempotency-Key header is longer than {MAX_KEY_LENGTH} characters"
        )
    return value


def fingerprint(body: Any) -> str:
    """The request body's identity: equal JSON documents (keys in any order) are equal."""
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True, slots=True)
class Replay:
    """A stored response to answer again: its status and JSON body (without a ticket)."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class Claimed:
    """A key this request took: :meth:`Idempotency.complete` or :meth:`~Idempotency.release`
    it."""

    entry: str
    token: str


class Idempotency:
    """The idempotency entries of one key prefix."""

    def __init__(self, redis: Redis, keys: Keys, *, ttl_s: int) -> None:
        self.keys = keys
        self.ttl_s = ttl_s
        self.redis = redis

    async def begin(self, owner: str, key: str, body: Any) -> Claimed | Replay:
        """Take ``owner``'s ``key`` for a request with ``body``, or the response to replay;
        raises :class:`IdempotencyKeyReused` or :class:`IdempotencyInProgress`."""
        digest = hashlib.sha256(check_key(key).encode()).hexdigest()
        entry = self.keys.idempotency(owner, digest)
        token = secrets.token_hex(8)
        with unavailable_as_domain_error():
            reply = await BEGIN.call(self.redis, [entry], [fingerprint(body), token, LOCK_S])
        outcome: Literal["new", "reused", "in-progress", "replay"] = reply[0]
        if outcome == "new":
            return Claimed(entry, token)
        if outcome == "reused":
            raise IdempotencyKeyReused()
        if outcome == "in-progress":
            raise IdempotencyInProgress(retry_after_s=1)
        stored = orjson.loads(reply[1])
        return Replay(stored["status"], stored["body"], stored["headers"])

    async def complete(self, claimed: Claimed, response: Replay) -> None:
        """Store the response a claimed key's request gave, for ``IDEMPOTENCY_TTL_S``."""
        stored = orjson.dumps(
            {"status": response.status, "body": response.body, "headers": response.headers}
        )
        with unavailable_as_domain_error():
            await COMPLETE.call(self.redis, [claimed.entry], [claimed.token, stored, self.ttl_s])

    async def release(self, claimed: Claimed) -> None:
        """Give the key back: the request failed, and a retry must get a real second try."""
        with unavailable_as_domain_error():
            await RELEASE.call(self.redis, [claimed.entry], [claimed.token])
