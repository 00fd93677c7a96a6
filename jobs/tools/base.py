"""What every tool shares: its record, its limits, its result, its context and bounded output.

A tool is one :class:`Tool` record (name, input model, description, run function, the phrase
a client shows for a call); :data:`jobs.tools.registry.TOOLS` lists them, and dispatch, the
Messages API definitions and the OpenAPI text all read that list.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from jobs.tools.paths import Confinement

In = TypeVar("In", bound=BaseModel)
T = TypeVar("T")


@dataclass(frozen=True)
class ToolLimits:
    """Bounds on one tool call. Every result that hits one says so in its content."""

    max_files: int = 200  # paths one Glob or Grep (files_with_matches, count) shows
    max_matches: int = 200  # lines one Grep (content) shows
    max_lines: int = 2_000  # lines one Read shows (its default `limit`)
    max_line_chars: int = 500  # characters of one shown line
    max_bytes: int = 40_000  # UTF-8 bytes of one result's content
    time_s: float = 5.0  # wall time of one call, from when it starts running
    calls_per_job: int = 4  # calls of one job that run at once (the others wait their turn)
    calls_running: int = 8  # calls of all jobs that run at once


@dataclass(frozen=True)
class ToolResult:
    """One tool call's outcome.

    ``content`` goes back to the model as the tool_result text; ``summary`` is short, for
    the end user; ``files_read`` lists the workspace-relative paths whose contents the call
    returned (whole or in part), which an agent reports as its context.
    """

    ok: bool
    content: str
    summary: str
    files_read: tuple[str, ...] = ()

    @classmethod
    def refused(cls, reason: str) -> ToolResult:
        return cls(ok=False, content=f"Error: {reason}", summary=reason)


@dataclass(frozen=True)
class Context:
    """What a running call may use: the confinement, the limits, ripgrep, the thread pool."""

    confinement: Confinement
    limits: ToolLimits
    rg: str
    secret_file: Path
    pool: ThreadPoolExecutor

    @property
    def root(self) -> Path:
        return self.confinement.root

    async def in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the workspace's thread pool (blocking file work)."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)


@dataclass(frozen=True)
class Tool(Generic[In]):
    """One tool: everything about it that dispatch, definitions and documents need.

    ``run`` gets the validated input and returns the result, or raises ``Refused``;
    ``phrase`` is how a client names a call in a step line (``Grep "checkout"``): the input
    field it quotes after the tool's name.
    """

    name: str
    input: type[In]
    description: str
    run: Callable[[Context, In], Awaitable[ToolResult]]
    phrase: str

    def definition(self) -> dict[str, Any]:
        """The Messages API ``tools`` entry."""
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": self.input.model_json_schema(by_alias=True),
        }


class Deadline:
    """A monotonic deadline that a worker thread polls between units of work."""

    def __init__(self, seconds: float) -> None:
        self._at = time.monotonic() + seconds

    def passed(self) -> bool:
        return time.monotonic() >= self._at


def plural(count: int, noun: str, suffix: str = "s") -> str:
    """``1 file``, ``2 files``."""
    return f"{count} {noun}{'' if count == 1 else suffix}"


def cut_line(line: str, max_chars: int, start: int = 0) -> str:
    """``line`` shown from ``start`` for at most ``max_chars``, saying what was left out."""
    if len(line) <= max_chars:
        return line
    start = max(0, min(start, len(line) - max_chars))
    shown = line[start : start + max_chars]
    before = f"…({start} characters) " if start else ""
    after = len(line) - start - len(shown)
    return f"{before}{shown}" + (f" …({after} more characters)" if after else "")


@dataclass
class Output:
    """Lines of a result, bounded in UTF-8 bytes; ``full`` once a line did not fit."""

    max_bytes: int
    lines: list[str] = field(default_factory=list)
    size: int = 0
    full: bool = False

    def add(self, line: str) -> bool:
        """Add ``line`` if it fits; False (and ``full``) once it does not."""
        cost = len(line.encode("utf-8", "replace")) + 1
        if self.full or self.size + cost > self.max_bytes:
            self.full = True
            return False
        self.lines.append(line)
        self.size += cost
        return True

    def text(self, *notes: str) -> str:
        return "\n".join([*self.lines, *(n for n in notes if n)])
