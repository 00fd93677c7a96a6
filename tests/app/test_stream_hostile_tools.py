"""The model is untrusted: hostile tool calls through the whole service (real SDK, the fake
Messages API, the real workspace tools). What reaches the model's next request must hold no
file content from outside the workspace and no secret; each refusal is an ``is_error``
result, the run goes on, and the client sees the refusal as a failed step."""

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

SECRET = "sk-live-DO-NOT-LEAK-4242"
OUTSIDE = "outside-the-workspace-7373"


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    root = tmp_path / "workspace"
    (root / "src").mkdir(parents=True)
    (root / "src" / "checkout.tsx").write_text("export function Checkout() { return null }\n")
    (root / ".env").write_text(f"API_KEY={SECRET}\n")
    (root / "src" / "server.pem").write_text(f"-----BEGIN PRIVATE KEY-----\n{SECRET}\n")
    (tmp_path / "outside.txt").write_text(f"{OUTSIDE}\n")
    os.symlink(tmp_path / "outside.txt", root / "src" / "link.txt")
    os.symlink(tmp_path, root / "src" / "up")
    return root


HOSTILE_CALLS = [
    ToolCall("Read", {"path": "../outside.txt"}),
    ToolCall("Read", {"path": str(Path("/etc/passwd"))}),
    ToolCall("Read", {"path": ".env"}),
    ToolCall("Read", {"path": "src/server.pem"}),
    ToolCall("Read", {"path": "src/link.txt"}),
    ToolCall("Read", {"path": "src/up/outside.txt"}),
    ToolCall("Grep", {"pattern": "sk-live|outside-the"}),
    ToolCall("Glob", {"pattern": "**/*"}),
    ToolCall("Grep", {"pattern": "(a+)+$"}),
    ToolCall("Read", {"path": 42}),
]


async def test_hostile_calls_never_reach_the_model_or_break_the_run(
    live: StartLive, client: httpx.AsyncClient, fake_anthropic: FakeAnthropic, hostile: Path
) -> None:
    document = json.dumps(SUGGESTIONS)
    fake_anthropic.script(Reply(text="Let me look.", tool_calls=HOSTILE_CALLS), Reply(document))
    with Workspace.open(hostile) as workspace:
        server = start(live, fake_anthropic, workspace=workspace)
        _, stream = await run_job(client, server, "feature-suggestion", FEATURE_INPUT)

    assert stream.events[-1].event == "complete", stream.events[-1].data
    second = fake_anthropic.requests[1]
    results = second.tool_results()
    assert len(results) == len(HOSTILE_CALLS), "every call answered, in order"
    sent = json.dumps(second.body)
    assert SECRET not in sent, "no secret reaches the model"
    assert OUTSIDE not in sent, "nothing from outside the workspace reaches the model"
    assert "root:" not in sent, "no /etc/passwd"
    refused = [r.get("is_error", False) for r in results]
    assert refused[:6] == [True] * 6, "paths out, secrets and links out are refused"
    assert refused[-1] is True, "ill-typed input is refused"
    # The searches ran, bounded, over what may be seen: no secret file listed or matched.
    glob = results[7]["content"]
    assert "src/checkout.tsx" in json.dumps(glob)
    assert ".env" not in json.dumps(glob)
    assert "server.pem" not in json.dumps(glob)
    # The client sees each refusal as a failed step, with no file content in it.
    ends = [e.data for e in stream.of("tool") if e.data["phase"] == "result"]
    assert [end["ok"] for end in ends].count(False) >= 7
    assert SECRET not in json.dumps([e.data for e in stream.events])
    assert OUTSIDE not in json.dumps([e.data for e in stream.events])
