"""The JavaScript package in ``clients/js/`` (``jobs-service-client``): the page is served the
package's own source, the package's ``node --test`` suite and ``tsc --strict
--exactOptionalPropertyTypes`` over its usage file pass, its agent types match
``/openapi.json``, and the tarball ``npm pack`` makes installs into a scratch project, where
its entry points import and type-check.

``npm ci`` installs the package's dev dependencies (its lock is committed) on first use; without
node or npm these tests skip, and fail when ``CI`` is set.
"""

from __future__ import annotations

import json
import sys
import tarfile
from pathlib import Path

import pytest

from app.page import STATIC_DIR
from tests.support.js_package import PACKAGE, installed, run

ROOT = Path(__file__).resolve().parents[2]
#: The package's files the service serves to its page, byte for byte.
SERVED = ("jobs-client.js", "jobs-client.d.ts", "agents.d.ts", "partial-json.js")


@pytest.fixture(scope="module")
def npm() -> str:
    return installed()


@pytest.mark.parametrize("name", SERVED)
def test_the_page_is_served_the_packages_own_source(name: str) -> None:
    served = STATIC_DIR / name
    assert served.read_bytes() == (PACKAGE / name).read_bytes(), (
        f"app/static/{name} differs from clients/js/{name}, its source: "
        f"cp clients/js/{name} app/static/{name}"
    )


def test_the_agent_types_match_openapi() -> None:
    result = run(sys.executable, str(ROOT / "scripts" / "js_types.py"), "--check", cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_node_unit_tests(npm: str) -> None:
    files = sorted(str(path) for path in (PACKAGE / "test").glob("*.test.js"))
    assert len(files) >= 4
    result = run("node", "--test", *files)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout
    assert "# pass 0" not in result.stdout


def test_the_usage_file_type_checks_strictly(npm: str) -> None:
    config = json.loads((PACKAGE / "test" / "types" / "tsconfig.json").read_text())
    options = config["compilerOptions"]
    assert options["strict"] is True
    assert options["exactOptionalPropertyTypes"] is True
    result = run(str(PACKAGE / "node_modules" / ".bin" / "tsc"), "-p", "test/types")
    assert result.returncode == 0, result.stdout[-4000:]


def test_the_packed_tarball_installs_and_imports(npm: str, tmp_path: Path) -> None:
    packed = run(npm, "pack", "--json", "--pack-destination", str(tmp_path))
    assert packed.returncode == 0, packed.stderr
    tarball = tmp_path / json.loads(packed.stdout)[0]["filename"]
    with tarfile.open(tarball) as archive:
        names = {Path(name).relative_to("package").as_posix() for name in archive.getnames()}
    assert {"package.json", "job-run.js", "react.js", "react.d.ts", *SERVED} <= names
    assert not any(name.startswith(("test/", "node_modules/")) for name in names)

    app = tmp_path / "app"
    (app / "node_modules").mkdir(parents=True)
    (app / "package.json").write_text(
        json.dumps({"name": "app", "private": True, "type": "module"})
    )
    installed = run(npm, "install", "--offline", "--no-audit", "--no-fund", str(tarball), cwd=app)
    assert installed.returncode == 0, installed.stderr
    # The app's own React and its types (no registry here): the ones the package tests with.
    for dependency in ("react", "@types/react"):
        link = app / "node_modules" / dependency
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(PACKAGE / "node_modules" / dependency, target_is_directory=True)
    script = """
        import { JobsClient, ProblemError, FROM_START } from "jobs-service-client";
        import { parsePartial } from "jobs-service-client/partial-json";
        import { JobRun } from "jobs-service-client/run";
        import { useJob } from "jobs-service-client/react";
        const client = new JobsClient({ token: "t", baseUrl: "http://x" });
        console.log(JSON.stringify({
          client: typeof client.attach, problem: new ProblemError(429, {}).code, start: FROM_START,
          partial: parsePartial('{"a": "b'), run: typeof JobRun, hook: typeof useJob,
        }));
    """
    imported = run("node", "--input-type=module", "-e", script, cwd=app)
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout) == {
        "client": "function", "problem": "HTTP_429", "start": "0-0",
        "partial": {"a": "b"}, "run": "function", "hook": "function",
    }  # fmt: skip

    usage = (PACKAGE / "test" / "types" / "usage.tsx").read_text()
    (app / "usage.tsx").write_text(usage)
    config = json.loads((PACKAGE / "test" / "types" / "tsconfig.json").read_text())
    (app / "tsconfig.json").write_text(json.dumps(config))
    checked = run(str(PACKAGE / "node_modules" / ".bin" / "tsc"), "-p", ".", cwd=app)
    assert checked.returncode == 0, checked.stdout[-4000:]
