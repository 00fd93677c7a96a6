"""Stream tickets: short-lived credentials for one job's stream, for clients that cannot send
an ``Authorization`` header (a browser's ``EventSource``).

A ticket is an HS256 JWT with header ``typ: stream-ticket+jwt`` and claims ``sub`` (the owner),
``job`` (the job id) and ``exp``. Its key is derived from the ticket secret with a distinct
label, so a ticket never verifies as a bearer token, and a bearer token never as a ticket.

Tickets get a leeway of :data:`TICKET_LEEWAY_S`, not the bearer tokens' 30 s: instances of
this service issue and check them, so there is little clock skew to absorb, and 30 s would
stretch a 60 s ticket by half. A ticket travels in a URL, so the access log never writes
query strings (``app.middleware.AccessLog``).
"""

from __future__ import annotations

import hashlib
import hmac
import time

from joserfc import jwt

from auth.errors import InvalidToken
from auth.verifier import TICKET_TYPE, Principal, decode, secret_key

TICKET_LEEWAY_S = 5


def derive_ticket_secret(secret: str) -> str:
    """A ticket secret derived from another secret, so one setting can serve both."""
    return hmac.new(secret.encode(), b"jobs-service stream tickets v1", hashlib.sha256).hexdigest()


class TicketSigner:
    def __init__(self, secret: str, *, ttl_s: int = 60) -> None:
        self._key = secret_key(derive_ticket_secret(secret))
        self.ttl_s = ttl_s

    def issue(self, job_id: str, owner: str) -> str:
        now = int(time.time())
        claims = {"sub": owner, "job": job_id, "iat": now, "exp": now + self.ttl_s}
        return jwt.encode({"alg": "HS256", "typ": TICKET_TYPE}, claims, self._key)

    def verify(self, ticket: str, job_id: str) -> Principal:
        """The owner named by ``ticket``, if it is valid and was issued for ``job_id``."""
        try:
            decoded = decode(
                ticket,
                self._key,
                algorithms=["HS256"],
                required=("exp", "sub"),
                leeway_s=TICKET_LEEWAY_S,
            )
        except InvalidToken as exc:
            raise InvalidToken(exc.description.replace("token", "stream ticket", 1)) from None
        if decoded.header.get("typ") != TICKET_TYPE:
            raise InvalidToken("not a stream ticket")
        if decoded.claims.get("job") != job_id:
            raise InvalidToken("the stream ticket is for another job")
        return Principal(decoded.claims["sub"], decoded.claims)
