"""Authentication errors, a tree of their own (``auth`` imports nothing of ``jobs``): the HTTP
layer maps it beside the job domain's (``app.problems``). Their messages describe the problem
and never echo a credential::

AuthError
├── MissingCredentials   no bearer token (or ticket) at all        401
├── InvalidToken         present but not acceptable: why, in words  401
└── AuthUnavailable      the identity provider cannot be reached    503
"""

from __future__ import annotations


class AuthError(Exception):
    """Base of the errors ``auth`` raises; ``description`` says why, in words."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class MissingCredentials(AuthError):
    def __init__(self, description: str = "a bearer token is required") -> None:
        super().__init__(description)


class InvalidToken(AuthError):
    pass


class AuthUnavailable(AuthError):
    pass
