"""The ``Grep`` tool: lines of workspace files that match a regular expression.

Regular expressions run on RE2 (``google-re2``): linear time in the input whatever the pattern,
so a pattern built to backtrack forever (``(a+)+$``) costs what any other does, and no thread
is left burning a core after a timeout. Its syntax is ripgrep's (no look-around, no
backreferences), which is what models expect from a Grep tool. Each file is searched as one
buffer (``never_nl``: a match never spans lines), at most ``max_file_bytes`` of it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol, cast

import re2
from wcmatch import glob as wcglob

from jobs.tools.base import Deadline, Output, ToolLimits, ToolResult, cut_line, plural
from jobs.tools.glob import GLOB_FLAGS, compile_glob
from jobs.tools.paths import Confinement, Refused, Target, open_regular
from jobs.tools.schemas import GrepInput
from jobs.tools.walk import Walk

_REGEX_MAX_MEM = 8 << 20  # bytes of compiled program; a larger one is refused


class _Match(Protocol):
    def start(self) -> int: ...


class Regex(Protocol):
    def search(self, text: bytes, pos: int) -> _Match | None: ...


def compile_regex(pattern: str) -> Regex:
    """The compiled pattern, multi-line, never matching across a newline; or Refused."""
    options = re2.Options()
    options.never_nl = True
    options.log_errors = False
    options.max_mem = _REGEX_MAX_MEM
    try:
        return cast(Regex, re2.compile(("(?m)" + pattern).encode("utf-8", "replace"), options))
    except re2.error as exc:
        raw = exc.args[0] if exc.args else b"invalid"
        detail = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        detail = detail.replace("(?m)", "", 1)
        raise Refused(f"pattern is not a valid RE2 regular expression: {detail}") from exc


def matching_lines(regex: Regex, data: bytes) -> Iterator[tuple[int, int, int, int]]:
    """(line number, line start, line end, match start) of each matching line."""
    pos = counted_to = 0
    lineno = 1
    while pos <= len(data):
        match = regex.search(data, pos)
        if match is None:
            return
        start = match.start()
        line_start = data.rfind(b"\n", 0, start) + 1
        if line_start == len(data):  # the empty "line" after a final newline
            return
        line_end = data.find(b"\n", start)
        line_end = len(data) if line_end == -1 else line_end
        lineno += data.count(b"\n", counted_to, line_start)
        counted_to = line_start
        yield lineno, line_start, line_end, start
        pos = line_end + 1


@dataclass
class _Tally:
    matches: int = 0
    shown: int = 0
    files: set[str] = field(default_factory=set)
    shown_files: list[str] = field(default_factory=list)
    binary: int = 0
    large: int = 0
    scanned: int = 0
    cut: str = ""


def _read_prefix(target: Target, max_bytes: int) -> tuple[bytes, bool]:
    fd = open_regular(target)
    try:
        large = os.fstat(fd).st_size > max_bytes
        return os.read(fd, max_bytes), large
    finally:
        os.close(fd)


def _files(
    confinement: Confinement, start: Target, walk: Walk | None, glob: str | None
) -> Iterator[str]:
    if walk is None:
        yield start.rel
        return
    matcher = compile_glob(glob, "glob", GLOB_FLAGS | wcglob.MATCHBASE) if glob else None
    prefix = start.rel + "/" if start.rel else ""
    for rel in walk.files():
        if matcher is None or matcher.match(rel[len(prefix) :]):
            yield rel


def run_grep(
    confinement: Confinement, limits: ToolLimits, args: GrepInput, deadline: Deadline
) -> ToolResult:
    regex = compile_regex(args.pattern)
    start = confinement.resolve(args.path)
    if not start.is_dir:
        os.close(open_regular(start))  # a named FIFO or device is refused, not skipped
    walk = Walk(confinement, start, limits.max_entries, deadline) if start.is_dir else None
    tally, out = _Tally(), Output(limits.max_bytes)
    for rel in _files(confinement, start, walk, args.glob):
        if deadline.passed():
            tally.cut = "the time limit was reached"
            break
        if tally.scanned >= limits.max_scan_bytes:
            tally.cut = f"{limits.max_scan_bytes} bytes were searched"
            break
        _search_file(confinement, limits, regex, rel, tally, out, deadline)
    return _result(args, limits, tally, out, walk)


def _search_file(
    confinement: Confinement,
    limits: ToolLimits,
    regex: Regex,
    rel: str,
    tally: _Tally,
    out: Output,
    deadline: Deadline,
) -> None:
    try:
        data, large = _read_prefix(
            Target(confinement.root / rel, rel, False), limits.max_file_bytes
        )
    except Refused:
        return
    tally.scanned += len(data)
    if b"\0" in data:
        tally.binary += 1
        return
    tally.large += large
    for lineno, line_start, line_end, start in matching_lines(regex, data):
        tally.matches += 1
        tally.files.add(rel)
        if tally.matches % 1024 == 0 and deadline.passed():  # a file of 250,000 short lines
            tally.cut = "the time limit was reached"
            return
        if tally.shown >= limits.max_matches or out.full:
            continue
        line = data[line_start:line_end].decode("utf-8", "replace")
        at = len(data[line_start:start].decode("utf-8", "replace"))
        text = cut_line(line, limits.max_line_chars, at - limits.max_line_chars // 4)
        if out.add(f"{rel}:{lineno}:{text}"):
            tally.shown += 1
            if not tally.shown_files or tally.shown_files[-1] != rel:
                tally.shown_files.append(rel)


def _result(
    args: GrepInput, limits: ToolLimits, tally: _Tally, out: Output, walk: Walk | None
) -> ToolResult:
    cut = tally.cut or (walk.cut if walk else "")
    notes = []
    hidden = tally.matches - tally.shown
    if hidden:
        why = f"limit {limits.max_matches} lines" if not out.full else f"{limits.max_bytes} bytes"
        notes.append(f"… {hidden} more matches not shown ({why}); narrow the pattern, path or glob")
    if tally.large:
        notes.append(
            f"… {plural(tally.large, 'file')} searched only in "
            f"the first {limits.max_file_bytes} bytes"
        )
    if tally.binary:
        notes.append(f"… {plural(tally.binary, 'binary file')} not searched")
    if cut:
        notes.append(f"… the search was cut: {cut}; more lines may match")
    more = "+" if cut else ""
    if not tally.matches:
        return ToolResult(
            True,
            "\n".join([f"No matches for {args.pattern!r}.", *notes]),
            f"no matches{more and ' (search cut)'}",
        )
    noun = "match" if tally.matches == 1 and not more else "matches"
    summary = f"{tally.matches}{more} {noun} in {plural(len(tally.files), 'file')}"
    return ToolResult(True, out.text(*notes), summary, tuple(tally.shown_files))
