"""What a workspace tool call costs, and whether it gives ripgrep's answer.

``python -m bench.tools [--calls 300]``: the median cost of a few calls on the shipped sample
tree, each through ``Workspace.run`` (input validation, the hop to ripgrep or the thread pool
and back), after a warm-up of 20 calls.

``python -m bench.tools --tree PATH [--repeat 3] [--time-s 30]``: whole-tree calls on a real
tree, each timed through ``Workspace.run`` and against ``rg`` run directly on the same tree
(hidden files searched, ``.gitignore`` honoured, as the tools do), with whether the two gave
the same answer (the same number of files, of matching lines, of listed paths). Medians of
``--repeat`` runs. The tools also hide secret-looking and multiply linked files; the last
column says how many of ripgrep's files those rules removed when the answers differ.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jobs.tools import ToolLimits, Workspace
from jobs.tools.ripgrep import find_rg

CALLS: list[tuple[str, dict[str, object]]] = [
    ("Glob", {"pattern": "**/*.tsx"}),
    ("Grep", {"pattern": "(?i)checkout", "glob": "*.{ts,tsx}"}),
    ("Grep", {"pattern": "(a+)+$"}),
    ("Read", {"path": "src/pages/checkout.tsx"}),
    ("Read", {"path": "../../etc/passwd"}),
]


async def measure(calls: int) -> None:
    with Workspace.open(None) as ws:
        for name, tool_input in CALLS:
            for _ in range(20):
                await ws.run(name, tool_input)
            samples = []
            for _ in range(calls):
                started = time.perf_counter()
                await ws.run(name, tool_input)
                samples.append((time.perf_counter() - started) * 1e6)
            median = statistics.median(samples)
            p90 = statistics.quantiles(samples, n=10)[-1]
            print(f"{name:5} {tool_input!s:55} median {median:6.0f} µs  p90 {p90:6.0f} µs")


# The tool's summary starts with the number compared with ripgrep's.
_SUMMARY = re.compile(r"^(\d+)")

# (tool, input, rg arguments, which of rg's lines count). Not `rg --files -g '*.py'` for Glob:
# a --glob re-includes what a .gitignore hides, which the tools never do.
TREE_CALLS: list[tuple[str, dict[str, Any], list[str], str]] = [
    ("Grep", {"pattern": "QuerySet"}, ["-l", "QuerySet"], ""),
    ("Grep", {"pattern": "QuerySet", "output_mode": "content"}, ["-n", "QuerySet"], ""),
    ("Grep", {"pattern": "HTTPConnection"}, ["-l", "HTTPConnection"], ""),
    ("Grep", {"pattern": r"def \w+\(self", "output_mode": "count"}, ["-c", r"def \w+\(self"], ""),
    ("Grep", {"pattern": "import", "type": "py"}, ["-l", "-t", "py", "import"], ""),
    ("Glob", {"pattern": "**/*.py"}, ["--files"], r".*\.py"),
    ("Glob", {"pattern": "**/*"}, ["--files"], ""),
]


def _rg(tree: Path, args: list[str]) -> tuple[float, list[str]]:
    argv = [find_rg(), "--no-config", "--hidden", "--no-require-git", *args]
    started = time.perf_counter()
    # argv is rg and this table's own arguments, no outside input.
    done = subprocess.run(argv, cwd=tree, capture_output=True, text=True, check=False)  # noqa: S603
    return time.perf_counter() - started, done.stdout.splitlines()


def _count(args: list[str], lines: list[str]) -> int:
    if "-c" in args:
        return sum(int(line.rsplit(":", 1)[1]) for line in lines)
    return len(lines)


async def compare(tree: Path, repeat: int, time_s: float) -> None:
    limits = ToolLimits(time_s=time_s)
    rows = []
    with Workspace.open(tree, limits) as ws:
        for name, tool_input, rg_args, selects in TREE_CALLS:
            ours: list[float] = []
            theirs: list[float] = []
            summary = ""
            lines: list[str] = []
            for _ in range(repeat):
                started = time.perf_counter()
                result = await ws.run(name, tool_input)
                ours.append(time.perf_counter() - started)
                summary = result.summary
                elapsed, lines = _rg(tree, rg_args)
                theirs.append(elapsed)
                if selects:
                    lines = [line for line in lines if re.fullmatch(selects, line)]
            match = _SUMMARY.match(summary)
            got = int(match.group(1)) if match else -1
            expected = _count(rg_args, lines)
            same = "same" if got == expected else f"differs: {got} vs rg {expected}"
            call = f"{name} {tool_input}"
            rows.append((call, statistics.median(ours), statistics.median(theirs), same, summary))
    print(f"tree: {tree}")
    print("| call | ours (s) | rg (s) | same answer | our summary |")
    print("|---|---|---|---|---|")
    for call, ours_s, rg_s, same, summary in rows:
        print(f"| `{call}` | {ours_s:.2f} | {rg_s:.2f} | {same} | {summary} |")


def main(argv: list[str] | None = None, run: Callable[..., Any] = asyncio.run) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--tree", type=Path, help="compare with rg on this directory")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--time-s", type=float, default=30.0)
    args = parser.parse_args(argv)
    if args.tree is not None:
        run(compare(args.tree.resolve(), args.repeat, args.time_s))
    else:
        run(measure(args.calls))


if __name__ == "__main__":
    main()
