"""A bounded walk of a workspace directory that honours .gitignore files and secret patterns.

Breadth first, so that a walk cut by a limit has still seen the shallow paths. Symlinks are
never followed (a link to a directory cannot lead out of the workspace or into a loop) and
are not listed, nor are FIFOs, sockets and devices: a walk yields regular files only.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import pathspec

from jobs.tools.base import Deadline
from jobs.tools.paths import Confinement, Target, is_ignored, load_gitignore

_Stack = tuple[tuple[str, pathspec.GitIgnoreSpec], ...]


@dataclass
class Walk:
    """Walks the files under ``start``; afterwards ``cut`` names the limit it hit, if any."""

    confinement: Confinement
    start: Target
    max_entries: int
    deadline: Deadline
    entries: int = 0
    cut: str = ""

    def files(self) -> Iterator[str]:
        """Workspace-relative paths of the regular files, shallow first, by name in a level."""
        queue: deque[tuple[str, _Stack]] = deque(
            [(self.start.rel, tuple(self.confinement.ignore_stack(self.start.rel)))]
        )
        while queue:
            rel_dir, stack = queue.popleft()
            try:
                with os.scandir(self.confinement.root / rel_dir) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                self.entries += 1
                if self.entries > self.max_entries:
                    self.cut = f"the walk stopped after {self.max_entries} entries"
                    return
                if self.entries % 256 == 0 and self.deadline.passed():
                    self.cut = "the time limit was reached"
                    return
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                if entry.is_dir(follow_symlinks=False):
                    if not self._hidden(stack, rel, True):
                        queue.append((rel, self._with_gitignore(stack, rel)))
                elif entry.is_file(follow_symlinks=False) and not self._hidden(stack, rel, False):
                    yield rel

    def _hidden(self, stack: _Stack, rel: str, is_dir: bool) -> bool:
        return self.confinement.is_secret(rel, is_dir) or is_ignored(stack, rel, is_dir)

    def _with_gitignore(self, stack: _Stack, rel: str) -> _Stack:
        spec = load_gitignore(self.confinement.root / rel)
        return stack if spec is None else (*stack, (rel + "/", spec))
