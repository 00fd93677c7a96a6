"""The workspace: a read-only directory that the tools are confined to, and their dispatcher."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib.resources import files
from pathlib import Path
from types import TracebackType
from typing import Any

from pydantic import BaseModel, ValidationError

from jobs.tools.base import Deadline, ToolLimits, ToolResult
from jobs.tools.glob import run_glob
from jobs.tools.grep import run_grep
from jobs.tools.paths import DEFAULT_SECRET_PATTERNS, Confinement, Refused
from jobs.tools.read import run_read
from jobs.tools.schemas import INPUTS, tool_definitions

logger = logging.getLogger(__name__)

TOOL_NAMES = ("Glob", "Grep", "Read")

_Runner = Callable[[Confinement, ToolLimits, Any, Deadline], ToolResult]
_RUNNERS: dict[str, _Runner] = {"Glob": run_glob, "Grep": run_grep, "Read": run_read}
assert set(_RUNNERS) == set(TOOL_NAMES) == set(INPUTS)

# A thread that overruns its own deadline (a hung filesystem) is abandoned after this grace.
_GRACE_S = 1.0


def sample_root() -> Path:
    """The sample web-app tree shipped with the package: the default workspace."""
    return Path(str(files("jobs.tools") / "sample"))


class Workspace:
    """Tools confined to ``root``; built once and shared by every run (it holds no run state).

    Tool work runs on the workspace's own small thread pool, never on the event loop nor on
    the loop's default executor (which serves DNS look-ups); ``close()`` (or ``with``) ends it.
    """

    def __init__(
        self,
        root: Path,
        limits: ToolLimits | None = None,
        secret_patterns: Sequence[str] = DEFAULT_SECRET_PATTERNS,
        threads: int = 4,
    ) -> None:
        self.root = root
        self.limits = limits or ToolLimits()
        self._confinement = Confinement(root, tuple(secret_patterns))
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="tools")

    @classmethod
    def open(
        cls,
        root: Path | None,
        limits: ToolLimits | None = None,
        extra_secret_patterns: Sequence[str] = (),
        threads: int = 4,
    ) -> Workspace:
        """The workspace at ``root`` (None: the shipped sample tree); raises if not a directory."""
        resolved = (root if root is not None else sample_root()).resolve(strict=True)
        if not resolved.is_dir():
            raise NotADirectoryError(f"the workspace {resolved} is not a directory")
        patterns = (*DEFAULT_SECRET_PATTERNS, *extra_secret_patterns)
        return cls(resolved, limits, patterns, threads)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def definitions(self, names: Sequence[str]) -> list[dict[str, Any]]:
        """The Messages API ``tools`` entries of ``names`` (what the agent loop offers)."""
        return tool_definitions(list(names))

    async def run(self, name: str, tool_input: object) -> ToolResult:
        """Run one tool call. Never raises for bad input: refusals are ``ok=False`` results."""
        if name not in _RUNNERS:
            return ToolResult.refused(
                f"unknown tool {name!r}; the tools are {', '.join(TOOL_NAMES)}"
            )
        if not isinstance(tool_input, dict):
            return ToolResult.refused(f"invalid {name} input: it must be a JSON object")
        try:
            args = INPUTS[name].model_validate(tool_input)
        except ValidationError as exc:
            return ToolResult.refused(f"invalid {name} input: {_describe(exc)}")
        loop = asyncio.get_running_loop()
        deadline = Deadline(self.limits.time_s)
        future = loop.run_in_executor(self._pool, self._call, name, args, deadline)
        try:
            return await asyncio.wait_for(future, self.limits.time_s + _GRACE_S)
        except TimeoutError:
            return ToolResult.refused(f"{name} did not finish within {self.limits.time_s} s")

    def _call(self, name: str, args: BaseModel, deadline: Deadline) -> ToolResult:
        try:
            return _RUNNERS[name](self._confinement, self.limits, args, deadline)
        except Refused as exc:
            return ToolResult.refused(str(exc))
        except Exception:  # a bug or an OS error must not end the run; the text stays here
            logger.exception("tool %s failed", name)
            return ToolResult.refused(f"{name} failed on an internal error")


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "input"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
