"""The secret rules attacked through the whole service: a live instance, a real Redis, the real
workspace tools, and a model that is either the fake Messages API (through the real SDK)
scripted with the calls an attacker would make, or the demo agent asked about "credentials".

A hard link named ``notsecret.txt`` to the workspace's ``.env``, a hard link to a file outside
the workspace, case variants of secret names (``.ENV``, ``KEY.PEM``, ``ID_RSA``,
``.GIT/config``), and ``.aws/credentials`` / ``.git-credentials``: none of their content may
reach the model's next request or the client's stream.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

from jobs.tools import Workspace
from tests.app.test_stream_anthropic import FEATURE_INPUT, SUGGESTIONS, run_job, start
from tests.conftest import StartLive
from tests.support.fake_anthropic import FakeAnthropic, Reply, ToolCall

pytestmark = pytest.mark.anyio

# Each file holds its own marker, so a leak names the rule that failed.
SECRETS = {
    ".env": "ENV-FILE-2b7d",
    ".ENV": "UPPER-ENV-81c3",
    "certs/KEY.PEM": "UPPER-PEM-4e0a",
    ".ssh/ID_RSA": "UPPER-ID-RSA-9f12",
    ".GIT/config": "UPPER-GIT-CONFIG-77aa",
    ".aws/credentials": "AWS-CREDENTIALS-3c5e",
    ".git-credentials": "GIT-CREDENTIALS-d41f",
    "config/credentials.json": "CREDENTIALS-JSON-0b9c",
}
OUTSIDE = "OUTSIDE-HARD-LINK-6a2e"


@pytest.fixture
def attacked(tmp_path: Path) -> Path:
    root = tmp_path / "workspace"
    (root / "src").mkdir(parents=True)
    (root / "src" / "checkout.tsx").write_text("export function Checkout() { return null }\n")
    (root / "docs").mkdir()
    (root / "docs" / "credentials.md").write_text("How the shop stores credentials: nowhere.\n")
    for rel, marker in SECRETS.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"password = {marker} credentials\n")
    (tmp_path / "outside.txt").write_text(f"{OUTSIDE} credentials\n")
    os.link(root / ".env", root / "notsecret.txt")
    os.link(tmp_path / "outside.txt", root / "src" / "linked.txt")
    return root


def attack_calls(root: Path) -> list[ToolCall]:
    reads = [ToolCall("Read", {"file_path": rel}) for rel in SECRETS]
    reads += [ToolCall("Read", {"file_path": str(root / rel)}) for rel in SECRETS]
    return [
        ToolCall("Read", {"file_path": "notsecret.txt"}),
        ToolCall("Read", {"file_path": "src/linked.txt"}),
        *reads,
        ToolCall("Grep", {"pattern": "password|credentials", "output_mode": "content"}),
        ToolCall("Grep", {"pattern": "password", "output_mode": "content", "glob": "*"}),
        ToolCall(
            "Grep",
            {
                "pattern": "password",
                "output_mode": "content",
                "-i": True,
                "glob": "**/{.env,.ENV,*.PEM,ID_RSA,config,credentials}",
            },
        ),
        ToolCall("Grep", {"pattern": "password", "output_mode": "count"}),
        ToolCall("Grep", {"pattern": "password"}),
        ToolCall("Glob", {"pattern": "**/*"}),
        ToolCall("Glob", {"pattern": "**/.*"}),
    ]


def assert_no_leak(text: str) -> None:
    for rel, marker in SECRETS.items():
        assert marker not in text, f"{rel} leaked"
    assert OUTSIDE not in text, "the file outside the workspace leaked"


async def test_a_model_attacking_the_secret_rules_gets_nothing(
    live: StartLive, client: httpx.AsyncClient, fake_anthropic: FakeAnthropic, attacked: Path
) -> None:
    calls = attack_calls(attacked)
    # The loop runs at most a step's worth of calls at once: split them over steps.
    steps = [calls[i : i + 8] for i in range(0, len(calls), 8)]
    replies = [Reply(text="Looking.", tool_calls=step) for step in steps]
    fake_anthropic.script(*replies, Reply(json.dumps(SUGGESTIONS)))
    with Workspace.open(attacked) as workspace:
        server = start(live, fake_anthropic, workspace=workspace, agent_max_steps=8)
        _, stream = await run_job(client, server, "feature-suggestion", FEATURE_INPUT)

    assert stream.events[-1].event == "complete", stream.events[-1].data
    assert len(fake_anthropic.requests) == len(steps) + 1
    for request in fake_anthropic.requests:
        assert_no_leak(json.dumps(request.body))
    assert_no_leak(json.dumps([e.data for e in stream.events]))
    results = [r for request in fake_anthropic.requests[1:] for r in request.tool_results()]
    assert len(results) == len(calls)
    reads = results[: 2 + 2 * len(SECRETS)]
    assert all(r.get("is_error") for r in reads), "every read of a secret or a link is refused"
    assert "has more than one hard link" in json.dumps(results[0]["content"])
    # The searches ran: the one harmless file about credentials is found, nothing else.
    grep = json.dumps(results[2 + 2 * len(SECRETS)]["content"])
    assert "docs/credentials.md" in grep


async def test_the_demo_agent_asked_about_credentials_reads_no_secret(
    live: StartLive, client: httpx.AsyncClient, attacked: Path
) -> None:
    with Workspace.open(attacked) as workspace:
        server = live(workspace=workspace)
        asked = {"pageOrComponent": "credentials", "featureType": "enhancement",
                 "priorityLevel": "high"}  # fmt: skip
        _, stream = await run_job(client, server, "feature-suggestion", asked)

    assert stream.events[-1].event == "complete", stream.events[-1].data
    assert_no_leak(json.dumps([e.data for e in stream.events]))
    assert_no_leak(stream.text)
    steps = [e.data for e in stream.of("tool") if e.data["phase"] == "result"]
    assert steps, "the demo looked with the tools"
    assert stream.events[-1].data["result"]["context"] == ["docs/credentials.md"]
