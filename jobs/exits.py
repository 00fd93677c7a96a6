"""The exit codes of ``python -m jobs``, the client commands' and the operators' alike (the
README lists them). Scripts tell what happened by the code alone, without parsing output."""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    """The exit codes of ``python -m jobs`` (documented in the README)."""

    OK = 0  # done: the job completed, or the command succeeded
    FAILED = 1  # the run ended with an error event (its code is printed)
    USAGE = 2  # bad arguments or input
    CANCELLED = 3  # the run was cancelled (CANCELLED) or abandoned (ABANDONED)
    UNAUTHORIZED = 4  # 401: no token, or the token was refused
    FORBIDDEN = 5  # 403: another user's job
    NOT_FOUND = 6  # 404: no such job, or it expired
    FINISHED = 7  # 410, or 204: the job has finished and there is nothing to resume
    REJECTED = 8  # any other 4xx: invalid input (422), too many requests (429), ...
    UNAVAILABLE = 9  # 5xx, the service cannot be reached, or reconnecting gave up
    NOT_FINISHED = 10  # result: the job is still pending or running
    INTERRUPTED = 130  # Ctrl-C
