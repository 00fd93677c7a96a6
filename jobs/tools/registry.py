"""Every workspace tool, one record each: dispatch, definitions and documents read this list.

Adding a tool is two edits: its module (input model, run function, :class:`Tool` record) and
its record's place in :data:`TOOLS`.
"""

from __future__ import annotations

from typing import Any

from jobs.tools.base import Tool
from jobs.tools.glob import GLOB
from jobs.tools.grep import GREP
from jobs.tools.read import READ

TOOLS: tuple[Tool[Any], ...] = (GLOB, GREP, READ)
BY_NAME: dict[str, Tool[Any]] = {tool.name: tool for tool in TOOLS}
TOOL_NAMES: tuple[str, ...] = tuple(BY_NAME)


def tool_definitions(names: tuple[str, ...] | list[str]) -> list[dict[str, Any]]:
    """The Messages API ``tools`` entries for ``names`` (each one of :data:`TOOL_NAMES`)."""
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown tools: {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
    return [BY_NAME[name].definition() for name in names]
