"""Glob: shell-like patterns anchored at the search directory, bounded, sorted."""

from __future__ import annotations

import pytest

from jobs.tools import ToolLimits
from tests.jobs.tools.conftest import Hostile, write

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("*.md", "", ["README.md"]),
        ("**/*.ts", "", ["src/app.ts", "src/cart.ts"]),
        ("src/*.{ts,md}", "", ["src/app.ts", "src/cart.ts"]),
        ("*.ts", "src", ["src/app.ts", "src/cart.ts"]),
        ("c?rt.ts", "src", ["src/cart.ts"]),
        ("**/.gitignore", "", [".gitignore", "src/.gitignore"]),
    ],
)
async def test_patterns(hostile: Hostile, pattern: str, path: str, expected: list[str]) -> None:
    result = await hostile.make().run("Glob", {"pattern": pattern, "path": path})
    assert result.ok
    assert result.content.splitlines() == expected
    noun = "file" if len(expected) == 1 else "files"
    assert result.summary == f"{len(expected)} {noun} match {pattern}"


async def test_no_match_says_so(hostile: Hostile) -> None:
    result = await hostile.make().run("Glob", {"pattern": "**/*.py", "path": "src"})
    assert (result.ok, result.content, result.summary) == (
        True,
        "No files match '**/*.py' under src.",
        "no files match",
    )


async def test_a_file_is_not_a_directory(hostile: Hostile) -> None:
    result = await hostile.make().run("Glob", {"pattern": "*", "path": "README.md"})
    assert result.content == "Error: path 'README.md' is a file; Glob needs a directory"


async def test_a_huge_tree_is_cut_and_says_so(hostile: Hostile) -> None:
    for d in range(30):
        for f in range(100):
            write(hostile.root / f"gen/d{d:02}/f{f:03}.ts", "")
    ws = hostile.make(ToolLimits(max_entries=1000, max_files=50))
    result = await ws.run("Glob", {"pattern": "**/*", "path": "gen"})
    lines = result.content.splitlines()
    # Breadth first: the 30 directories, then 970 of the 3000 files.
    assert lines[:50] == [f"gen/d{n // 100:02}/f{n % 100:03}.ts" for n in range(50)]
    assert lines[50:] == [
        "… 920 more paths not shown; narrow the pattern or path",
        "… the search was cut: the walk stopped after 1000 entries; more paths may match",
    ]
    assert result.summary == "970+ files match **/*"


async def test_a_brace_bomb_is_refused(hostile: Hostile) -> None:
    bomb = "".join("{a,b}" for _ in range(12))
    result = await hostile.make().run("Glob", {"pattern": bomb})
    assert result.ok is False
    assert result.summary.startswith(f"pattern {bomb!r} is not a valid glob: ")


async def test_nested_gitignore_can_re_include(hostile: Hostile) -> None:
    write(hostile.root / "src/generated/.gitignore", "")
    write(hostile.root / "docs/.gitignore", "!keep-me.log\n")
    write(hostile.root / "docs/keep-me.log", "x\n")
    write(hostile.root / "docs/drop.log", "x\n")
    result = await hostile.make().run("Glob", {"pattern": "**/*.log"})
    assert result.content.splitlines() == ["docs/keep-me.log", "keep.log"]
