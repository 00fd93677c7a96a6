"""The offline demo backend: a small scripted model that calls the real workspace tools (Glob,
Grep, Read), answers from what they returned, loses no text and answers deterministically.

Expected values come from the workspace itself (files written here, or read with pathlib),
never from the demo's code."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobs.agents.feature_suggestion import Suggestions
from jobs.backends import Completion, ModelRequest, TextDelta
from jobs.backends.demo import DemoBackend, split_tokens
from jobs.running.loop import AgentLoop, Outcome, ToolCall, ToolDone
from jobs.tools import Workspace
from jobs.tools.workspace import sample_root
from tests.support.demo import demo_run

FEATURE = {"pageOrComponent": "checkout page", "featureType": "enhancement", "priorityLevel": "low"}
SECRET = "sk-live-7f3c0ffee"


@given(st.text(max_size=300))
def test_split_tokens_loses_nothing(text: str) -> None:
    assert "".join(split_tokens(text)) == text


def mentions(path: Path, word: str) -> bool:
    return word in str(path).lower() or word in path.read_text(errors="replace").lower()


def test_the_demo_finds_and_reads_the_page_in_the_sample_workspace() -> None:
    with Workspace.open(None) as workspace:
        run = demo_run("feature-suggestion", FEATURE, workspace)
    names = [name for name, _ in run.calls]
    assert names[:2] == ["Glob", "Grep"], names
    assert set(names[2:]) == {"Read"}, names
    reads = [str(tool_input["path"]) for name, tool_input in run.calls if name == "Read"]
    root = sample_root()
    assert "src/pages/checkout.tsx" in reads
    assert all(mentions(root / path, "checkout") for path in reads), reads
    assert set(reads) <= set(run.files_read), "context lists the files the demo read"
    document = Suggestions.model_validate_json(run.answer)
    assert len(document.suggestions) == 3, "low priority: the fewest the schema allows"
    text = run.answer
    assert any(path in text for path in reads), "the answer names a file it read"
    assert "CheckoutPage" in text, "a component found in src/pages/checkout.tsx"
    titles = [s.title for s in document.suggestions]
    assert len(set(titles)) == len(titles), titles
    assert run.text.startswith("Looking for the checkout page in the source…\n")
    assert run.text.endswith(run.answer)
    assert 1_000 <= len(run.answer) <= 2_500, "about as long as a model's answer"


def hostile_workspace(root: Path) -> Path:
    (root / "src").mkdir()
    (root / "src" / "Inbox.tsx").write_text(
        "// TODO: paginate the inbox\nexport function InboxList() {\n  return null;\n}\n"
    )
    (root / "docs").mkdir()
    (root / "docs" / "inbox.md").write_text("# Inbox notes\n\nThe inbox lists messages.\n")
    (root / ".env").write_text(f"INBOX_TOKEN={SECRET}\n")
    (root / "inbox.pem").write_text(f"inbox {SECRET}\n")
    (root / ".gitignore").write_text("private/\n")
    (root / "private").mkdir()
    (root / "private" / "inbox-keys.txt").write_text(f"inbox {SECRET}\n")
    return root


def test_the_demo_answers_from_what_it_read_and_never_leaks_a_secret(tmp_path: Path) -> None:
    raw = FEATURE | {"pageOrComponent": "inbox", "priorityLevel": "critical"}
    with Workspace.open(hostile_workspace(tmp_path)) as workspace:
        run = demo_run("feature-suggestion", raw, workspace)
    reads = {str(tool_input["path"]) for name, tool_input in run.calls if name == "Read"}
    assert reads == {"src/Inbox.tsx", "docs/inbox.md"}
    assert "paginate the inbox" in run.answer, "a TODO comment it read"
    assert "InboxList" in run.answer, "a function it read"
    document = Suggestions.model_validate_json(run.answer)
    assert len(document.suggestions) == 5, "critical priority: the most the schema allows"
    titles = [s.title for s in document.suggestions]
    assert len(set(titles)) == len(titles), titles
    everything = run.text + json.dumps(run.calls) + json.dumps(run.files_read)
    assert SECRET not in everything
    assert not {".env", "inbox.pem", "private/inbox-keys.txt"} & set(run.files_read)


def test_the_demo_is_deterministic_and_answers_each_subject_differently() -> None:
    with Workspace.open(None) as workspace:
        one = demo_run("feature-suggestion", FEATURE, workspace)
        again = demo_run("feature-suggestion", FEATURE, workspace)
        other = demo_run("feature-suggestion", FEATURE | {"pageOrComponent": "cart"}, workspace)
    assert one == again
    assert other.text != one.text
    assert any("cart" in str(tool_input).lower() for _, tool_input in other.calls)


@pytest.mark.parametrize("priority", ["low", "medium", "high", "critical"])
def test_the_demo_never_repeats_a_title(priority: str) -> None:
    with Workspace.open(None) as workspace:
        for page in ("checkout page", "search bar", "footer", "product card", "orders"):
            raw = FEATURE | {"pageOrComponent": page, "priorityLevel": priority}
            for tools in (workspace, None):
                answer = demo_run("feature-suggestion", raw, tools).answer
                titles = [s.title for s in Suggestions.model_validate_json(answer).suggestions]
                assert len(set(titles)) == len(titles), titles


def test_without_tools_the_demo_answers_in_one_step() -> None:
    run = demo_run("feature-suggestion", FEATURE, None)
    assert run.calls == ()
    assert run.files_read == ()
    assert run.text == run.answer
    document = Suggestions.model_validate_json(run.answer)
    assert "checkout page" in document.suggestions[0].rationale
    chat = demo_run("chat", {"prompt": "What is a resumable stream?"}, None)
    assert chat.calls == ()
    assert chat.text.startswith('You asked: "What is a resumable stream?"')


async def collect(request: ModelRequest, workspace: Workspace | None) -> list[Any]:
    loop = AgentLoop(DemoBackend(tokens_per_second=1e9), workspace, max_steps=8)
    return [event async for event in loop.run(request, ("Grep", "Read"))]


def test_a_plain_text_request_with_tools_reads_then_names_what_it_read(tmp_path: Path) -> None:
    with Workspace.open(hostile_workspace(tmp_path)) as workspace:
        request = ModelRequest(
            model="demo",
            system="s",
            prompt="Explain the inbox, please.",
            max_tokens=1000,
            tools=tuple(workspace.definitions(["Grep", "Read"])),
        )
        events = asyncio.run(collect(request, workspace))
    kinds = [type(e).__name__ for e in events]
    first_call = kinds.index("ToolCall")
    assert kinds[0] == "TextDelta", "the step's text comes before its calls"
    assert "ToolDone" in kinds[first_call:]
    calls = [e.use for e in events if isinstance(e, ToolCall)]
    assert calls[0].name == "Grep", "no Glob: it was not offered"
    done = {e.use.id for e in events if isinstance(e, ToolDone)}
    assert {c.id for c in calls} == done, "every call ended"
    outcome = events[-1]
    assert isinstance(outcome, Outcome)
    assert outcome.steps == 3
    assert "src/Inbox.tsx" in outcome.text
    assert "InboxList" in outcome.text
    assert SECRET not in outcome.text


def test_the_demo_honours_max_tokens_roughly() -> None:
    request = ModelRequest(model="demo", system="s", prompt="Say a lot.", max_tokens=5)

    async def stream() -> list[Any]:
        backend = DemoBackend(tokens_per_second=1e9)
        return [event async for event in backend.stream(request)]

    *deltas, completion = asyncio.run(stream())
    text = "".join(d.text for d in deltas if isinstance(d, TextDelta))
    assert 0 < len(text) <= 20
    assert isinstance(completion, Completion)
    assert completion.cut_short
    assert completion.stop_reason == "max_tokens"
    assert completion.usage.output_tokens == len(deltas)


def test_the_subject_comes_from_the_prompt_not_from_an_agent() -> None:
    request = ModelRequest(
        model="demo",
        system="s",
        prompt="Review the accessibility of: product card\n\nMore words here.",
        max_tokens=1000,
        tools=({"name": "Glob"},),
    )

    async def first_step() -> list[Any]:
        return [e async for e in DemoBackend(tokens_per_second=1e9).stream(request)]

    events = asyncio.run(first_step())
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == "Looking for the product card in the source…\n"
    (glob,) = [e for e in events if not isinstance(e, TextDelta | Completion)]
    assert re.search(r"product", json.dumps(glob.input), re.IGNORECASE)
