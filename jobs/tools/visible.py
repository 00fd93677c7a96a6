"""The check of every path ripgrep reports, before anything about it is shown.

ripgrep already skips secret and ignored files, but a workspace ``.gitignore`` (``!.env``) or a
``--glob`` can re-include them, and it reads files with several hard links. A reported path is
shown only if it is not secret-looking, not ignored by a ``.gitignore`` on its way from the
root, a regular file (not a symlink), and has one link. Verdicts are cached per path and the
ignore rules per directory, so a listing of 70,000 files costs one ``lstat`` each.
"""

from __future__ import annotations

import os
import stat

import pathspec

from jobs.tools.paths import Confinement, is_ignored, load_gitignore

_Stack = tuple[tuple[str, pathspec.GitIgnoreSpec], ...]


class Visible:
    """Whether a workspace-relative path reported by ripgrep may be shown."""

    def __init__(self, confinement: Confinement) -> None:
        self.confinement = confinement
        self._root = str(confinement.root)
        self._files: dict[str, bool] = {}
        self._dirs: dict[str, tuple[_Stack, bool]] = {}

    def file(self, rel: str) -> bool:
        verdict = self._files.get(rel)
        if verdict is None:
            verdict = self._files[rel] = self._check(rel)
        return verdict

    def _check(self, rel: str) -> bool:
        if not rel or rel.startswith("/") or ".." in rel.split("/"):
            return False
        if self.confinement.is_secret(rel):
            return False
        stack, hidden = self._dir(rel.rpartition("/")[0])
        if hidden or is_ignored(stack, rel, False):
            return False
        try:
            st = os.lstat(f"{self._root}/{rel}")
        except OSError:
            return False
        return stat.S_ISREG(st.st_mode) and st.st_nlink == 1

    def _dir(self, rel_dir: str) -> tuple[_Stack, bool]:
        """The ignore stack inside ``rel_dir``, and whether it (or a parent) is hidden."""
        known = self._dirs.get(rel_dir)
        if known is not None:
            return known
        if not rel_dir:
            spec = load_gitignore(self.confinement.root)
            known = (((("", spec),) if spec else ()), False)
        else:
            stack, hidden = self._dir(rel_dir.rpartition("/")[0])
            hidden = (
                hidden
                or self.confinement.is_secret(rel_dir, True)
                or is_ignored(stack, rel_dir, True)
            )
            spec = None if hidden else load_gitignore(self.confinement.root / rel_dir)
            known = ((*stack, (rel_dir + "/", spec)) if spec else stack, hidden)
        self._dirs[rel_dir] = known
        return known
