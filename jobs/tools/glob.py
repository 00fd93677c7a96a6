"""The ``Glob`` tool: workspace paths matching a glob pattern (wcmatch, globstar and braces)."""

from __future__ import annotations

from wcmatch import glob as wcglob

from jobs.tools.base import Deadline, Output, ToolLimits, ToolResult
from jobs.tools.paths import Confinement, Refused, check_text
from jobs.tools.schemas import GlobInput
from jobs.tools.walk import Walk

# * and ? stay in one directory, ** spans them, {a,b} alternates, dotfiles are matched
# (secret ones are hidden by the walk). wcmatch bounds brace expansion (1000 patterns).
GLOB_FLAGS = wcglob.GLOBSTAR | wcglob.BRACE | wcglob.DOTGLOB


def compile_glob(pattern: str, what: str, flags: int = GLOB_FLAGS) -> wcglob.WcMatcher[str]:
    """The matcher of a model-supplied pattern, or :class:`Refused`."""
    check_text(pattern, what)
    if pattern.startswith("/") or ".." in pattern.split("/"):
        raise Refused(f"{what} must stay inside the workspace (no leading / and no ..)")
    try:
        return wcglob.compile(pattern, flags=flags)
    except Exception as exc:  # wcmatch raises ValueError or its own limit exception
        raise Refused(f"{what} {pattern!r} is not a valid glob: {exc}") from exc


def run_glob(
    confinement: Confinement, limits: ToolLimits, args: GlobInput, deadline: Deadline
) -> ToolResult:
    start = confinement.resolve(args.path)
    if not start.is_dir:
        raise Refused(f"path {args.path!r} is a file; Glob needs a directory")
    matcher = compile_glob(args.pattern, "pattern")
    walk = Walk(confinement, start, limits.max_entries, deadline)
    prefix = start.rel + "/" if start.rel else ""
    found = sorted(rel for rel in walk.files() if matcher.match(rel[len(prefix) :]))
    out = Output(limits.max_bytes)
    shown = 0
    for rel in found[: limits.max_files]:
        if not out.add(rel):
            break
        shown += 1
    notes = []
    if shown < len(found):
        notes.append(f"… {len(found) - shown} more paths not shown; narrow the pattern or path")
    if walk.cut:
        notes.append(f"… the search was cut: {walk.cut}; more paths may match")
    if not found:
        where = f" under {start.rel}" if start.rel else ""
        text = f"No files match {args.pattern!r}{where}."
        return ToolResult(True, "\n".join([text, *notes]), "no files match")
    more = "+" if walk.cut else ""
    noun = "file" if len(found) == 1 and not more else "files"
    summary = f"{len(found)}{more} {noun} match {args.pattern}"
    return ToolResult(True, out.text(*notes), summary)
