"""Glob: shell-like patterns anchored at the search directory, bounded, sorted."""

from __future__ import annotations

import os

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
    assert sorted(result.content.splitlines()) == expected
    noun = "file" if len(expected) == 1 else "files"
    assert result.summary == f"{len(expected)} {noun} match {pattern}"


async def test_no_match_says_so(hostile: Hostile) -> None:
    result = await hostile.make().run("Glob", {"pattern": "**/*.rb", "path": "src"})
    assert (result.ok, result.content, result.summary) == (
        True,
        "No files match '**/*.rb' under src.",
        "no files match",
    )


async def test_a_file_is_not_a_directory(hostile: Hostile) -> None:
    result = await hostile.make().run("Glob", {"pattern": "*", "path": "README.md"})
    assert result.content == "Error: path 'README.md' is a file; Glob needs a directory"


async def test_newest_first_and_a_long_list_is_cut_and_says_so(hostile: Hostile) -> None:
    for n in range(300):
        path = write(hostile.root / f"gen/d{n % 7}/f{n:03}.ts", "")
        os.utime(path, (1_000_000 + n, 1_000_000 + n))
    ws = hostile.make(ToolLimits(max_files=50))
    result = await ws.run("Glob", {"pattern": "**/*.ts", "path": "gen"})
    lines = result.content.splitlines()
    newest = [f"gen/d{n % 7}/f{n:03}.ts" for n in range(299, 249, -1)]
    assert lines[:50] == newest
    assert lines[50:] == [
        "… 250 more paths not shown (newest 50 shown); narrow the pattern or path"
    ]
    assert result.summary == "300 files match **/*.ts"


@pytest.mark.parametrize("prefix", ["./", "{root}/"])
async def test_a_dot_slash_or_absolute_pattern_inside_the_workspace(
    hostile: Hostile, prefix: str
) -> None:
    pattern = prefix.format(root=hostile.root) + "src/**/*.ts"
    result = await hostile.make().run("Glob", {"pattern": pattern})
    assert sorted(result.content.splitlines()) == ["src/app.ts", "src/cart.ts"]


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
    assert sorted(result.content.splitlines()) == ["docs/keep-me.log", "keep.log"]
