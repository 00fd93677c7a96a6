"""Grep: path:line:text, the glob filter, linear-time regexes, and every bound saying so."""

from __future__ import annotations

import os

import pytest

from jobs.tools import ToolLimits
from jobs.tools.base import Deadline
from jobs.tools.grep import run_grep
from jobs.tools.paths import Confinement
from jobs.tools.schemas import GrepInput
from tests.jobs.tools.conftest import Hostile, write

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("pattern", "line"),
    [
        ("(a+)+$", "a" * 100_000 + "b"),
        ("(x+x+)+y", "x" * 100_000),
        ("(.*a){30}x", "a" * 50_000 + "!"),
        ("^(([a-z])+.)+[A-Z]([a-z])+$", "a" * 100_000 + "!"),
    ],
)
async def test_a_catastrophic_regex_finishes_and_reports_no_match(
    hostile: Hostile, pattern: str, line: str
) -> None:
    # Each of these backtracks for ages in a backtracking engine (Python's re on the first
    # takes about 2**n steps); RE2 answers in linear time.
    write(hostile.root / "evil.txt", line + "\n")
    result = await hostile.make(ToolLimits(time_s=10)).run(
        "Grep", {"pattern": pattern, "path": "evil.txt"}
    )
    assert (result.ok, result.content, result.summary) == (
        True,
        f"No matches for {pattern!r}.",
        "no matches",
    )


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("(a", "pattern is not a valid RE2 regular expression: missing ): (a"),
        ("(a)\\1", "pattern is not a valid RE2 regular expression: invalid escape sequence: \\1"),
        ("(?=a)", "pattern is not a valid RE2 regular expression: invalid perl operator: (?="),
        (
            "a{1001}",
            "pattern is not a valid RE2 regular expression: invalid repetition size: {1001}",
        ),
    ],
)
async def test_an_invalid_or_unsupported_regex_is_refused(
    hostile: Hostile, pattern: str, reason: str
) -> None:
    result = await hostile.make().run("Grep", {"pattern": pattern})
    assert (result.ok, result.summary) == (False, reason)


async def test_a_regex_too_big_to_compile_is_refused(hostile: Hostile) -> None:
    result = await hostile.make().run("Grep", {"pattern": "((a{1000}){1000}){1000}"})
    assert result.ok is False
    assert result.summary.startswith("pattern is not a valid RE2 regular expression: ")


async def test_the_glob_filter_matches_names_at_any_depth_or_paths(hostile: Hostile) -> None:
    ws = hostile.make()
    by_name = await ws.run("Grep", {"pattern": "checkout", "glob": "*.ts"})
    assert by_name.files_read == ("src/app.ts", "src/cart.ts")
    by_path = await ws.run("Grep", {"pattern": "checkout", "glob": "src/*.{ts,md}"})
    assert by_path.files_read == ("src/app.ts", "src/cart.ts")
    under = await ws.run("Grep", {"pattern": "checkout", "path": "src", "glob": "app.*"})
    assert under.content == "src/app.ts:1:export const checkout = () => 'pay';"


async def test_matches_over_the_limit_are_counted_and_said(hostile: Hostile) -> None:
    write(hostile.root / "many.txt", "".join(f"hit {n}\n" for n in range(1, 541)))
    ws = hostile.make(ToolLimits(max_matches=200))
    result = await ws.run("Grep", {"pattern": "^hit", "path": "many.txt"})
    lines = result.content.splitlines()
    assert lines[:2] == ["many.txt:1:hit 1", "many.txt:2:hit 2"]
    assert lines[199] == "many.txt:200:hit 200"
    assert lines[200:] == [
        "… 340 more matches not shown (limit 200 lines); narrow the pattern, path or glob"
    ]
    assert result.summary == "540 matches in 1 file"


async def test_the_byte_bound_cuts_matches_too(hostile: Hostile) -> None:
    write(hostile.root / "many.txt", "".join(f"hit {n:04}\n" for n in range(1, 101)))
    ws = hostile.make(ToolLimits(max_bytes=200))
    result = await ws.run("Grep", {"pattern": "hit", "path": "many.txt"})
    lines = result.content.splitlines()
    assert lines[:-1] == [f"many.txt:{n}:hit {n:04}" for n in range(1, 10)]
    assert lines[-1] == "… 91 more matches not shown (200 bytes); narrow the pattern, path or glob"


async def test_a_long_line_is_shown_around_its_match(hostile: Hostile) -> None:
    write(hostile.root / "bundle.js", "a" * 5000 + "NEEDLE" + "b" * 5000 + "\n")
    ws = hostile.make(ToolLimits(max_line_chars=100))
    result = await ws.run("Grep", {"pattern": "NEEDLE", "path": "bundle.js"})
    assert result.content == (
        "bundle.js:1:…(4975 characters) "
        + "a" * 25
        + "NEEDLE"
        + "b" * 69
        + " …(4931 more characters)"
    )


async def test_binary_and_large_files_are_reported(hostile: Hostile) -> None:
    write(hostile.root / "blob.bin", b"checkout\x00\x01\x02")
    path = write(hostile.root / "big.txt", "checkout at the start\n")
    os.truncate(path, 2 * 1024**3)  # sparse: 2 GB of zeros after the first line
    ws = hostile.make(ToolLimits(max_file_bytes=4096))
    result = await ws.run("Grep", {"pattern": "checkout", "glob": "*.{bin,txt}"})
    assert result.content.splitlines() == [
        "No matches for 'checkout'.",
        "… 2 binary files not searched",
    ]
    write(hostile.root / "big.txt", "checkout at the start\n" + "filler\n" * 1000)
    result = await ws.run("Grep", {"pattern": "checkout", "glob": "*.txt"})
    assert result.content.splitlines() == [
        "big.txt:1:checkout at the start",
        "… 1 file searched only in the first 4096 bytes",
    ]


async def test_unicode_and_undecodable_bytes(hostile: Hostile) -> None:
    write(hostile.root / "i18n.txt", "Kasse: Bezahlen ✓\n".encode() + b"raw \xff checkout\n")
    ws = hostile.make()
    result = await ws.run("Grep", {"pattern": "(?i)kasse|✓|checkout", "path": "i18n.txt"})
    assert result.content.splitlines() == [
        "i18n.txt:1:Kasse: Bezahlen ✓",
        "i18n.txt:2:raw \ufffd checkout",
    ]


async def test_a_match_never_spans_lines(hostile: Hostile) -> None:
    write(hostile.root / "two.txt", "alpha\nbeta\n")
    result = await hostile.make().run("Grep", {"pattern": "alpha\\s+beta", "path": "two.txt"})
    assert result.content == "No matches for 'alpha\\\\s+beta'."


async def test_the_time_limit_cuts_the_search_and_says_so(hostile: Hostile) -> None:
    result = await hostile.make(ToolLimits(time_s=0)).run("Grep", {"pattern": "checkout"})
    assert result.ok
    assert result.content.splitlines() == [
        "No matches for 'checkout'.",
        "… the search was cut: the time limit was reached; more lines may match",
    ]
    assert result.summary == "no matches (search cut)"


async def test_the_scan_bound_cuts_the_search_and_says_so(hostile: Hostile) -> None:
    ws = hostile.make(ToolLimits(max_scan_bytes=1))
    result = await ws.run("Grep", {"pattern": "checkout", "glob": "*.ts"})
    assert result.content.splitlines() == [
        "src/app.ts:1:export const checkout = () => 'pay';",
        "… the search was cut: 1 bytes were searched; more lines may match",
    ]
    assert result.summary == "1+ matches in 1 file"


class _PassesOnSecondLook(Deadline):
    def __init__(self) -> None:
        super().__init__(60)
        self.looks = 0

    def passed(self) -> bool:
        self.looks += 1
        return self.looks > 1


def test_the_time_limit_also_cuts_inside_one_file(hostile: Hostile) -> None:
    write(hostile.root / "many.txt", "hit\n" * 200_000)
    confinement = Confinement(hostile.root, ())
    args = GrepInput(pattern="hit", path="many.txt")
    result = run_grep(confinement, ToolLimits(), args, _PassesOnSecondLook())
    assert result.summary == "1024+ matches in 1 file"
    assert result.content.splitlines()[-1] == (
        "… the search was cut: the time limit was reached; more lines may match"
    )
