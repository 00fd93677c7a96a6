"""The operators' commands share only the exit codes (``jobs.exits``) with the client CLI."""

from __future__ import annotations

from tests.support.imports import loaded_by


def test_ops_imports_nothing_of_the_client() -> None:
    loaded = loaded_by("jobs.ops.cli", "jobs.ops.inspection")
    assert "jobs.exits" in loaded, "the probe sees what ops does load"
    assert sorted(name for name in loaded if name.startswith("jobs.client")) == []
