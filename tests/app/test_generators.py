"""Mainstream generators accept the OpenAPI document, and what they make works.

- ``openapi-python-client`` (a test-time tool, never a dependency: it lives in a throwaway
  virtual environment kept in the pytest cache, so only the first run pays for installing it)
  generates a client that starts a background job on a real service and reads its status and
  result;
- ``openapi-typescript`` (npm, pinned in ``tests/openapi_typescript/``, installed with
  ``npm ci``) types the document, and ``tsc --strict`` checks a small usage file, including
  lines that must *not* compile.

Without the tools (no network for pip, no npm) the tests skip, except when ``CI`` is set.
"""

from __future__ import annotations

import json
import os
import subprocess
import venv
from pathlib import Path

import httpx
import pytest

from tests.conftest import StartLive, token
from tests.support.live import LiveServer
from tests.support.process import ROOT
from tests.support.redis_server import require

GENERATOR = "openapi-python-client==0.29.1"
TYPESCRIPT = ROOT / "tests" / "openapi_typescript"


def unavailable(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture
def service(live: StartLive) -> LiveServer:
    return live()


@pytest.fixture
def document(service: LiveServer, tmp_path: Path) -> Path:
    path = tmp_path / "openapi.json"
    path.write_bytes(httpx.get(f"{service.url}/openapi.json").content)
    return path


@pytest.fixture(scope="module")
def generator(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generator's virtual environment (created once, kept in the pytest cache; in a
    temporary directory when the cache is off, ``-p no:cacheprovider``)."""
    name = "openapi-python-client-0.29.1"
    cache = getattr(request.config, "cache", None)
    home = Path(cache.mkdir(name)) if cache is not None else tmp_path_factory.mktemp(name)
    binary = home / "bin" / "openapi-python-client"
    if not binary.exists():
        venv.create(home, with_pip=True)
        pip = [str(home / "bin" / "python"), "-m", "pip", "install", "-q", GENERATOR]
        done = subprocess.run(pip, capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            unavailable(f"could not install {GENERATOR}: {done.stderr[-2000:]}")
    return home


USE_THE_CLIENT = """
import json, sys, time
from jobs_client import AuthenticatedClient
from jobs_client.api.jobs import create_job, get_job, list_jobs
from jobs_client.models import ChatInput, CreateChatJob, JobCreated, JobList, JobState

client = AuthenticatedClient(base_url=sys.argv[1], token=sys.argv[2])
body = CreateChatJob(agent="chat", input_=ChatInput(prompt="Hello there"), background=True)
created = create_job.sync(client=client, body=body, idempotency_key="generated-1")
assert isinstance(created, JobCreated), created
deadline = time.monotonic() + 20
while True:
    state = get_job.sync(job_id=created.job_id, client=client)
    assert isinstance(state, JobState), state
    if state.status.value not in ("pending", "running"):
        break
    assert time.monotonic() < deadline, state
    time.sleep(0.1)
page = list_jobs.sync(client=client)
assert isinstance(page, JobList), page
print(json.dumps({
    "jobId": created.job_id,
    "status": state.status.value,
    "result": state.result.to_dict(),
    "outputTokens": state.token_usage.output_tokens,
    "listed": [job.job_id for job in page.jobs],
}))
"""


@pytest.mark.timeout(900)  # installs and runs generators, on a shared machine
def test_openapi_python_client_generates_a_client_that_starts_and_reads_a_job(
    generator: Path, document: Path, service: LiveServer, tmp_path: Path
) -> None:
    out = tmp_path / "jobs_client"
    generate = [
        str(generator / "bin" / "openapi-python-client"), "generate", "--path", str(document),
        "--meta", "none", "--output-path", str(out),
    ]  # fmt: skip
    made = subprocess.run(generate, capture_output=True, text=True, timeout=300, check=False)
    assert made.returncode == 0, made.stdout + made.stderr
    assert (out / "api" / "jobs" / "list_jobs.py").exists()
    # Both custom agents keep their own operations (unique schema titles).
    assert (out / "api" / "agents" / "put_chat_custom_agent.py").exists()
    assert (out / "api" / "agents" / "put_feature_suggestion_custom_agent.py").exists()
    script = tmp_path / "use_client.py"
    script.write_text(USE_THE_CLIENT)
    ran = subprocess.run(
        [str(generator / "bin" / "python"), str(script), service.url, token()],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    seen = json.loads(ran.stdout)
    status = httpx.get(
        f"{service.url}/jobs/{seen['jobId']}", headers={"Authorization": f"Bearer {token()}"}
    ).json()
    assert seen["status"] == status["status"] == "completed"
    assert seen["result"] == status["result"]
    assert seen["result"]["text"]
    assert seen["outputTokens"] == status["tokenUsage"]["outputTokens"]
    assert seen["jobId"] in seen["listed"]


@pytest.mark.timeout(900)  # installs and runs generators, on a shared machine
def test_openapi_typescript_types_the_document_and_a_usage_file_type_checks(
    document: Path,
) -> None:
    npm = require("npm", package="npm")
    require("node", package="nodejs")
    if not (TYPESCRIPT / "node_modules" / "openapi-typescript").is_dir():
        installed = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=TYPESCRIPT, capture_output=True,
            text=True, timeout=600, check=False,
        )  # fmt: skip
        if installed.returncode != 0:
            unavailable(f"npm ci failed in {TYPESCRIPT}: {installed.stderr[-2000:]}")
    bin_dir = TYPESCRIPT / "node_modules" / ".bin"
    types = TYPESCRIPT / "api.d.ts"
    typed = subprocess.run(
        [str(bin_dir / "openapi-typescript"), str(document), "--default-non-nullable", "false",
         "-o", str(types)],
        cwd=TYPESCRIPT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert typed.returncode == 0, typed.stdout + typed.stderr
    try:
        checked = subprocess.run(
            [str(bin_dir / "tsc"), "-p", "tsconfig.json"],
            cwd=TYPESCRIPT, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
    finally:
        types.unlink()
    assert checked.returncode == 0, checked.stdout + checked.stderr
