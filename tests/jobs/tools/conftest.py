"""A hostile workspace built in tmp_path: secrets, symlinks out, loops, a FIFO, huge files."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from jobs.tools import ToolLimits, Workspace

OUTSIDE_TEXT = "OUTSIDE-THE-WORKSPACE-7c1e"
SECRET_TEXT = "SECRET-CONTENT-93ab"
IGNORED_TEXT = "IGNORED-CONTENT-5d20"
EXTRA_SECRETS = ("credentials.json", "private/")

# Each path holds SECRET_TEXT; every one must stay unread, ungrepped and unlisted.
SECRET_FILES = (
    ".env",
    ".env.production",
    "config/.env.local",
    "certs/server.pem",
    "tls.key",
    ".ssh/id_ed25519",
    "id_rsa",
    "deploy/credentials.json",
    "private/notes.md",
    ".git/config",
    ".ENV",
    "certs/KEY.PEM",
    ".ssh/ID_RSA",
    ".GIT/HEAD",
    ".aws/credentials",
    ".git-credentials",
    ".pgpass",
    ".pypirc",
    "keys/deploy.ppk",
    "gcp/credentials.json",
)

# Names that look like a secret's but are not: each must stay readable.
NOT_SECRET_FILES = (".env.example", "src/id_generator.py", "docs/environment.md")


@dataclass
class Hostile:
    root: Path
    outside: Path
    make: Callable[..., Workspace]


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def build(root: Path, outside: Path) -> None:
    write(outside / "secret.txt", f"{OUTSIDE_TEXT}\n")
    write(root / "src/app.ts", "export const checkout = () => 'pay';\n")
    write(root / "src/cart.ts", "import { checkout } from './app';\n// cart then checkout\n")
    write(root / "README.md", "# Shop\n\nThe checkout page.\n")
    for rel in SECRET_FILES:
        write(root / rel, f"{SECRET_TEXT} checkout\n")
    for rel in NOT_SECRET_FILES:
        write(root / rel, "not a secret\n")
    write(root / ".gitignore", "build/\n*.log\n!keep.log\n")
    write(root / "src/.gitignore", "generated/\n")
    write(root / "build/out.js", f"{IGNORED_TEXT} checkout\n")
    write(root / "src/generated/api.ts", f"{IGNORED_TEXT} checkout\n")
    write(root / "debug.log", f"{IGNORED_TEXT} checkout\n")
    write(root / "keep.log", "kept checkout\n")
    (root / "link_file").symlink_to(outside / "secret.txt")
    (root / "link_dir").symlink_to(outside, target_is_directory=True)
    (root / "relative_out").symlink_to("../outside/secret.txt")
    (root / "dangling_out").symlink_to(outside / "does-not-exist.txt")
    (root / "notes.txt").symlink_to(".env")
    (root / "loop_a").symlink_to("loop_b")
    (root / "loop_b").symlink_to("loop_a")
    (root / "src/self").symlink_to(".", target_is_directory=True)
    (root / "zero").symlink_to("/dev/zero")
    (root / "inside_link.ts").symlink_to("src/app.ts")
    os.mkfifo(root / "pipe")


@pytest.fixture
def hostile(tmp_path: Path) -> Iterator[Hostile]:
    root, outside = tmp_path / "ws", tmp_path / "outside"
    build(root, outside)
    made: list[Workspace] = []

    def make(limits: ToolLimits | None = None) -> Workspace:
        ws = Workspace.open(root, limits, extra_secret_patterns=EXTRA_SECRETS)
        made.append(ws)
        return ws

    yield Hostile(root.resolve(), outside, make)
    for ws in made:
        ws.close()
