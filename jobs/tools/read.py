"""The ``Read`` tool: numbered lines of one workspace text file, like ``cat -n``.

Files of any size are paged by line: the file is read in chunks until the asked lines are
in hand (``offset``, ``limit``), so line 10,000,000 of a 2 GB log costs a scan, not a wall.
What one call returns is bounded (``max_lines`` lines, ``max_line_chars`` characters of a
line, ``max_bytes`` in all); a cut line keeps its start and says how much is left. Lines end
at ``\\n`` only (a ``\\r`` before it is dropped), as ripgrep counts them, so Grep's line numbers
are Read's. A UTF-8 or UTF-16 byte-order mark sets the encoding; without one the text is UTF-8
(undecodable bytes show as U+FFFD), and a NUL byte in the first 8 kB makes it binary.
"""

from __future__ import annotations

import codecs
import os

from pydantic import BaseModel, ConfigDict, Field, model_validator

from jobs.tools.base import Context, Deadline, Output, Tool, ToolLimits, ToolResult
from jobs.tools.paths import Refused, Target, open_regular

_CHUNK_BYTES = 1 << 20
_SNIFF_BYTES = 8192
_COUNT_ALL_BYTES = 32 << 20  # a smaller file is read to its end, to say how many lines are left
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


class ReadInput(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    file_path: str | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="The file to read: absolute (inside the workspace) or relative to the "
        "workspace root",
    )
    path: str | None = Field(
        default=None, min_length=1, max_length=1000, description="Same as file_path"
    )
    offset: int = Field(default=1, ge=0, description="The line to start from (1-based; 0 means 1)")
    limit: int | None = Field(default=None, ge=1, description="The number of lines to read")

    @model_validator(mode="after")
    def _one_path(self) -> ReadInput:
        if (self.file_path is None) == (self.path is None):
            raise ValueError("give file_path (or path), exactly one of them")
        return self

    @property
    def target(self) -> str:
        return self.file_path or self.path or ""


def _fmt_bytes(n: int) -> str:
    for unit, size in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


class _Lines:
    """Decoded lines of a file read in chunks; keeps only the lines asked for, each at most
    ``keep_chars`` long (plus how many characters it had)."""

    def __init__(self, first: int, count: int, keep_chars: int) -> None:
        self.first, self.end = first, first + count
        self.keep_chars = keep_chars
        self.number = 1  # of the line being read
        self.current: list[str] = []
        self.current_len = 0
        self.kept: list[tuple[str, int]] = []

    def feed(self, text: str) -> None:
        newlines = text.count("\n")
        if self.number >= self.end or self.number + newlines < self.first:  # only count
            self.number += newlines
            tail = len(text) - text.rfind("\n") - 1 if newlines else len(text)
            self.current_len = tail if newlines else self.current_len + tail
            return
        start = 0
        while True:
            newline = text.find("\n", start)
            piece = text[start:] if newline == -1 else text[start:newline]
            if self.first <= self.number < self.end:
                room = self.keep_chars - sum(len(p) for p in self.current)
                if room > 0:
                    self.current.append(piece[:room])
            self.current_len += len(piece)
            if newline == -1:
                return
            self.end_line()
            start = newline + 1

    def end_line(self) -> None:
        if self.first <= self.number < self.end:
            line = "".join(self.current)
            length = self.current_len
            if line.endswith("\r") and length == len(line):
                line, length = line[:-1], length - 1
            self.kept.append((line, length))
        self.number += 1
        self.current, self.current_len = [], 0

    @property
    def done(self) -> bool:
        return self.number > self.end  # the line after the page has begun: there is more


def _read_lines(
    target: Target, first: int, count: int, limits: ToolLimits, deadline: Deadline
) -> tuple[_Lines, int, bool]:
    """The page of lines, the file's size, and whether the file ended within the scan."""
    fd = open_regular(target)
    try:
        size = os.fstat(fd).st_size
        head = os.read(fd, _SNIFF_BYTES)
        encoding, bom = next(((enc, len(b)) for b, enc in _BOMS if head.startswith(b)), ("", 0))
        if not encoding and b"\0" in head:
            raise Refused(f"{target.rel} is a binary file")
        decoder = codecs.getincrementaldecoder(encoding or "utf-8")("replace")
        lines = _Lines(first, count, limits.max_line_chars * 2)
        chunk = head[bom:]
        while chunk:
            lines.feed(decoder.decode(chunk))
            if lines.done and size > _COUNT_ALL_BYTES:
                return lines, size, False
            if deadline.passed():
                raise Refused(
                    f"{target.rel}: line {first} was not reached within the time limit "
                    f"({limits.time_s} s); the file is {_fmt_bytes(size)}"
                )
            chunk = os.read(fd, _CHUNK_BYTES)
        lines.feed(decoder.decode(b"", final=True))
        if lines.current_len:
            lines.end_line()  # a last line without a final newline
        return lines, size, True
    finally:
        os.close(fd)


def read_page(context: Context, args: ReadInput, deadline: Deadline) -> ToolResult:
    limits = context.limits
    what = "file_path" if args.file_path is not None else "path"
    target = context.confinement.resolve(args.target, what)
    if target.is_dir:
        raise Refused(f"{target.rel or '.'} is a directory; use Glob to list it")
    first = max(args.offset, 1)
    count = min(args.limit or limits.max_lines, limits.max_lines)
    lines, size, ended = _read_lines(target, first, count, limits, deadline)
    total = lines.number - 1
    if ended and total == 0:
        return ToolResult(True, f"({target.rel} is empty)", f"read {target.rel} (empty)")
    if not lines.kept:
        raise Refused(f"offset {first} is past the end of {target.rel} ({total} lines)")
    out = Output(limits.max_bytes)
    last = first - 1
    for number, (line, length) in enumerate(lines.kept, start=first):
        shown = line[: limits.max_line_chars]
        if length > len(shown):
            shown += f" …({length - len(shown)} more characters)"
        if not out.add(f"{number:6}\t{shown}"):
            break
        last = number
    notes = []
    if not ended:
        notes.append(
            f"… more lines follow ({target.rel} is {_fmt_bytes(size)}); "
            f"pass offset={last + 1} to read on"
        )
    elif last < total:
        notes.append(f"… {total - last} more lines not shown; pass offset={last + 1} to read on")
    shown_count = last - first + 1
    noun = "line" if shown_count == 1 else "lines"
    summary = f"read {shown_count} {noun} of {target.rel}"
    return ToolResult(True, out.text(*notes), summary, (target.rel,))


async def run_read(context: Context, args: ReadInput) -> ToolResult:
    return await context.in_thread(read_page, context, args, Deadline(context.limits.time_s))


READ = Tool(
    name="Read",
    input=ReadInput,
    description=(
        "Read a text file of the read-only workspace, with line numbers (like cat -n, "
        "starting at 1). file_path may be absolute (inside the workspace) or relative to "
        "its root. By default it reads up to 2000 lines from the start; for a long file "
        "pass offset (the first line) and limit (how many lines), and a cut result tells "
        "the offset to read on. Files of any size can be paged; very long lines are cut. "
        "Line numbers agree with Grep's. Secret-looking, ignored, binary and multiply "
        "linked files are refused."
    ),
    run=run_read,
    phrase="file_path",
)
