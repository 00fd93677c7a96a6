"""Grep and Glob on a generated tree of tens of thousands of files, against ripgrep run directly.

The tree has what real code has: nested ``.gitignore`` files, binaries among the sources, a
big text file, UTF-16 with a BOM, lines with control characters. It holds no secret-looking
file, so plain ``rg`` (hidden files searched, ``.gitignore`` honoured outside a git
repository) gives the answer the tools must give: the same files, the same counts.
"""

from __future__ import annotations

import random
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobs.tools import ToolLimits, Workspace
from jobs.tools.ripgrep import find_rg

pytestmark = pytest.mark.anyio

FILES = 24_000
WORDS = ("QuerySet", "HTTPConnection", "checkout", "render", "manager", "cursor")


def _build(root: Path) -> None:
    rng = random.Random(24)
    for d in range(120):
        (root / f"pkg{d:03}" / "sub").mkdir(parents=True)
    (root / ".gitignore").write_text("*.log\nbuild/\n")
    (root / "pkg007" / ".gitignore").write_text("generated_*\n!generated_keep.py\n")
    for n in range(FILES):
        d = n % 120
        where = root / f"pkg{d:03}" / ("sub" if n % 3 else "")
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 3)))
        suffix = (".py", ".txt", ".js", ".log", ".so")[n % 5]
        body = f"# file {n}\nline with {words}\n\fformfeed {words}\n"
        if suffix == ".so":
            (where / f"mod{n}.so").write_bytes(b"\x7fELF\x00\x00" + words.encode())
        else:
            (where / f"f{n}{suffix}").write_text(body)
    (root / "pkg007" / "generated_api.py").write_text("QuerySet ignored\n")
    (root / "pkg007" / "generated_keep.py").write_text("QuerySet kept\n")
    (root / "build").mkdir()
    (root / "build" / "out.py").write_text("QuerySet ignored\n")
    (root / "utf16.txt").write_bytes("QuerySet in UTF-16\n".encode("utf-16"))
    (root / "big.txt").write_text("filler line\n" * 400_000 + "QuerySet at the end\n")


@pytest.fixture(scope="session")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("large") / "tree"
    root.mkdir()
    _build(root)
    return root.resolve()


@pytest.fixture
def workspace(tree: Path) -> Iterator[Workspace]:
    with Workspace.open(tree, ToolLimits(time_s=60)) as ws:
        yield ws


def rg(tree: Path, *args: str) -> list[str]:
    """ripgrep's own answer, run directly on the tree."""
    done = subprocess.run(
        [find_rg(), "--no-config", "--hidden", "--no-require-git", *args],
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    return sorted(line.removeprefix("./") for line in done.stdout.splitlines())


@pytest.mark.parametrize("word", ["QuerySet", "HTTPConnection", "formfeed cursor"])
async def test_files_with_matches_are_ripgreps(tree: Path, workspace: Workspace, word: str) -> None:
    expected = rg(tree, "-l", word)
    assert len(expected) > 1000, "the word is spread over the tree"
    result = await workspace.run("Grep", {"pattern": word, "head_limit": 100})
    assert result.summary == f"{len(expected)} files match"
    lines = result.content.splitlines()
    assert lines[0] == f"Found {len(expected)} files"
    assert set(lines[1:101]) <= set(expected)
    assert lines[101:] == [
        f"… {len(expected) - 100} more files not shown (head_limit 100); narrow the search"
    ]


async def test_counts_and_matching_lines_are_ripgreps(tree: Path, workspace: Workspace) -> None:
    expected = rg(tree, "-c", "QuerySet")
    result = await workspace.run(
        "Grep", {"pattern": "QuerySet", "output_mode": "count", "head_limit": 100_000}
    )
    # The whole listing does not fit one result; its summary counts everything.
    total = sum(int(line.rsplit(":", 1)[1]) for line in expected)
    assert result.summary == f"{total} matches in {len(expected)} files"
    content = await workspace.run("Grep", {"pattern": "QuerySet", "output_mode": "content"})
    assert content.summary == f"{total} matches in {len(expected)} files"
    assert "utf16.txt:1" in expected, "ripgrep reads UTF-16 with a BOM, and so do the tools"
    assert "big.txt:1" in expected


async def test_ignored_binary_and_big_files(tree: Path, workspace: Workspace) -> None:
    result = await workspace.run(
        "Grep",
        {"pattern": "QuerySet (kept|ignored|at the end|in UTF-16)", "output_mode": "content"},
    )
    assert result.content.splitlines() == [
        "big.txt:400001:QuerySet at the end",
        "pkg007/generated_keep.py:1:QuerySet kept",
        "utf16.txt:1:QuerySet in UTF-16",
    ]


@pytest.mark.parametrize(
    ("pattern", "selects"),
    [
        ("**/*.py", r".*\.py"),
        ("pkg00[0-4]/sub/*.js", r"pkg00[0-4]/sub/[^/]*\.js"),
        ("**/*.so", r".*\.so"),
    ],
)
async def test_glob_is_ripgreps_file_list(
    tree: Path, workspace: Workspace, pattern: str, selects: str
) -> None:
    # Not `rg --files -g`: a --glob re-includes what a .gitignore hides, and the tool must not.
    expected = [path for path in rg(tree, "--files") if re.fullmatch(selects, path)]
    result = await workspace.run("Glob", {"pattern": pattern})
    assert result.summary == f"{len(expected)} files match {pattern}"
    shown = result.content.splitlines()[:200]
    assert set(shown) <= set(expected)


async def test_a_search_cut_by_the_time_limit_says_what_it_did(tree: Path) -> None:
    with Workspace.open(tree, ToolLimits(time_s=0.001)) as ws:
        result = await ws.run("Grep", {"pattern": "no such word anywhere"})
    assert result.ok
    assert result.content.splitlines() == [
        "No matches for 'no such word anywhere' in the part searched before the time limit.",
        "… the search was stopped at the time limit (0.001 s) before it covered every file; "
        "more may match: narrow path, glob or type",
    ]
