"""The tools' inputs (strict pydantic models) and their definitions for the Messages API.

A definition is a ``ToolParam`` of the anthropic SDK: ``name``, ``description`` and
``input_schema`` (the input model's JSON Schema, so the model is told exactly what is checked).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_STRICT = ConfigDict(strict=True, extra="forbid")


class GlobInput(BaseModel):
    model_config = _STRICT

    pattern: str = Field(
        min_length=1,
        max_length=500,
        description="Glob over paths relative to `path`: * and ? stay within one directory, "
        "** spans directories, {a,b} alternates. Example: **/*.{ts,tsx}",
    )
    path: str = Field(
        default="",
        max_length=1000,
        description="Directory to search, relative to the workspace root (default: the root)",
    )


class GrepInput(BaseModel):
    model_config = _STRICT

    pattern: str = Field(
        min_length=1,
        max_length=1000,
        description="RE2 regular expression (like ripgrep: no look-around or backreferences), "
        "matched against each line; prefix (?i) to ignore case",
    )
    path: str = Field(
        default="",
        max_length=1000,
        description="File or directory to search, relative to the workspace root",
    )
    glob: str | None = Field(
        default=None,
        max_length=500,
        description="Only search files matching this glob, e.g. *.tsx or src/**/*.ts "
        "(a glob without / matches file names at any depth)",
    )


class ReadInput(BaseModel):
    model_config = _STRICT

    path: str = Field(
        min_length=1, max_length=1000, description="File to read, relative to the workspace root"
    )
    offset: int = Field(default=1, ge=1, description="First line to show (1-based)")
    limit: int | None = Field(default=None, ge=1, description="Number of lines to show")


INPUTS: dict[str, type[BaseModel]] = {"Glob": GlobInput, "Grep": GrepInput, "Read": ReadInput}

DESCRIPTIONS = {
    "Glob": "List the files of the read-only workspace whose paths match a glob pattern. "
    "Paths are relative to the workspace root, sorted; ignored (.gitignore) and "
    "secret-looking files are never listed. Long results are cut, and say so.",
    "Grep": "Search the contents of the workspace's files for a regular expression. Returns "
    "matching lines as path:line:text. Ignored (.gitignore), secret-looking and binary files "
    "are not searched. Long results are cut, and say so: narrow `path` or `glob` then.",
    "Read": "Read a text file of the workspace, with line numbers (like cat -n). Use offset "
    "and limit for a part of a long file. Secret-looking, ignored and binary files are refused.",
}


def tool_definitions(names: tuple[str, ...] | list[str]) -> list[dict[str, Any]]:
    """The Messages API ``tools`` entries for ``names`` (each one of ``TOOL_NAMES``)."""
    unknown = [n for n in names if n not in INPUTS]
    if unknown:
        raise ValueError(f"unknown tools: {', '.join(unknown)}; known: {', '.join(INPUTS)}")
    return [
        {
            "name": name,
            "description": DESCRIPTIONS[name],
            "input_schema": INPUTS[name].model_json_schema(),
        }
        for name in names
    ]
