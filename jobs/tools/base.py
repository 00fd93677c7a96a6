"""What every tool shares: its limits, its result, its deadline and its bounded output."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ToolLimits:
    """Bounds on one tool call. Every result that hits one says so in its content."""

    max_entries: int = 20_000  # directory entries one Glob or Grep walk visits
    max_files: int = 200  # paths one Glob lists
    max_matches: int = 200  # matching lines one Grep shows
    max_lines: int = 2_000  # lines one Read shows (its default `limit`)
    max_line_chars: int = 500  # characters of one shown line
    max_bytes: int = 40_000  # UTF-8 bytes of one result's content
    max_file_bytes: int = 1_000_000  # bytes read from one file (a larger one: its start)
    max_scan_bytes: int = 32_000_000  # bytes one Grep reads over all its files
    time_s: float = 5.0  # wall time of one call


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
