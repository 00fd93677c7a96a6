"""Who the caller is: bearer JWT verification and stream tickets."""

from auth.errors import AuthError, AuthUnavailable, InvalidToken, MissingCredentials
from auth.tickets import Ticket, TicketSigner
from auth.verifier import (
    CachingVerifier,
    CombinedVerifier,
    Principal,
    SecretVerifier,
    Verifier,
    mint_token,
)

__all__ = [
    "AuthError",
    "AuthUnavailable",
    "CachingVerifier",
    "CombinedVerifier",
    "InvalidToken",
    "MissingCredentials",
    "Principal",
    "SecretVerifier",
    "Ticket",
    "TicketSigner",
    "Verifier",
    "mint_token",
]
