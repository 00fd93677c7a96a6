"""The ``Glob`` tool: workspace files whose paths match a glob, newest first.

ripgrep lists the files under ``path`` (``rg --files``: the walk with the workspace's rules);
the pattern is matched here, with wcmatch, against each path relative to ``path``: ``*`` and
``?`` stay in one directory, ``**`` spans them, ``{a,b}`` alternates, dotfiles match. A
leading ``./`` and an absolute path inside the workspace are accepted. The matches are sorted
by modification time, newest first (Claude Code's Glob), then by path.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field
from wcmatch import glob as wcglob

from jobs.tools.base import Context, Output, Tool, ToolLimits, ToolResult
from jobs.tools.paths import Refused, check_text
from jobs.tools.ripgrep import base_args, check_failed, run_rg
from jobs.tools.visible import Visible

# wcmatch bounds brace expansion (1000 patterns).
GLOB_FLAGS = wcglob.GLOBSTAR | wcglob.BRACE | wcglob.DOTGLOB


class GlobInput(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    pattern: str = Field(
        min_length=1,
        max_length=500,
        description="Glob matched against paths relative to `path`: * and ? stay within one "
        "directory, ** spans directories, {a,b} alternates. Examples: **/*.py, "
        "src/**/*.{ts,tsx}, **/test_*.py",
    )
    path: str | None = Field(
        default=None,
        max_length=1000,
        description="Directory to search in, absolute or relative to the workspace root "
        "(default: the root). Omit it to search the whole workspace.",
    )


def compile_glob(pattern: str, what: str, flags: int = GLOB_FLAGS) -> wcglob.WcMatcher[str]:
    """The matcher of a model-supplied pattern, or :class:`Refused`."""
    check_text(pattern, what)
    if ".." in pattern.split("/"):
        raise Refused(f"{what} must stay inside the workspace (no ..)")
    try:
        return wcglob.compile(pattern, flags=flags)
    except Exception as exc:  # wcmatch raises ValueError or its own limit exception
        raise Refused(f"{what} {pattern!r} is not a valid glob: {exc}") from exc


def path_matcher(pattern: str) -> Callable[[str], bool]:
    """A predicate on relative paths for ``pattern``. ``**/<name glob>`` (the common case)
    matches the file name alone, much faster than wcmatch's whole-path expression."""
    if pattern in ("**", "**/*"):
        check_text(pattern, "pattern")
        return lambda _: True
    name = pattern.removeprefix("**/")
    if name != pattern and "/" not in name and "**" not in name:
        matcher = compile_glob(name, "pattern")
        return lambda rel: matcher.match(rel.rpartition("/")[2])
    return compile_glob(pattern, "pattern").match


def _pattern_under(context: Context, pattern: str, start_rel: str) -> str:
    """The pattern relative to the search directory: ``./`` and an absolute workspace
    prefix dropped (``/ws/src/*.py`` searched from the root is ``src/*.py``)."""
    if pattern.startswith("/"):
        pattern = context.confinement.relative(pattern, "pattern")
        prefix = start_rel + "/" if start_rel else ""
        if not pattern.startswith(prefix):
            raise Refused(f"pattern {pattern!r} is not under the searched path")
        pattern = pattern[len(prefix) :]
    while pattern.startswith("./"):
        pattern = pattern[2:]
    return pattern


async def run_glob(context: Context, args: GlobInput) -> ToolResult:
    confinement, limits = context.confinement, context.limits
    start = confinement.resolve(args.path or "")
    if not start.is_dir:
        raise Refused(f"path {args.path!r} is a file; Glob needs a directory")
    pattern = _pattern_under(context, args.pattern, start.rel)
    matches = path_matcher(pattern or "*")
    visible = Visible(confinement)
    prefix = start.rel + "/" if start.rel else ""
    listed: list[bytes] = []
    argv = [context.rg, "--files", "--null", *base_args(context.secret_file), "--", prefix or "."]
    run = await run_rg(argv, context.root, b"\0", listed.append, limits.time_s)
    check_failed(run)

    def select() -> list[str]:  # matching and checks stat every file: off the event loop
        found = []
        for record in listed:
            rel = record.decode("utf-8", "surrogateescape").removeprefix("./")
            if matches(rel[len(prefix) :]):
                found.append(rel)
        return newest_first(context, visible, found)

    newest = await context.in_thread(select)
    return _result(args, limits, newest, start.rel, run.timed_out)


def newest_first(context: Context, visible: Visible, found: list[str]) -> list[str]:
    """The paths of ``found`` that may be shown, by modification time (newest first), then
    by path."""
    root = str(context.root)
    mtimes = {}
    for rel in found:
        if visible.file(rel):
            try:
                mtimes[rel] = os.lstat(f"{root}/{rel}").st_mtime
            except OSError:
                continue
    return sorted(sorted(mtimes), key=mtimes.__getitem__, reverse=True)


def _result(
    args: GlobInput, limits: ToolLimits, found: list[str], where: str, cut: bool
) -> ToolResult:
    under = f" under {where}" if where else ""
    if not found and not cut:
        return ToolResult(True, f"No files match {args.pattern!r}{under}.", "no files match")
    out = Output(limits.max_bytes)
    shown = 0
    for rel in found[: limits.max_files]:
        if not out.add(rel):
            break
        shown += 1
    notes = []
    if shown < len(found):
        notes.append(
            f"… {len(found) - shown} more paths not shown (newest {shown} shown); "
            "narrow the pattern or path"
        )
    if cut:
        notes.append(
            f"… the listing was stopped at the time limit ({limits.time_s} s) before it "
            "covered the whole directory; more paths may match: narrow the path"
        )
    if not found:
        return ToolResult(True, out.text(*notes), "listing cut, nothing found yet")
    more = "+" if cut else ""
    noun = "file" if len(found) == 1 and not more else "files"
    summary = f"{len(found)}{more} {noun} match {args.pattern}"
    return ToolResult(True, out.text(*notes), summary)


GLOB = Tool(
    name="Glob",
    input=GlobInput,
    description=(
        "Fast file pattern matching over the read-only workspace, at any size of tree. "
        "Returns the paths (relative to the workspace root) of the files matching a glob "
        "such as **/*.py or src/**/*.{ts,tsx}, newest first (by modification time). Files "
        "ignored by .gitignore and secret-looking files are never listed. Use it to find "
        "files by name; use Grep to find files by content. A long list is cut and says how "
        "many more matched."
    ),
    run=run_glob,
    phrase="pattern",
)
