"""Authentication errors: the ``AuthError`` branch of the server's error tree (drawn whole in
``jobs.errors``). Their messages describe the problem and never echo a credential::

AuthError
├── MissingCredentials   no bearer token (or ticket) at all        401
├── InvalidToken         present but not acceptable: why, in words  401
└── AuthUnavailable      the identity provider cannot be reached    503
"""

from __future__ import annotations

from jobs.errors import JobsError


class AuthError(JobsError):
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
