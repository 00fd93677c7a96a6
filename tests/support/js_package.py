"""The JavaScript package ``clients/js/`` for tests: its dev dependencies installed with
``npm ci`` (its lock is committed) on first use, and the hook's test page bundled with React by
esbuild. Without node or npm the tests that need them skip, and fail when ``CI`` is set."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.redis_server import require

PACKAGE = Path(__file__).resolve().parents[2] / "clients" / "js"


def run(
    *args: str, cwd: Path = PACKAGE, timeout_s: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False
    )


def installed() -> str:
    """``npm ci`` in the package unless done since the lock last changed; the path of npm."""
    npm = require("npm", package="npm")
    require("node", package="nodejs")
    done = PACKAGE / "node_modules" / ".package-lock.json"
    lock = PACKAGE / "package-lock.json"
    if not done.is_file() or done.stat().st_mtime < lock.stat().st_mtime:  # none, or stale
        result = run(npm, "ci", "--no-audit", "--no-fund")
        if result.returncode != 0:
            message = f"npm ci failed in {PACKAGE}: {result.stderr[-2000:]}"
            if os.environ.get("CI"):
                pytest.fail(message, pytrace=False)
            pytest.skip(message)
    return npm


def hook_page_bundle(out_dir: Path) -> str:
    """``test/browser/app.js`` (a React page using ``useJob``) bundled with React: its source."""
    installed()
    out = out_dir / "app.js"
    result = run(
        str(PACKAGE / "node_modules" / ".bin" / "esbuild"),
        "test/browser/app.js", "--bundle", "--format=esm", "--log-level=warning",
        "--define:process.env.NODE_ENV=\"production\"", f"--outfile={out}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out.read_text()
