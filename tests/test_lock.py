"""The lock (``requirements/*.txt``, written by ``scripts/lock``) is what pyproject.toml asks
for, and the environment running these tests holds exactly the locked versions: a green run in
CI is a green run of the lock."""

from __future__ import annotations

import os
import re
import tomllib
from importlib import metadata

import pytest
from packaging.markers import Marker, default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.process import ROOT

#: ``name==version ; marker`` at the start of a lock line (hash lines follow it).
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)(?:\s*;\s*([^\\]+?))?\s*(?:\\|$)", re.MULTILINE)


def locked(name: str) -> dict[str, tuple[str, str | None]]:
    """Each locked package's version and environment marker (None: everywhere)."""
    text = (ROOT / "requirements" / name).read_text()
    return {canonicalize_name(n): (v, m or None) for n, v, m in PIN.findall(text)}


def declared() -> tuple[list[Requirement], list[Requirement]]:
    """What runtime.txt must hold (the dependencies and the ``otel`` extra), and what dev.txt
    adds (the ``dev`` extra, with the project's own extras it names expanded)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]

    def expand(lines: list[str]) -> list[Requirement]:
        requirements = [Requirement(line) for line in lines]
        return [
            inner
            for requirement in requirements
            for inner in (
                expand([line for extra in requirement.extras for line in extras[extra]])
                if canonicalize_name(requirement.name) == canonicalize_name(project["name"])
                else [requirement]
            )
        ]

    return expand(project["dependencies"] + extras["otel"]), expand(extras["dev"])


def test_every_declared_dependency_is_locked_within_its_range() -> None:
    runtime, dev = declared()
    lock = locked("dev.txt")
    for requirement in runtime + dev:
        name = canonicalize_name(requirement.name)
        assert name in lock, f"{name} is declared but not locked: run scripts/lock"
        version, _ = lock[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{name}=={version} is outside {requirement.specifier}: run scripts/lock"
        )


def test_the_runtime_lock_is_the_dev_lock_without_the_dev_tools() -> None:
    runtime, _ = declared()
    runtime_lock, dev_lock = locked("runtime.txt"), locked("dev.txt")
    for name, pin in runtime_lock.items():
        assert dev_lock.get(name) == pin, f"{name}: runtime {pin} but dev {dev_lock.get(name)}"
    for requirement in runtime:
        assert canonicalize_name(requirement.name) in runtime_lock
    tools = {"pytest", "mypy", "ruff", "playwright", "schemathesis", "uv"}
    assert not tools & set(runtime_lock), "the image carries no test tools"


@pytest.mark.skipif(
    os.environ.get("UNLOCKED") == "1",
    reason="scripts/check-latest runs the newest versions, not the lock, on purpose",
)
def test_this_environment_holds_the_locked_versions() -> None:
    environment = default_environment()
    expected = {
        name: version
        for name, (version, marker) in locked("dev.txt").items()
        if marker is None or Marker(marker).evaluate(environment)  # type: ignore[arg-type]
    }
    installed: dict[str, str] = {
        canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()
    }
    drift = {
        name: (version, installed.get(name))
        for name, version in expected.items()
        if installed.get(name) != version
    }
    assert not drift, f"locked vs installed (install with the README's command): {drift}"


def test_every_install_path_installs_the_lock() -> None:
    readme = (ROOT / "README.md").read_text()
    for lock in ("runtime", "dev"):
        assert f".venv/bin/pip install -r requirements/{lock}.txt && " in readme
    assert (
        "pip install --quiet --require-hashes -r requirements/dev.txt"
        in (ROOT / ".ci" / "run").read_text()
    )
    assert (
        "pip install --require-hashes -r requirements/runtime.txt"
        in (ROOT / "Dockerfile").read_text()
    )
