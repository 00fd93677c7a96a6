"""``auth`` stands on its own: it imports nothing of ``jobs`` (nor of the HTTP layer)."""

from __future__ import annotations

import pkgutil

import auth
from tests.support.imports import loaded_by

MODULES = [f"auth.{info.name}" for info in pkgutil.iter_modules(auth.__path__)]


def test_auth_imports_nothing_of_jobs_or_app() -> None:
    assert {"auth.errors", "auth.verifier", "auth.tickets", "auth.jwks"} <= set(MODULES)
    loaded = loaded_by("auth", *MODULES)
    assert "auth.verifier" in loaded, "the probe sees what auth does load"
    assert sorted(name for name in loaded if name.split(".")[0] in ("jobs", "app")) == []
