"""The workspace: a read-only directory that the tools are confined to, and their dispatcher.

Dispatch reads :data:`jobs.tools.registry.TOOLS`. ``Grep`` and ``Glob`` run ripgrep in a
subprocess; ``Read`` runs on the workspace's own small thread pool, never on the event loop
nor on the loop's default executor (which serves DNS look-ups). At most
``limits.calls_per_job`` calls of one run (``jobs.running.loop.RUN_STATE``) and
``limits.calls_running`` calls over every run go at once, so one job cannot take every slot;
a call's time limit counts from when it starts running, not while it waits its turn.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from importlib.resources import files
from pathlib import Path
from types import TracebackType
from typing import Any

from pydantic import ValidationError

from jobs.running.loop import RUN_STATE
from jobs.tools.base import Context, Tool, ToolLimits, ToolResult
from jobs.tools.paths import DEFAULT_SECRET_PATTERNS, Confinement, Refused
from jobs.tools.registry import BY_NAME, TOOL_NAMES, tool_definitions
from jobs.tools.ripgrep import find_rg

logger = logging.getLogger(__name__)

__all__ = ["TOOL_NAMES", "Workspace", "sample_root"]

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
        confinement = Confinement(root, tuple(secret_patterns))
        # ripgrep reads the secret patterns as an ignore file (matched without regard to case).
        self._private = tempfile.TemporaryDirectory(prefix="jobs-tools-")
        secret_file = Path(self._private.name) / "secrets.ignore"
        secret_file.write_text("\n".join(p.lower() for p in secret_patterns) + "\n")
        pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="tools")
        self._context = Context(confinement, self.limits, find_rg(), secret_file, pool)
        self._running = asyncio.Semaphore(self.limits.calls_running)

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
        self._context.pool.shutdown(wait=False, cancel_futures=True)
        self._private.cleanup()

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
        tool = BY_NAME.get(name)
        if tool is None:
            return ToolResult.refused(
                f"unknown tool {name!r}; the tools are {', '.join(TOOL_NAMES)}"
            )
        if not isinstance(tool_input, dict):
            return ToolResult.refused(f"invalid {name} input: it must be a JSON object")
        try:
            args = tool.input.model_validate(tool_input)
        except ValidationError as exc:
            return ToolResult.refused(f"invalid {name} input: {_describe(exc)}")
        async with AsyncExitStack() as slots:
            state = RUN_STATE.get()
            if state is not None:  # this run's slots first: a waiting call holds no shared one
                run_slots = asyncio.Semaphore(self.limits.calls_per_job)
                await slots.enter_async_context(state.setdefault(self, run_slots))
            await slots.enter_async_context(self._running)
            return await self._call(tool, args)

    async def _call(self, tool: Tool[Any], args: Any) -> ToolResult:
        try:
            # Work past the limit (a hung filesystem under Read) is abandoned after a grace.
            async with asyncio.timeout(self.limits.time_s + _GRACE_S):
                return await tool.run(self._context, args)
        except TimeoutError:
            return ToolResult.refused(f"{tool.name} did not finish within {self.limits.time_s} s")
        except Refused as exc:
            return ToolResult.refused(str(exc))
        except Exception:  # a bug or an OS error must not end the run; the text stays here
            logger.exception("tool %s failed", tool.name)
            return ToolResult.refused(f"{tool.name} failed on an internal error")


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "input"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
