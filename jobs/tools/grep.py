"""The ``Grep`` tool: Claude Code's contract on ripgrep's engine.

``output_mode`` ``files_with_matches`` (the default) lists the matching files, newest first;
``content`` shows the matching lines as ``path:line:text`` (context lines as ``path-line-text``,
groups apart by ``--``), by path then line; ``count`` shows ``path:count``. ``-i``, ``-A``,
``-B``, ``-C``, ``type``, ``glob`` and ``multiline`` mean what they mean to ``rg``; the
regular expressions are ripgrep's (Rust's regex crate: linear time whatever the pattern, so a
pattern built to backtrack forever costs what any other does). ``head_limit`` cuts what is
shown, never what is counted: a cut result says how many more there were. Line numbers count
``\\n`` only, as Read does. A search stopped at the time limit says so and what it found
until then; it never answers "No matches".
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from jobs.tools.base import Context, Output, Tool, ToolLimits, ToolResult, plural
from jobs.tools.glob import newest_first
from jobs.tools.paths import Refused, open_regular
from jobs.tools.ripgrep import Run, base_args, check_failed, run_rg
from jobs.tools.visible import Visible

OutputMode = Literal["files_with_matches", "content", "count"]


class GrepInput(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", populate_by_name=True)

    pattern: str = Field(
        min_length=1,
        max_length=1000,
        description="Regular expression, ripgrep's syntax (no look-around or backreferences); "
        "literal braces need escaping: interface\\{\\}",
    )
    path: str | None = Field(
        default=None,
        max_length=1000,
        description="File or directory to search, absolute or relative to the workspace root "
        "(default: the whole workspace)",
    )
    glob: str | None = Field(
        default=None,
        max_length=500,
        description="Only search files matching this glob (rg --glob), e.g. *.py or "
        "*.{ts,tsx}; a glob without / matches file names at any depth",
    )
    type: str | None = Field(
        default=None,
        max_length=50,
        pattern=r"^[A-Za-z0-9_+-]+$",
        description="Only search files of this type (rg --type), e.g. py, js, rust, go; "
        "faster than glob for the common languages",
    )
    output_mode: OutputMode = Field(
        default="files_with_matches",
        description='"files_with_matches" (default): the matching files, newest first; '
        '"content": the matching lines (with -A/-B/-C context, -n line numbers); '
        '"count": matches per file',
    )
    case_insensitive: bool = Field(default=False, alias="-i", description="Ignore case")
    line_numbers: bool = Field(
        default=True, alias="-n", description='Show line numbers (output_mode "content")'
    )
    after: int | None = Field(
        default=None, ge=0, le=100, alias="-A", description="Lines to show after each match"
    )
    before: int | None = Field(
        default=None, ge=0, le=100, alias="-B", description="Lines to show before each match"
    )
    context: int | None = Field(
        default=None, ge=0, le=100, alias="-C", description="Lines to show around each match"
    )
    head_limit: int | None = Field(
        default=None,
        ge=1,
        description="Show only the first N lines, files or counts (the rest is counted)",
    )
    multiline: bool = Field(
        default=False,
        description="Let patterns span lines, and . match a newline (rg -U --multiline-dotall)",
    )


@dataclass
class _Found:
    """What ripgrep reported that may be shown."""

    files: list[str] = field(default_factory=list)  # files_with_matches
    counts: list[tuple[str, int]] = field(default_factory=list)  # count
    lines: list[str] = field(default_factory=list)  # content, as shown (bounded)
    matched_lines: int = 0
    shown_lines: int = 0  # lines shown, context lines included
    shown_matches: int = 0  # matching lines shown
    matched_files: dict[str, None] = field(default_factory=dict)
    shown_files: dict[str, None] = field(default_factory=dict)
    unreadable: int = 0  # binary files named explicitly


async def run_grep(context: Context, args: GrepInput) -> ToolResult:
    confinement, limits = context.confinement, context.limits
    start = confinement.resolve(args.path or "")
    if not start.is_dir:
        os.close(open_regular(start))  # a FIFO, device or multiply linked file is refused
    visible, found = Visible(confinement), _Found()
    head = args.head_limit or (
        limits.max_matches if args.output_mode == "content" else limits.max_files
    )
    out = Output(limits.max_bytes)

    def on_record(record: bytes) -> None:
        _take(args, visible, found, out, head, record)

    separator = b"\0" if args.output_mode == "files_with_matches" else b"\n"
    argv = [context.rg, *_mode_args(args, limits), *base_args(context.secret_file)]
    argv += ["-e", args.pattern, "--", start.rel or "."]
    run = await run_rg(argv, context.root, separator, on_record, limits.time_s)
    if run.returncode == 2 and "regex" in run.stderr:
        detail = run.stderr.strip().replace("rg: ", "", 1)
        raise Refused(f"pattern is not a valid regular expression: {' '.join(detail.split())}")
    check_failed(run)
    if args.output_mode == "files_with_matches":
        found.files = await context.in_thread(newest_first, context, visible, found.files)
    return _result(args, limits, found, out, head, run)


def _mode_args(args: GrepInput, limits: ToolLimits) -> list[str]:
    flags = ["--null", "--with-filename"]
    if args.output_mode == "files_with_matches":
        flags.append("--files-with-matches")
    elif args.output_mode == "count":
        flags.append("--count")
    else:
        flags += ["--line-number", "--no-heading", "--sort", "path"]
        flags += ["--max-columns", str(limits.max_line_chars), "--max-columns-preview"]
        for flag, value in (("-A", args.after), ("-B", args.before), ("-C", args.context)):
            if value is not None:
                flags += [flag, str(value)]
    if args.case_insensitive:
        flags.append("--ignore-case")
    if args.multiline:
        flags += ["--multiline", "--multiline-dotall"]
    if args.type:
        flags += ["--type", args.type]
    if args.glob:
        flags += ["--glob", args.glob]
    return flags


def _take(
    args: GrepInput, visible: Visible, found: _Found, out: Output, head: int, record: bytes
) -> None:
    """One record of ripgrep's output, kept if its path may be shown."""
    if args.output_mode == "files_with_matches":
        found.files.append(_rel(record))  # checked after the run, off the event loop
        return
    if args.output_mode == "content" and record == b"--":
        fits = found.lines and found.lines[-1] != "--" and found.shown_lines < head
        if fits and out.add("--"):
            found.lines.append("--")
        return
    raw_path, nul, rest = record.partition(b"\0")
    if not nul:
        found.unreadable += 1  # "binary file matches": a binary file named by `path`
        return
    rel = _rel(raw_path)
    if not visible.file(rel):
        return
    text = rest.decode("utf-8", "replace")
    if args.output_mode == "count":
        found.counts.append((rel, int(text)))
        return
    number, sep, line = _split_number(text)
    if sep == ":":
        found.matched_lines += 1
        found.matched_files[rel] = None
    if found.shown_lines >= head or out.full:
        return
    shown_line = f"{rel}{sep}{number}{sep}{line}" if args.line_numbers else f"{rel}{sep}{line}"
    if out.add(shown_line):
        found.lines.append(shown_line)
        found.shown_lines += 1
        found.shown_matches += sep == ":"
        found.shown_files[rel] = None


def _rel(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    return text[2:] if text.startswith("./") else text


def _split_number(text: str) -> tuple[str, str, str]:
    """``12:text`` (a match) or ``12-text`` (context): the number, the separator, the text."""
    for index, char in enumerate(text):
        if not char.isdigit():
            return text[:index], char, text[index + 1 :]
    return text, ":", ""


def _result(
    args: GrepInput, limits: ToolLimits, found: _Found, out: Output, head: int, run: Run
) -> ToolResult:
    notes = []
    if found.unreadable:
        notes.append(f"… {args.path} is a binary file; it was not searched")
    if run.overlong:
        notes.append(f"… {plural(run.overlong, 'line')} too long to show")
    if run.timed_out:
        notes.append(
            f"… the search was stopped at the time limit ({limits.time_s} s) before it covered "
            "every file; more may match: narrow path, glob or type"
        )
    mode = args.output_mode
    total = (
        len(found.files)
        if mode == "files_with_matches"
        else len(found.counts)
        if mode == "count"
        else found.matched_lines
    )
    if not total:
        if run.timed_out:
            text = f"No matches for {args.pattern!r} in the part searched before the time limit."
            return ToolResult(True, "\n".join([text, *notes]), "search cut, nothing found yet")
        return ToolResult(True, f"No matches for {args.pattern!r}.", "no matches")
    more = "+" if run.timed_out else ""
    if mode == "content":
        return _content_result(args, found, out, head, notes, more)
    entries = (
        found.files
        if mode == "files_with_matches"
        else [f"{rel}:{count}" for rel, count in sorted(found.counts)]
    )
    listing = Output(limits.max_bytes)
    shown = 0
    for entry in entries[:head]:
        if not listing.add(entry):
            break
        shown += 1
    if shown < len(entries):
        notes.insert(
            0,
            f"… {len(entries) - shown} more files not shown (head_limit {head}); narrow the search",
        )
    if mode == "count":
        matches = sum(count for _, count in found.counts)
        summary = f"{matches}{more} matches in {plural(len(found.counts), 'file')}"
        return ToolResult(True, listing.text(*notes), summary)
    header = f"Found {plural(len(found.files), 'file')}{more and ' (search cut)'}"
    text = "\n".join([header, listing.text(*notes)])
    return ToolResult(True, text, f"{len(found.files)}{more} files match")


def _content_result(
    args: GrepInput, found: _Found, out: Output, head: int, notes: list[str], more: str
) -> ToolResult:
    while found.lines and found.lines[-1] == "--":
        found.lines.pop()
    out.lines = found.lines
    hidden = found.matched_lines - found.shown_matches
    if hidden > 0:
        why = f"head_limit {head}" if not out.full else "the size limit"
        notes.insert(0, f"… {hidden} more matching lines not shown ({why}); narrow the search")
    files = len(found.matched_files)
    noun = "match" if found.matched_lines == 1 and not more else "matches"
    summary = f"{found.matched_lines}{more} {noun} in {plural(files, 'file')}"
    return ToolResult(True, out.text(*notes), summary, tuple(found.shown_files))


GREP = Tool(
    name="Grep",
    input=GrepInput,
    description=(
        "Search the contents of the read-only workspace's files with ripgrep, at any size of "
        "tree. By default it lists the files that match, newest first; output_mode "
        '"content" shows the matching lines (path:line:text) with optional context lines '
        '(-A, -B, -C), and "count" shows matches per file. Narrow with path, glob (*.py) or '
        "type (py, js). Use -i to ignore case and multiline for patterns across lines. Files "
        "ignored by .gitignore, secret-looking and binary files are not searched. A long "
        "result is cut (head_limit) and says how many more there were; a search stopped at "
        "the time limit says so."
    ),
    run=run_grep,
    phrase="pattern",
)
