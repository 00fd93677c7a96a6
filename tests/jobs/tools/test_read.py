"""Read: numbered lines, offset and limit, cuts that say so, huge, binary and odd files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from jobs.tools import ToolLimits
from jobs.tools.paths import Confinement, Refused, Target, open_regular
from tests.jobs.tools.conftest import OUTSIDE_TEXT, Hostile, write

pytestmark = pytest.mark.anyio


def numbered(lines: list[str], first: int = 1) -> list[str]:
    return [f"{n:6}\t{text}" for n, text in enumerate(lines, start=first)]


async def test_read_numbers_lines_like_cat_n(hostile: Hostile) -> None:
    result = await hostile.make().run("Read", {"path": "src/cart.ts"})
    assert result.ok
    assert (
        result.content == "     1\timport { checkout } from './app';\n     2\t// cart then checkout"
    )
    assert result.summary == "read 2 lines of src/cart.ts"
    assert result.files_read == ("src/cart.ts",)


async def test_offset_and_limit_pick_lines_and_say_what_is_left(hostile: Hostile) -> None:
    write(hostile.root / "long.txt", "".join(f"line {n}\n" for n in range(1, 101)))
    result = await hostile.make().run("Read", {"path": "long.txt", "offset": 10, "limit": 3})
    assert result.content.splitlines() == [
        *numbered(["line 10", "line 11", "line 12"], first=10),
        "… 88 more lines not shown; pass offset=13 to read on",
    ]
    assert result.summary == "read 3 lines of long.txt"


async def test_the_line_limit_caps_the_requested_limit(hostile: Hostile) -> None:
    write(hostile.root / "long.txt", "".join(f"line {n}\n" for n in range(1, 101)))
    ws = hostile.make(ToolLimits(max_lines=5))
    result = await ws.run("Read", {"path": "long.txt", "limit": 50})
    assert result.content.splitlines()[-1] == "… 95 more lines not shown; pass offset=6 to read on"
    assert len(result.content.splitlines()) == 6


async def test_an_offset_past_the_end_is_refused(hostile: Hostile) -> None:
    result = await hostile.make().run("Read", {"path": "src/cart.ts", "offset": 3})
    assert not result.ok
    assert result.summary == "offset 3 is past the end of src/cart.ts (2 lines)"


async def test_long_lines_are_cut_and_say_so(hostile: Hostile) -> None:
    write(hostile.root / "min.js", "x" * 1000 + "\n")
    result = await hostile.make(ToolLimits(max_line_chars=100)).run("Read", {"path": "min.js"})
    assert result.content == "     1\t" + "x" * 100 + " …(900 more characters)"


async def test_the_byte_bound_cuts_the_output_and_says_where_to_go_on(hostile: Hostile) -> None:
    write(hostile.root / "long.txt", "".join(f"{'y' * 90}\n" for _ in range(100)))
    result = await hostile.make(ToolLimits(max_bytes=1000)).run("Read", {"path": "long.txt"})
    lines = result.content.splitlines()
    assert lines[:-1] == numbered(["y" * 90] * 10)
    assert lines[-1] == "… 90 more lines not shown; pass offset=11 to read on"


async def test_undecodable_bytes_and_unicode(hostile: Hostile) -> None:
    write(hostile.root / "mixed.txt", "café ✓\n".encode() + b"bad \xff\xfe byte\n")
    result = await hostile.make().run("Read", {"path": "mixed.txt"})
    assert result.content == "     1\tcafé ✓\n     2\tbad \ufffd\ufffd byte"


async def test_a_binary_file_is_refused(hostile: Hostile) -> None:
    write(hostile.root / "logo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR BINARY-TEXT")
    result = await hostile.make().run("Read", {"path": "logo.png"})
    assert (result.ok, result.content) == (False, "Error: logo.png is a binary file")


async def test_an_empty_file(hostile: Hostile) -> None:
    write(hostile.root / "empty.ts", "")
    result = await hostile.make().run("Read", {"path": "empty.ts"})
    assert (result.ok, result.content, result.summary) == (
        True,
        "(empty.ts is empty)",
        "read empty.ts (empty)",
    )


async def test_a_directory_is_refused(hostile: Hostile) -> None:
    result = await hostile.make().run("Read", {"path": "src"})
    assert result.content == "Error: src is a directory; use Glob to list it"


async def test_a_file_past_any_wall_is_paged_by_line(hostile: Hostile) -> None:
    # 48 MB of numbered rows: line 4,000,000 is read, and the page says where to go on.
    rows = 3_000_000
    write(hostile.root / "huge.txt", "".join(f"row {n:07}\n" for n in range(1, rows + 1)))
    ws = hostile.make(ToolLimits(time_s=30))
    result = await ws.run("Read", {"file_path": "huge.txt", "offset": 2_900_000, "limit": 2})
    assert result.content.splitlines() == [
        *numbered(["row 2900000", "row 2900001"], first=2_900_000),
        "… more lines follow (huge.txt is 36.0 MB); pass offset=2900002 to read on",
    ]
    past = await ws.run("Read", {"file_path": "huge.txt", "offset": rows + 1})
    assert past.content == f"Error: offset {rows + 1} is past the end of huge.txt ({rows} lines)"


async def test_utf16_with_a_bom_is_text_and_lines_end_at_newline_only(hostile: Hostile) -> None:
    write(hostile.root / "u16.txt", "one\ntwo\n".encode("utf-16"))
    result = await hostile.make().run("Read", {"path": "u16.txt"})
    assert result.content == "\n".join(numbered(["one", "two"]))
    # \f, \v and U+2028 do not end a line, for Read as for Grep (ripgrep).
    write(hostile.root / "ctl.txt", "a\fb\vc\u2028d\nNEEDLE\r\n")
    read = await hostile.make().run("Read", {"path": "ctl.txt"})
    assert read.content.splitlines()[-1] == "     2\tNEEDLE"
    grep = await hostile.make().run(
        "Grep", {"pattern": "NEEDLE", "path": "ctl.txt", "output_mode": "content"}
    )
    assert grep.content.startswith("ctl.txt:2:NEEDLE")


async def test_a_sparse_2gb_file_of_zeros_is_binary(hostile: Hostile) -> None:
    path = hostile.root / "disk.img"
    path.touch()
    os.truncate(path, 2 * 1024**3)
    result = await hostile.make().run("Read", {"path": "disk.img"})
    assert result.content == "Error: disk.img is a binary file"


def test_open_refuses_a_symlink_swapped_in_after_the_check(hostile: Hostile) -> None:
    # The check resolved a regular file; by the time of the open, the name is a link out.
    with pytest.raises(Refused, match=r"^link_file cannot be opened$"):
        open_regular(Target(hostile.root / "link_file", "link_file", False))


def test_open_refuses_a_directory_swapped_for_a_link_after_the_check(hostile: Hostile) -> None:
    target = Target(hostile.root / "link_dir" / "secret.txt", "link_dir/secret.txt", False)
    with pytest.raises(Refused, match=r"^link_dir/secret\.txt changed while it was opened$"):
        open_regular(target)


def test_open_never_blocks_on_a_fifo(hostile: Hostile) -> None:
    with pytest.raises(Refused, match=r"^pipe is not a regular file$"):
        open_regular(Target(hostile.root / "pipe", "pipe", False))


def test_resolve_never_says_whether_an_outside_path_exists(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "a").symlink_to(tmp_path / "exists")
    (root / "b").symlink_to(tmp_path / "missing")
    write(tmp_path / "exists", OUTSIDE_TEXT)
    confinement = Confinement(root.resolve(), ())
    messages = []
    for name in ("a", "b"):
        with pytest.raises(Refused) as caught:
            confinement.resolve(name)
        messages.append(str(caught.value).replace(f"'{name}'", "X"))
    assert messages == ["path X leads outside the workspace"] * 2


async def test_a_device_inside_the_workspace_is_refused_unopened(hostile: Hostile) -> None:
    path = hostile.root / "zero-device"
    try:
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero's numbers
    except PermissionError:
        if os.environ.get("CI"):
            raise
        pytest.skip("creating a device node needs root (CI runs as root and must not skip)")
    ws = hostile.make()
    result = await ws.run("Read", {"path": "zero-device"})
    assert (result.ok, result.content) == (False, "Error: zero-device is not a regular file")
    grep = await ws.run("Grep", {"pattern": ".", "path": "zero-device"})
    assert (grep.ok, grep.content) == (False, "Error: zero-device is not a regular file")
    listed = await ws.run("Glob", {"pattern": "zero*"})
    assert listed.content == "No files match 'zero*'."


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("src/\ud800.ts", "path is not valid UTF-8"),
        ("a\x00b", "path contains a null byte"),
        ("src\\app.ts", "path looks like a Windows path; use forward slashes, relative paths"),
    ],
)
def test_resolve_checks_the_text_even_without_pydantic(
    hostile: Hostile, raw: str, reason: str
) -> None:
    with pytest.raises(Refused) as caught:
        Confinement(hostile.root, ()).resolve(raw)
    assert str(caught.value) == reason
