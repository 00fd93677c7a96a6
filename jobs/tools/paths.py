"""Confinement: which workspace paths a tool may touch, and opening them safely.

Every path the model names goes through :meth:`Confinement.resolve`, which refuses, in order:
a null byte, a backslash or drive letter (Windows-style), an absolute path outside the
workspace (an absolute path inside it is taken as the relative path it names), a path that
leaves the workspace lexically (``..``), a path whose symlinks resolve outside the workspace, a
secret-looking path (before or after resolving symlinks), and a path ignored by a
``.gitignore`` on its way from the root.

Secret patterns are matched without regard to case (``.ENV``, ``ID_RSA`` and ``KEY.PEM`` are
what their lower-case names are). A regular file with more than one hard link is refused by
every tool: its other names may lie outside the workspace or be a secret's (a link named
``notes.txt`` to ``.env``), and where they lie cannot be known without walking the whole
filesystem. Ignore rules are a relevance filter, but they are also
where projects list local credentials that no secret pattern knows, so ignored files are
invisible to all three tools, like secret ones: the model never sees a path it cannot open.

:func:`open_regular` opens with ``O_NOFOLLOW | O_NONBLOCK`` (a FIFO never blocks the open),
refuses anything but a regular file by ``fstat``, and on Linux checks that the opened
descriptor's real path is still the checked one (a symlink swapped in meanwhile is caught).
"""

from __future__ import annotations

import functools
import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pathspec

# Secret-looking names, in .gitignore syntax, matched without regard to case: a name without a
# slash matches at any depth, a matching directory hides everything under it, and `!` excepts
# (the templates that projects commit on purpose). `.git/` can hold credentials in remote URLs.
DEFAULT_SECRET_PATTERNS: tuple[str, ...] = (
    ".env",
    ".env.*",
    "!.env.example",
    "!.env.sample",
    "!.env.template",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.ppk",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".netrc",
    ".npmrc",
    ".pgpass",
    ".pypirc",
    ".git-credentials",
    "credentials.json",
    ".aws/",
    ".ssh/",
    ".git/",
)

_DRIVE = re.compile(r"^[A-Za-z]:")
_GITIGNORE = ".gitignore"
_GITIGNORE_MAX_BYTES = 256_000


class Refused(Exception):
    """A path or input the tools will not touch; the message is the short refusal."""


@dataclass(frozen=True)
class Target:
    """A checked path: absolute (resolved) and relative to the workspace root."""

    path: Path
    rel: str
    is_dir: bool


def check_text(value: str, what: str) -> None:
    """Refuse a null byte or a Windows-style path in ``value``."""
    if "\x00" in value:
        raise Refused(f"{what} contains a null byte")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate from JSON's \ud800
        raise Refused(f"{what} is not valid UTF-8") from exc
    if "\\" in value or _DRIVE.match(value):
        raise Refused(f"{what} looks like a Windows path; use forward slashes, relative paths")


@dataclass
class Confinement:
    """The workspace root, its secret patterns and its ignore rules."""

    root: Path
    secret_patterns: Sequence[str]
    _secrets: pathspec.GitIgnoreSpec = field(init=False, repr=False)

    def __post_init__(self) -> None:
        lowered = [pattern.lower() for pattern in self.secret_patterns]
        self._secrets = pathspec.GitIgnoreSpec.from_lines(lowered)

    def is_secret(self, rel: str, is_dir: bool = False) -> bool:
        rel = rel.lower()
        return rel != "" and bool(self._secrets.match_file(rel + "/" if is_dir else rel))

    def relative(self, raw: str, what: str = "path") -> str:
        """``raw`` as a workspace-relative path: an absolute path inside the workspace loses
        its root; any other absolute path (or ``~``) is refused."""
        check_text(raw, what)
        if raw.startswith("~"):
            raise Refused(f"{what} {raw!r} is outside the workspace")
        if raw.startswith("/"):
            lexical = PurePosixPath(os.path.normpath(raw))
            if not lexical.is_relative_to(self.root):
                raise Refused(f"{what} {raw!r} is outside the workspace")
            return lexical.relative_to(self.root).as_posix()
        return raw

    def resolve(self, raw: str, what: str = "path") -> Target:
        """The checked target of a workspace path (relative, or absolute inside the
        workspace), or :class:`Refused`."""
        raw = self.relative(raw, what)
        lexical = os.path.normpath(raw or ".")
        if lexical == ".." or lexical.startswith("../"):
            raise Refused(f"{what} {raw!r} is outside the workspace")
        rel = "" if lexical == "." else lexical
        if self.is_secret(rel):
            raise Refused(f"{what} {raw!r} is a secret-looking file; it is never read")
        try:
            resolved = (self.root / rel).resolve(strict=False)
        except (OSError, RuntimeError) as exc:
            raise Refused(f"{what} {raw!r} cannot be resolved (a symlink loop?)") from exc
        if not resolved.is_relative_to(self.root):
            raise Refused(f"{what} {raw!r} leads outside the workspace")
        real_rel = resolved.relative_to(self.root).as_posix()
        real_rel = "" if real_rel == "." else real_rel
        try:
            st = resolved.stat()
        except OSError as exc:
            raise Refused(f"{what} {raw!r} does not exist") from exc
        is_dir = stat.S_ISDIR(st.st_mode)
        if self.is_secret(real_rel, is_dir) or self.is_secret(rel, is_dir):
            raise Refused(f"{what} {raw!r} is a secret-looking file; it is never read")
        if real_rel and self.ignored(real_rel, is_dir):
            raise Refused(f"{what} {raw!r} is ignored by .gitignore")
        return Target(resolved, real_rel, is_dir)

    def ignore_stack(self, rel_dir: str) -> list[tuple[str, pathspec.GitIgnoreSpec]]:
        """The .gitignore specs that apply inside ``rel_dir``, root first, with their base."""
        parts = PurePosixPath(rel_dir).parts if rel_dir else ()
        stack: list[tuple[str, pathspec.GitIgnoreSpec]] = []
        for depth in range(len(parts) + 1):
            self._push(stack, "/".join(parts[:depth]))
        return stack

    def ignored(self, rel: str, is_dir: bool) -> bool:
        """Whether ``rel`` or a directory above it is ignored by a .gitignore on its way."""
        parts = PurePosixPath(rel).parts
        stack: list[tuple[str, pathspec.GitIgnoreSpec]] = []
        for depth in range(len(parts)):
            self._push(stack, "/".join(parts[:depth]))
            last = depth == len(parts) - 1
            if is_ignored(stack, "/".join(parts[: depth + 1]), is_dir or not last):
                return True
        return False

    def _push(self, stack: list[tuple[str, pathspec.GitIgnoreSpec]], base: str) -> None:
        spec = load_gitignore(self.root / base)
        if spec is not None:
            stack.append((base + "/" if base else "", spec))


def load_gitignore(directory: Path) -> pathspec.GitIgnoreSpec | None:
    """The spec of ``directory/.gitignore`` if it is a readable regular file, else None."""
    try:
        fd = os.open(directory / _GITIGNORE, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = os.read(fd, _GITIGNORE_MAX_BYTES)
    finally:
        os.close(fd)
    return _compile_gitignore(data)


@functools.lru_cache(maxsize=256)
def _compile_gitignore(data: bytes) -> pathspec.GitIgnoreSpec:
    # Keyed by content, so an edited .gitignore is never served stale; compiling is the cost.
    return pathspec.GitIgnoreSpec.from_lines(data.decode("utf-8", "replace").splitlines())


def is_ignored(stack: Iterable[tuple[str, pathspec.GitIgnoreSpec]], rel: str, is_dir: bool) -> bool:
    """Git's rule: the deepest .gitignore with a matching pattern decides (``!`` re-includes)."""
    verdict = False
    for base, spec in stack:
        if not rel.startswith(base):
            continue
        result = spec.check_file(rel[len(base) :] + ("/" if is_dir else ""))
        if result.include is not None:
            verdict = result.include
    return verdict


def open_regular(target: Target) -> int:
    """A read-only descriptor on the checked regular file, or :class:`Refused`."""
    try:  # a device is refused before any open (opening some has side effects)
        linked = os.lstat(target.path)
    except OSError as exc:
        raise Refused(f"{target.rel} cannot be opened") from exc
    mode = linked.st_mode
    if stat.S_ISLNK(mode):  # swapped in since the check
        raise Refused(f"{target.rel} cannot be opened")
    if not stat.S_ISREG(mode):
        raise Refused(f"{target.rel} is not a regular file")
    if linked.st_nlink > 1:
        raise Refused(f"{target.rel} has more than one hard link; it is never read")
    try:
        fd = os.open(target.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise Refused(f"{target.rel} cannot be opened") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Refused(f"{target.rel} is not a regular file")
        if st.st_nlink > 1:  # linked since the check
            raise Refused(f"{target.rel} has more than one hard link; it is never read")
        proc = f"/proc/self/fd/{fd}"
        if os.path.exists(proc) and os.readlink(proc) != str(target.path):
            raise Refused(f"{target.rel} changed while it was opened")
    except BaseException:
        os.close(fd)
        raise
    return fd
