"""The model is untrusted: every path that leaves the workspace or names a secret is refused.

Each refusal is asserted on the exact short text, and on what must never appear in it.
"""

from __future__ import annotations

import os

import pytest

from jobs.tools import ToolResult
from tests.jobs.tools.conftest import (
    IGNORED_TEXT,
    NOT_SECRET_FILES,
    OUTSIDE_TEXT,
    SECRET_FILES,
    SECRET_TEXT,
    Hostile,
    write,
)

pytestmark = pytest.mark.anyio


def refused(result: ToolResult, reason: str) -> None:
    assert result.ok is False
    assert result.summary == reason
    assert result.content == f"Error: {reason}"
    assert result.files_read == ()
    for text in (OUTSIDE_TEXT, SECRET_TEXT, IGNORED_TEXT):
        assert text not in result.content


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../outside/secret.txt", "path '../outside/secret.txt' is outside the workspace"),
        ("../../etc/passwd", "path '../../etc/passwd' is outside the workspace"),
        (
            "src/../../outside/secret.txt",
            "path 'src/../../outside/secret.txt' is outside the workspace",
        ),
        ("..", "path '..' is outside the workspace"),
        ("/etc/passwd", "path '/etc/passwd' is outside the workspace"),
        ("~/.bashrc", "path '~/.bashrc' is outside the workspace"),
        ("link_file", "path 'link_file' leads outside the workspace"),
        ("relative_out", "path 'relative_out' leads outside the workspace"),
        ("dangling_out", "path 'dangling_out' leads outside the workspace"),
        ("link_dir/secret.txt", "path 'link_dir/secret.txt' leads outside the workspace"),
        ("zero", "path 'zero' leads outside the workspace"),
        ("loop_a", "path 'loop_a' cannot be resolved (a symlink loop?)"),
        ("src/app.ts\x00.png", "path contains a null byte"),
        (
            "src/\ud800.ts",
            "invalid Read input: path: Input should be a valid string, "
            "unable to parse raw data as a unicode string",
        ),
        (
            "..\\..\\etc\\passwd",
            "path looks like a Windows path; use forward slashes, relative paths",
        ),
        (
            "C:/Windows/win.ini",
            "path looks like a Windows path; use forward slashes, relative paths",
        ),
        ("pipe", "pipe is not a regular file"),
        ("notes.txt", "path 'notes.txt' is a secret-looking file; it is never read"),
        ("build/out.js", "path 'build/out.js' is ignored by .gitignore"),
        ("src/generated/api.ts", "path 'src/generated/api.ts' is ignored by .gitignore"),
        ("debug.log", "path 'debug.log' is ignored by .gitignore"),
        ("missing.ts", "path 'missing.ts' does not exist"),
    ],
)
async def test_read_refuses(hostile: Hostile, path: str, reason: str) -> None:
    refused(await hostile.make().run("Read", {"path": path}), reason)


@pytest.mark.parametrize("rel", SECRET_FILES)
async def test_secret_files_are_never_read(hostile: Hostile, rel: str) -> None:
    reason = f"path {rel!r} is a secret-looking file; it is never read"
    refused(await hostile.make().run("Read", {"path": rel}), reason)


@pytest.mark.parametrize("rel", SECRET_FILES)
async def test_secret_files_are_never_grepped_even_when_named(hostile: Hostile, rel: str) -> None:
    reason = f"path {rel!r} is a secret-looking file; it is never read"
    refused(await hostile.make().run("Grep", {"pattern": "SECRET", "path": rel}), reason)


async def test_secrets_and_ignored_files_are_invisible_to_a_whole_tree_grep(
    hostile: Hostile,
) -> None:
    ws = hostile.make()
    files = await ws.run("Grep", {"pattern": "checkout"})
    assert sorted(files.content.splitlines()) == [
        "Found 4 files",
        "README.md",
        "keep.log",
        "src/app.ts",
        "src/cart.ts",
    ]
    result = await ws.run("Grep", {"pattern": "checkout", "output_mode": "content"})
    assert result.ok
    assert result.content.splitlines() == [
        "README.md:3:The checkout page.",
        "keep.log:1:kept checkout",
        "src/app.ts:1:export const checkout = () => 'pay';",
        "src/cart.ts:1:import { checkout } from './app';",
        "src/cart.ts:2:// cart then checkout",
    ]
    assert result.files_read == ("README.md", "keep.log", "src/app.ts", "src/cart.ts")
    assert result.summary == "5 matches in 4 files"


async def test_secrets_ignored_files_and_links_are_not_listed(hostile: Hostile) -> None:
    result = await hostile.make().run("Glob", {"pattern": "**/*"})
    assert result.ok
    assert sorted(result.content.splitlines()) == [
        ".env.example",
        ".gitignore",
        "README.md",
        "docs/environment.md",
        "keep.log",
        "src/.gitignore",
        "src/app.ts",
        "src/cart.ts",
        "src/id_generator.py",
    ]
    assert result.files_read == ()


async def test_the_secret_list_is_configurable(hostile: Hostile) -> None:
    ws = hostile.make()
    assert (await ws.run("Read", {"path": "README.md"})).ok
    from jobs.tools import Workspace

    with Workspace.open(hostile.root, extra_secret_patterns=["*.md"]) as strict:
        refused(
            await strict.run("Read", {"path": "README.md"}),
            "path 'README.md' is a secret-looking file; it is never read",
        )
        listed = await strict.run("Glob", {"pattern": "*"})
        assert "README.md" not in listed.content.splitlines()


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("link_dir", "path 'link_dir' leads outside the workspace"),
        ("../outside", "path '../outside' is outside the workspace"),
        ("/", "path '/' is outside the workspace"),
        (".git", "path '.git' is a secret-looking file; it is never read"),
        ("private", "path 'private' is a secret-looking file; it is never read"),
        ("build", "path 'build' is ignored by .gitignore"),
    ],
)
async def test_glob_and_grep_refuse_a_path_outside(
    hostile: Hostile, path: str, reason: str
) -> None:
    ws = hostile.make()
    refused(await ws.run("Glob", {"pattern": "**/*", "path": path}), reason)
    refused(await ws.run("Grep", {"pattern": ".", "path": path}), reason)


@pytest.mark.parametrize(
    "pattern", ["../*", "../../**/*", "/etc/*", "src/../../outside/*", "..\\*", "a\x00b"]
)
async def test_glob_patterns_cannot_leave_the_workspace(hostile: Hostile, pattern: str) -> None:
    result = await hostile.make().run("Glob", {"pattern": pattern})
    assert result.ok is False
    assert OUTSIDE_TEXT not in result.content
    assert "secret.txt" not in result.content
    assert result.summary in {
        "pattern must stay inside the workspace (no ..)",
        f"pattern {pattern!r} is outside the workspace",
        "pattern looks like a Windows path; use forward slashes, relative paths",
        "pattern contains a null byte",
    }


async def test_a_symlink_inside_the_workspace_can_be_read(hostile: Hostile) -> None:
    result = await hostile.make().run("Read", {"path": "inside_link.ts"})
    assert result.ok
    assert result.content == "     1\texport const checkout = () => 'pay';"
    assert result.files_read == ("src/app.ts",)


async def test_a_directory_loop_is_not_followed(hostile: Hostile) -> None:
    result = await hostile.make().run(
        "Grep", {"pattern": "pay", "path": "src/self", "output_mode": "content"}
    )
    assert result.ok
    assert result.content == "src/app.ts:1:export const checkout = () => 'pay';"


@pytest.mark.parametrize("rel", NOT_SECRET_FILES)
async def test_names_that_only_look_like_secrets_are_readable(hostile: Hostile, rel: str) -> None:
    ws = hostile.make()
    result = await ws.run("Read", {"file_path": rel})
    assert (result.ok, result.content) == (True, "     1\tnot a secret")
    found = await ws.run("Grep", {"pattern": "not a secret"})
    assert rel in found.content.splitlines()


@pytest.mark.parametrize("rel", SECRET_FILES)
async def test_secret_files_are_refused_by_absolute_path_too(hostile: Hostile, rel: str) -> None:
    result = await hostile.make().run("Read", {"file_path": str(hostile.root / rel)})
    assert result.ok is False
    assert SECRET_TEXT not in result.content


async def test_an_absolute_path_inside_the_workspace_is_read(hostile: Hostile) -> None:
    result = await hostile.make().run("Read", {"file_path": str(hostile.root / "src/app.ts")})
    assert result.content == "     1\texport const checkout = () => 'pay';"
    assert result.files_read == ("src/app.ts",)


@pytest.mark.parametrize(
    ("name", "target"),
    [("notsecret.txt", ".env"), ("src/also.ts", "../outside/secret.txt")],
)
async def test_a_hard_link_is_refused_by_every_tool(
    hostile: Hostile, name: str, target: str
) -> None:
    # A second name for the workspace's .env, and one for a file outside the workspace.
    os.link(hostile.root / target, hostile.root / name)
    ws = hostile.make()
    refused(
        await ws.run("Read", {"path": name}),
        f"{name} has more than one hard link; it is never read",
    )
    refused(
        await ws.run("Grep", {"pattern": ".", "path": name}),
        f"{name} has more than one hard link; it is never read",
    )
    for mode in ("content", "files_with_matches", "count"):
        found = await ws.run("Grep", {"pattern": "SECRET|OUTSIDE", "output_mode": mode})
        assert name not in found.content
        assert SECRET_TEXT not in found.content
        assert OUTSIDE_TEXT not in found.content
    listed = await ws.run("Glob", {"pattern": "**/*"})
    assert name not in listed.content.splitlines()


async def test_a_gitignore_cannot_re_include_a_secret(hostile: Hostile) -> None:
    write(hostile.root / ".gitignore", "!.env\n!*.pem\n!.git/\n")
    ws = hostile.make()
    for mode in ("content", "files_with_matches", "count"):
        found = await ws.run("Grep", {"pattern": "SECRET", "output_mode": mode})
        assert found.content == "No matches for 'SECRET'."
    listed = await ws.run("Glob", {"pattern": "**/*"})
    assert not {".env", ".ENV", "certs/server.pem"} & set(listed.content.splitlines())
