"""ripgrep as the engine of ``Grep`` and ``Glob``: one ``rg`` process per call, confined.

The ``ripgrep`` wheel installs the ``rg`` binary among the interpreter's scripts; it is found
there first, then on ``PATH``. Every run walks from the workspace root with the same rules as
the other tools: hidden files are searched, ``.gitignore`` files apply whether or not the tree
is a git repository, and nothing outside the workspace does (no parent ignore files, no global
or ``.ignore`` files, no config file); symlinks are never followed; the secret patterns are an
ignore file matched without regard to case. ripgrep lets a workspace ``.gitignore`` or a
``--glob`` re-include what an ignore file hides, so every path it reports is checked again
(secret, ignored, more than one hard link) before anything about it is shown.

The output is read as it comes, one record at a time; a record longer than ``MAX_RECORD_BYTES``
is dropped and counted. The process is killed at the call's deadline (or when the call is
cancelled), and what it reported until then is kept as a partial answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sysconfig
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from jobs.tools.paths import Refused

MAX_RECORD_BYTES = 1 << 20
_CHUNK_BYTES = 1 << 16

# Rust's regex crate bounds, like RE2's: a larger compiled pattern is refused, never slow.
_SIZE_LIMITS = ("--regex-size-limit", "8M", "--dfa-size-limit", "8M")


def find_rg() -> str:
    """The ``rg`` binary of the ``ripgrep`` package (or on ``PATH``); raises if there is none."""
    beside = Path(sysconfig.get_path("scripts")) / "rg"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("rg")
    if found is None:
        raise FileNotFoundError("ripgrep's rg binary was not found; pip install ripgrep")
    return found


def base_args(secret_file: Path) -> list[str]:
    """The flags that confine every run to the workspace's rules."""
    return [
        "--no-config",
        "--hidden",
        "--no-require-git",
        "--no-ignore-parent",
        "--no-ignore-global",
        "--no-ignore-exclude",
        "--no-ignore-dot",
        "--no-messages",
        "--ignore-file",
        str(secret_file),
        "--ignore-file-case-insensitive",
        *_SIZE_LIMITS,
    ]


@dataclass
class Run:
    """How one ``rg`` process ended: ``timed_out`` if it was killed at the deadline."""

    returncode: int | None
    timed_out: bool
    stderr: str
    overlong: int  # records dropped for their size


async def run_rg(
    argv: Sequence[str],
    cwd: Path,
    separator: bytes,
    on_record: Callable[[bytes], None],
    time_s: float,
) -> Run:
    """Run ``argv`` in ``cwd``, calling ``on_record`` for each ``separator``-ended record."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"},
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    reader = _Records(separator, on_record)
    errors = asyncio.ensure_future(_read_all(proc.stderr, 64_000))
    timed_out = False
    try:
        async with asyncio.timeout(time_s):
            while chunk := await proc.stdout.read(_CHUNK_BYTES):
                reader.feed(chunk)
            await proc.wait()
    except TimeoutError:
        timed_out = True
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await asyncio.shield(proc.wait())
        stderr = await asyncio.shield(errors)
    return Run(proc.returncode, timed_out, stderr.decode("utf-8", "replace"), reader.overlong)


async def _read_all(stream: asyncio.StreamReader, cap: int) -> bytes:
    """Everything ``stream`` says, kept up to ``cap`` bytes (the rest is read and dropped)."""
    kept = b""
    while chunk := await stream.read(_CHUNK_BYTES):
        kept = (kept + chunk)[:cap]
    return kept


class _Records:
    """Splits a byte stream into records, dropping (and counting) any that is too long."""

    def __init__(self, separator: bytes, on_record: Callable[[bytes], None]) -> None:
        self.separator = separator
        self.on_record = on_record
        self.buffer = b""
        self.skipping = False
        self.overlong = 0

    def feed(self, chunk: bytes) -> None:
        *records, self.buffer = (self.buffer + chunk).split(self.separator)
        for record in records:
            if self.skipping:
                self.skipping = False
            else:
                self.on_record(record)
        if len(self.buffer) > MAX_RECORD_BYTES:
            self.overlong += not self.skipping
            self.skipping = True
            self.buffer = b""


def check_failed(run: Run) -> None:
    """Refuse with ripgrep's own words when it rejected the call (a bad regex, an unknown
    file type): exit status 2 with nothing reported is not an answer."""
    if run.timed_out or run.returncode != 2 or not run.stderr.strip():
        return  # with --no-messages, a file it could not read exits 2 silently
    message = run.stderr.strip().replace("rg: ", "", 1) or "the search failed"
    lines = [line for line in message.splitlines() if line.strip()]
    raise Refused(" ".join(lines[:12])[:800])
