"""The log an operator searches: one line for each ending an instance decides (job, owner,
agent, outcome, reason code, runner), and every line about a job names its owner."""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import pytest

from jobs.errors import UpstreamOverloaded
from tests.conftest import StartLive, token
from tests.support.backends import ScriptedBackend
from tests.support.sse import read_stream

pytestmark = pytest.mark.anyio

CHAT = {"agent": "chat", "input": {"prompt": "log me"}}


def entries(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_each_ending_is_one_line_naming_job_owner_code_and_runner(
    live: StartLive, client: httpx.AsyncClient, log_lines: io.StringIO
) -> None:
    server = live()
    failing = live(backend=ScriptedBackend(fail_with=UpstreamOverloaded("busy")))
    bob = {"Authorization": f"Bearer {token('bob')}"}
    done = (await client.post(f"{server.url}/jobs", json=CHAT, headers=bob)).json()
    await read_stream(client, server.url + done["streamUrl"], token=token("bob"))
    broken = (await client.post(f"{failing.url}/jobs", json=CHAT, headers=bob)).json()
    await read_stream(client, failing.url + broken["streamUrl"], token=token("bob"))
    pending = (await client.post(f"{server.url}/jobs", json=CHAT, headers=bob)).json()
    assert (await client.delete(f"{server.url}/jobs/{pending['jobId']}", headers=bob)).is_success
    server.stop()
    failing.stop()

    lines = entries(log_lines)
    endings = {e["job_id"]: e for e in lines if e["logger"] == "jobs.endings"}
    assert set(endings) == {done["jobId"], broken["jobId"], pending["jobId"]}
    ready = [e["instance"] for e in lines if e["message"].startswith("ready:")]
    assert len(set(ready)) == 2
    expected = {
        done["jobId"]: ("completed", "none", "info"),
        broken["jobId"]: ("failed", "UPSTREAM_OVERLOADED", "warning"),
        pending["jobId"]: ("cancelled", "CANCELLED", "info"),
    }
    for job_id, (outcome, code, level) in expected.items():
        line = endings[job_id]
        assert (line["outcome"], line["code"], line["level"]) == (outcome, code, level)
        assert (line["owner"], line["agent"]) == ("bob", "chat")
        assert line["runner"] in ready
        assert job_id in line["message"]
        assert code in line["message"]
    assert endings[done["jobId"]]["runner"] != endings[broken["jobId"]]["runner"]


async def test_every_line_about_a_job_names_its_owner(
    live: StartLive, client: httpx.AsyncClient, log_lines: io.StringIO
) -> None:
    server = live()
    auth = {"Authorization": f"Bearer {token('carol')}"}
    job = (await client.post(f"{server.url}/jobs", json=CHAT, headers=auth)).json()
    await read_stream(client, server.url + job["streamUrl"], token=token("carol"))
    # Another user's request about carol's job is refused: its line names no owner at all,
    # and never the caller as one.
    mallory = {"Authorization": f"Bearer {token('mallory')}"}
    refusal = await client.get(f"{server.url}/jobs/{job['jobId']}", headers=mallory)
    assert refusal.status_code == 403
    server.stop()

    about = [e for e in entries(log_lines) if e.get("job_id") == job["jobId"]]
    assert {"run started", "run completed"} <= {e["message"] for e in about}
    refused = [e for e in about if e.get("status") == 403]
    assert len(refused) == 1
    assert "owner" not in refused[0]
    rest = [e for e in about if e is not refused[0]]
    assert len(rest) >= 5  # create, stream, run started, run completed, the ending
    assert all(e["owner"] == "carol" for e in rest), rest
