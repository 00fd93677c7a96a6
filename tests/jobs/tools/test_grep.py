"""Grep: Claude Code's contract on ripgrep, linear-time regexes, and every bound saying so."""

from __future__ import annotations

import os

import pytest

from jobs.tools import ToolLimits
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
    # takes about 2**n steps); ripgrep's regex engine answers in linear time.
    write(hostile.root / "evil.txt", line + "\n")
    result = await hostile.make(ToolLimits(time_s=10)).run(
        "Grep", {"pattern": pattern, "path": "evil.txt", "output_mode": "content"}
    )
    assert (result.ok, result.content, result.summary) == (
        True,
        f"No matches for {pattern!r}.",
        "no matches",
    )


@pytest.mark.parametrize(
    ("pattern", "detail"),
    [
        ("(a", "unclosed group"),
        ("(a)\\1", "backreferences are not supported"),
        ("(?=a)", "look-around, including look-ahead and look-behind, is not supported"),
    ],
)
async def test_an_invalid_or_unsupported_regex_is_refused(
    hostile: Hostile, pattern: str, detail: str
) -> None:
    result = await hostile.make().run("Grep", {"pattern": pattern})
    assert result.ok is False
    assert result.summary.startswith("pattern is not a valid regular expression: regex parse")
    assert result.summary.endswith(detail)


async def test_a_regex_too_big_to_compile_is_refused(hostile: Hostile) -> None:
    result = await hostile.make().run("Grep", {"pattern": "((a{1000}){1000}){1000}"})
    assert result.ok is False
    assert result.summary.startswith("pattern is not a valid regular expression: ")


async def test_the_glob_and_type_filters(hostile: Hostile) -> None:
    ws = hostile.make()
    content = {"output_mode": "content"}
    by_name = await ws.run("Grep", {"pattern": "checkout", "glob": "*.ts"} | content)
    assert by_name.files_read == ("src/app.ts", "src/cart.ts")
    by_type = await ws.run("Grep", {"pattern": "checkout", "type": "ts"} | content)
    assert by_type.files_read == ("src/app.ts", "src/cart.ts")
    under = await ws.run("Grep", {"pattern": "checkout", "path": "src", "glob": "app.*"} | content)
    assert under.content == "src/app.ts:1:export const checkout = () => 'pay';"
    unknown = await ws.run("Grep", {"pattern": "x", "type": "nosuch"})
    assert (unknown.ok, unknown.summary) == (False, "unrecognized file type: nosuch")


async def test_a_glob_cannot_re_include_ignored_or_secret_files(hostile: Hostile) -> None:
    ws = hostile.make()
    for glob in ("*.log", "build/**", ".env*", "*"):
        result = await ws.run("Grep", {"pattern": ".", "glob": glob, "output_mode": "content"})
        assert "IGNORED" not in result.content
        assert "SECRET" not in result.content
        assert "debug.log" not in result.content


async def test_output_modes(hostile: Hostile) -> None:
    ws = hostile.make()
    files = await ws.run("Grep", {"pattern": "checkout", "path": "src"})
    assert sorted(files.content.splitlines()) == ["Found 2 files", "src/app.ts", "src/cart.ts"]
    assert (files.summary, files.files_read) == ("2 files match", ())
    count = await ws.run("Grep", {"pattern": "checkout", "path": "src", "output_mode": "count"})
    assert count.content.splitlines() == ["src/app.ts:1", "src/cart.ts:2"]
    assert count.summary == "3 matches in 2 files"
    insensitive = await ws.run(
        "Grep", {"pattern": "CHECKOUT", "-i": True, "path": "src/app.ts", "output_mode": "content"}
    )
    assert insensitive.content == "src/app.ts:1:export const checkout = () => 'pay';"
    plain = await ws.run("Grep", {"pattern": "cart then", "-n": False, "output_mode": "content"})
    assert plain.content == "src/cart.ts:// cart then checkout"


async def test_files_are_listed_newest_first(hostile: Hostile) -> None:
    for n, name in enumerate(["old.md", "new.md", "mid.md"]):
        os.utime(write(hostile.root / "docs" / name, "needle\n"), (n, [1, 3, 2][n] * 1000))
    result = await hostile.make().run("Grep", {"pattern": "needle"})
    assert result.content.splitlines() == [
        "Found 3 files",
        "docs/new.md",
        "docs/mid.md",
        "docs/old.md",
    ]


async def test_context_lines_and_groups(hostile: Hostile) -> None:
    write(hostile.root / "ctx.txt", "".join(f"line {n}\n" for n in range(1, 21)))
    ws = hostile.make()
    result = await ws.run(
        "Grep", {"pattern": "line (3|15)$", "path": "ctx.txt", "output_mode": "content", "-C": 1}
    )
    assert result.content.splitlines() == [
        "ctx.txt-2-line 2",
        "ctx.txt:3:line 3",
        "ctx.txt-4-line 4",
        "--",
        "ctx.txt-14-line 14",
        "ctx.txt:15:line 15",
        "ctx.txt-16-line 16",
    ]
    after = await ws.run(
        "Grep", {"pattern": "line 3$", "path": "ctx.txt", "output_mode": "content", "-A": 2}
    )
    assert after.content.splitlines() == [
        "ctx.txt:3:line 3",
        "ctx.txt-4-line 4",
        "ctx.txt-5-line 5",
    ]


async def test_multiline(hostile: Hostile) -> None:
    write(hostile.root / "two.txt", "alpha\nbeta\n")
    ws = hostile.make()
    args = {"pattern": "alpha.beta", "path": "two.txt", "output_mode": "content"}
    single = await ws.run("Grep", args)
    assert single.content == "No matches for 'alpha.beta'."
    multi = await ws.run("Grep", args | {"multiline": True})
    assert multi.content.splitlines() == ["two.txt:1:alpha", "two.txt:2:beta"]


async def test_head_limit_cuts_what_is_shown_and_counts_the_rest(hostile: Hostile) -> None:
    write(hostile.root / "many.txt", "".join(f"hit {n}\n" for n in range(1, 541)))
    ws = hostile.make(ToolLimits(max_matches=200))
    args = {"pattern": "^hit", "path": "many.txt", "output_mode": "content"}
    result = await ws.run("Grep", args)
    lines = result.content.splitlines()
    assert lines[:2] == ["many.txt:1:hit 1", "many.txt:2:hit 2"]
    assert lines[199] == "many.txt:200:hit 200"
    assert lines[200:] == [
        "… 340 more matching lines not shown (head_limit 200); narrow the search"
    ]
    assert result.summary == "540 matches in 1 file"
    few = await ws.run("Grep", args | {"head_limit": 3})
    assert few.content.splitlines()[3:] == [
        "… 537 more matching lines not shown (head_limit 3); narrow the search"
    ]


async def test_the_byte_bound_cuts_matches_too(hostile: Hostile) -> None:
    write(hostile.root / "many.txt", "".join(f"hit {n:04}\n" for n in range(1, 101)))
    ws = hostile.make(ToolLimits(max_bytes=200))
    args = {"pattern": "hit", "path": "many.txt", "output_mode": "content"}
    lines = (await ws.run("Grep", args)).content.splitlines()
    assert lines[:-1] == [f"many.txt:{n}:hit {n:04}" for n in range(1, 10)]
    assert lines[-1] == "… 91 more matching lines not shown (the size limit); narrow the search"


async def test_a_long_line_is_cut_and_says_so(hostile: Hostile) -> None:
    write(hostile.root / "bundle.js", "NEEDLE" + "b" * 5000 + "\n")
    ws = hostile.make(ToolLimits(max_line_chars=100))
    args = {"pattern": "NEEDLE", "path": "bundle.js", "output_mode": "content"}
    result = await ws.run("Grep", args)
    assert result.content.startswith("bundle.js:1:NEEDLE" + "b" * 94)
    assert "omitted" in result.content
    assert len(result.content) < 200


async def test_a_huge_line_past_one_megabyte_is_searched_whole(hostile: Hostile) -> None:
    # 1,000,002 bytes on one line: the match at its end is found, and one at the start
    # of a second line is on line 2.
    write(hostile.root / "huge.txt", "x" * 1_000_000 + "END\nEND second\n")
    args = {"pattern": "END", "path": "huge.txt", "output_mode": "count"}
    assert (await hostile.make().run("Grep", args)).content == "huge.txt:2"
    nope = {"pattern": "^xEND", "path": "huge.txt", "output_mode": "count"}
    assert (await hostile.make().run("Grep", nope)).content == "No matches for '^xEND'."


async def test_binary_files_are_skipped_and_a_big_file_is_searched_to_its_end(
    hostile: Hostile,
) -> None:
    write(hostile.root / "blob.bin", b"checkout\x00\x01\x02")
    filler = b"filler\n" * 300_000
    write(hostile.root / "big.txt", b"checkout at the start\n" + filler + b"checkout at the end\n")
    result = await hostile.make().run(
        "Grep", {"pattern": "checkout", "glob": "*.{bin,txt}", "output_mode": "content"}
    )
    assert result.content.splitlines() == [
        "big.txt:1:checkout at the start",
        "big.txt:300002:checkout at the end",
    ]


async def test_utf16_with_a_bom_is_text(hostile: Hostile) -> None:
    write(hostile.root / "u16.txt", "first\nKasse checkout\n".encode("utf-16"))
    result = await hostile.make().run(
        "Grep", {"pattern": "Kasse", "path": "u16.txt", "output_mode": "content"}
    )
    assert result.content == "u16.txt:2:Kasse checkout"


async def test_unicode_and_undecodable_bytes(hostile: Hostile) -> None:
    write(hostile.root / "i18n.txt", "Kasse: Bezahlen ✓\n".encode() + b"raw \xff checkout\n")
    ws = hostile.make()
    result = await ws.run(
        "Grep", {"pattern": "(?i)kasse|✓|checkout", "path": "i18n.txt", "output_mode": "content"}
    )
    assert result.content.splitlines() == [
        "i18n.txt:1:Kasse: Bezahlen ✓",
        "i18n.txt:2:raw \ufffd checkout",
    ]


async def test_a_search_stopped_at_the_time_limit_never_says_no_matches(
    hostile: Hostile,
) -> None:
    result = await hostile.make(ToolLimits(time_s=0)).run("Grep", {"pattern": "checkout"})
    assert result.ok
    assert result.content.splitlines() == [
        "No matches for 'checkout' in the part searched before the time limit.",
        "… the search was stopped at the time limit (0 s) before it covered every file; "
        "more may match: narrow path, glob or type",
    ]
    assert result.summary == "search cut, nothing found yet"
