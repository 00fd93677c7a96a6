"""The ``Read`` tool: numbered lines of one workspace text file, like ``cat -n``.

At most ``max_file_bytes`` of a file are read; a larger file (a 2 GB log) is served from its
start and says so. A file with a NUL byte in what was read is binary and refused. Undecodable
bytes show as U+FFFD.
"""

from __future__ import annotations

import os

from jobs.tools.base import Deadline, Output, ToolLimits, ToolResult, cut_line
from jobs.tools.paths import Confinement, Refused, open_regular
from jobs.tools.schemas import ReadInput


def _fmt_bytes(n: int) -> str:
    for unit, size in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def run_read(
    confinement: Confinement, limits: ToolLimits, args: ReadInput, deadline: Deadline
) -> ToolResult:
    target = confinement.resolve(args.path)
    if target.is_dir:
        raise Refused(f"{target.rel or '.'} is a directory; use Glob to list it")
    fd = open_regular(target)
    try:
        size = os.fstat(fd).st_size
        data = os.read(fd, limits.max_file_bytes)
    finally:
        os.close(fd)
    if b"\0" in data:
        raise Refused(f"{target.rel} is a binary file")
    lines = data.decode("utf-8", "replace").splitlines()
    if size > len(data) and len(lines) > 1:
        lines.pop()  # the last line read may be cut in the middle
    if not lines:
        return ToolResult(True, f"({target.rel} is empty)", f"read {target.rel} (empty)")
    first = args.offset
    if first > len(lines):
        raise Refused(f"offset {first} is past the end of {target.rel} ({len(lines)} lines)")
    limit = min(args.limit or limits.max_lines, limits.max_lines)
    out = Output(limits.max_bytes)
    last = first - 1
    for number in range(first, min(first + limit, len(lines) + 1)):
        if not out.add(f"{number:6}\t{cut_line(lines[number - 1], limits.max_line_chars)}"):
            break
        last = number
    notes = []
    if last < len(lines):
        notes.append(
            f"… {len(lines) - last} more lines not shown; pass offset={last + 1} to read on"
        )
    if size > len(data):
        notes.append(
            f"… {target.rel} is {_fmt_bytes(size)}; only its first "
            f"{_fmt_bytes(limits.max_file_bytes)} can be read"
        )
    shown = last - first + 1
    noun = "line" if shown == 1 else "lines"
    return ToolResult(True, out.text(*notes), f"read {shown} {noun} of {target.rel}", (target.rel,))
