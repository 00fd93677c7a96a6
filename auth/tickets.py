"""Stream tickets: credentials for one job's stream, for clients that cannot send an
``Authorization`` header (a browser's ``EventSource``).

A ticket is ``st1.<payload>.<signature>``: the payload is base64url JSON ``{"sub", "job",
"start", "exp"}`` (the owner, the job id, until when it may start the job, its expiry), the
signature an HMAC-SHA256 of ``st1.<payload>`` under a key derived from the ticket secret with
its own label.

A ticket lives as long as its job can be streamed, so that a browser's ``EventSource``, which
reconnects by itself with the *same URL*, survives a drop at any point of a run: it may start
the job (the first attach) within ``ttl_s`` (``STREAM_TICKET_TTL_S``), and attaches to a job
that is no longer pending (a reconnect, a resume) until ``ttl_s + resume_s`` after issue,
where ``resume_s`` is ``RUN_TIMEOUT_S + RESUME_GRACE_S``: a run the ticket started ends within
``ttl_s + RUN_TIMEOUT_S`` and its events stay resumable ``RESUME_GRACE_S`` longer. It stays one
job's, one owner's, and the stream's only (the route checks "no longer pending" with
:attr:`Ticket.may_start`). Not a JWT, on purpose: a ticket
is issued and checked only by this service, every ``POST /jobs`` issues one, and an HMAC costs
a tenth of a JWT here; being no JWT, a ticket can never pass as a bearer token, nor a bearer
token as a ticket.

Tickets get a leeway of :data:`TICKET_LEEWAY_S`, not the bearer tokens' 30 s: instances of
this service issue and check them, so there is little clock skew to absorb, and 30 s would
stretch a 60 s ticket by half. A ticket travels in a URL, so the access log never writes
query strings (``app.middleware.RequestEdge``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from dataclasses import dataclass

import orjson

from auth.errors import InvalidToken
from auth.verifier import Principal


@dataclass(frozen=True, slots=True)
class Ticket:
    """A verified ticket: its owner, and whether it may still start a pending job (else it
    only attaches to a job already running or finished)."""

    principal: Principal
    may_start: bool


TICKET_LEEWAY_S = 5
PREFIX = "st1."


def derive_ticket_secret(secret: str) -> bytes:
    """A ticket key derived from another secret, so one setting can serve both."""
    return hmac.new(secret.encode(), b"jobs-service stream tickets v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TicketSigner:
    def __init__(self, secret: str, *, ttl_s: int = 60, resume_s: int = 0) -> None:
        self._key = derive_ticket_secret(secret)
        self.ttl_s = ttl_s
        self.resume_s = resume_s

    @property
    def lifetime_s(self) -> int:
        """How long a ticket is valid for, in all."""
        return self.ttl_s + self.resume_s

    def _sign(self, signed: str) -> str:
        return _b64(hmac.new(self._key, signed.encode(), hashlib.sha256).digest())

    def issue(self, job_id: str, owner: str, *, now: float | None = None) -> str:
        start = int(now if now is not None else time.time()) + self.ttl_s
        claims = {"sub": owner, "job": job_id, "start": start, "exp": start + self.resume_s}
        signed = PREFIX + _b64(orjson.dumps(claims))
        return f"{signed}.{self._sign(signed)}"

    def verify(self, ticket: str, job_id: str) -> Ticket:
        """The owner named by ``ticket``, if it is valid and was issued for ``job_id``."""
        signed, _, signature = ticket.rpartition(".")
        if not signed.startswith(PREFIX) or signed.count(".") != 1:
            raise InvalidToken("not a stream ticket")
        if not hmac.compare_digest(signature, self._sign(signed)):
            raise InvalidToken("the stream ticket's signature is invalid")
        try:
            claims = orjson.loads(_unb64(signed.removeprefix(PREFIX)))
            owner, ticket_job, expires = claims["sub"], claims["job"], claims["exp"]
            start = claims.get("start", expires)
        except (binascii.Error, ValueError, KeyError, TypeError, AttributeError):
            raise InvalidToken("the stream ticket is malformed") from None
        if not isinstance(owner, str) or not owner:
            raise InvalidToken("the stream ticket is malformed")
        if not isinstance(expires, int) or not isinstance(start, int):
            raise InvalidToken("the stream ticket is malformed")
        now = time.time()
        if now > expires + TICKET_LEEWAY_S:
            raise InvalidToken("the stream ticket has expired")
        if ticket_job != job_id:
            raise InvalidToken("the stream ticket is for another job")
        return Ticket(Principal(owner, claims), may_start=now <= start + TICKET_LEEWAY_S)
