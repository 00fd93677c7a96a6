"""The workspace tools ``Glob``, ``Grep`` and ``Read``, confined to a read-only directory.

An agent offers the model ``tool_definitions(TOOL_NAMES)`` (Messages API ``tools`` entries)
and answers each ``tool_use`` block with ``await workspace.run(name, input)``::

    workspace = Workspace.open(root)          # None: the sample web-app tree shipped here
    result = await workspace.run("Grep", {"pattern": "checkout", "glob": "*.tsx"})
    result.ok, result.content, result.summary, result.files_read

- ``Glob {"pattern", "path"?}``: workspace-relative paths matching a glob (``**``, ``{a,b}``).
- ``Grep {"pattern", "path"?, "glob"?}``: matching lines as ``path:line:text`` (RE2 syntax).
- ``Read {"path", "offset"?, "limit"?}``: numbered lines, like ``cat -n``.

Every result is bounded by :class:`ToolLimits` and says when it was cut. The model is
untrusted: paths are checked after resolving symlinks and refused when they leave the
workspace, are secret-looking (``DEFAULT_SECRET_PATTERNS`` plus the workspace's extra
patterns), are ignored by a ``.gitignore``, or are not regular text files. Bad input, refusals
and internal errors all come back as ``ok=False`` results with a short reason; ``run`` never
raises for them, and the work runs on a thread pool under a deadline, off the event loop.
"""

from __future__ import annotations

from jobs.tools.base import ToolLimits, ToolResult
from jobs.tools.paths import DEFAULT_SECRET_PATTERNS
from jobs.tools.registry import TOOL_NAMES, TOOLS, tool_definitions
from jobs.tools.workspace import Workspace, sample_root

__all__ = [
    "DEFAULT_SECRET_PATTERNS",
    "TOOLS",
    "TOOL_NAMES",
    "ToolLimits",
    "ToolResult",
    "Workspace",
    "sample_root",
    "tool_definitions",
]
