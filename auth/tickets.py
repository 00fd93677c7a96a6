"""Stream tickets: short-lived credentials for one job's stream, for clients that cannot send
an ``Authorization`` header (a browser's ``EventSource``).

A ticket is ``st1.<payload>.<signature>``: the payload is base64url JSON ``{"sub", "job",
"exp"}`` (the owner, the job id, the expiry), the signature an HMAC-SHA256 of ``st1.<payload>``
under a key derived from the ticket secret with its own label. Not a JWT, on purpose: a ticket
is issued and checked only by this service, every ``POST /jobs`` issues one, and an HMAC costs
a tenth of a JWT here; being no JWT, a ticket can never pass as a bearer token, nor a bearer
token as a ticket.

Tickets get a leeway of :data:`TICKET_LEEWAY_S`, not the bearer tokens' 30 s: instances of
this service issue and check them, so there is little clock skew to absorb, and 30 s would
stretch a 60 s ticket by half. A ticket travels in a URL, so the access log never writes
query strings (``app.middleware.AccessLog``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time

import orjson

from auth.errors import InvalidToken
from auth.verifier import Principal

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
    def __init__(self, secret: str, *, ttl_s: int = 60) -> None:
        self._key = derive_ticket_secret(secret)
        self.ttl_s = ttl_s

    def _sign(self, signed: str) -> str:
        return _b64(hmac.new(self._key, signed.encode(), hashlib.sha256).digest())

    def issue(self, job_id: str, owner: str, *, now: float | None = None) -> str:
        expires = int(now if now is not None else time.time()) + self.ttl_s
        signed = PREFIX + _b64(orjson.dumps({"sub": owner, "job": job_id, "exp": expires}))
        return f"{signed}.{self._sign(signed)}"

    def verify(self, ticket: str, job_id: str) -> Principal:
        """The owner named by ``ticket``, if it is valid and was issued for ``job_id``."""
        signed, _, signature = ticket.rpartition(".")
        if not signed.startswith(PREFIX) or signed.count(".") != 1:
            raise InvalidToken("not a stream ticket")
        if not hmac.compare_digest(signature, self._sign(signed)):
            raise InvalidToken("the stream ticket's signature is invalid")
        try:
            claims = orjson.loads(_unb64(signed.removeprefix(PREFIX)))
            owner, ticket_job, expires = claims["sub"], claims["job"], claims["exp"]
        except (binascii.Error, ValueError, KeyError, TypeError):
            raise InvalidToken("the stream ticket is malformed") from None
        if not isinstance(owner, str) or not owner or not isinstance(expires, int):
            raise InvalidToken("the stream ticket is malformed")
        if time.time() > expires + TICKET_LEEWAY_S:
            raise InvalidToken("the stream ticket has expired")
        if ticket_job != job_id:
            raise InvalidToken("the stream ticket is for another job")
        return Principal(owner, claims)
