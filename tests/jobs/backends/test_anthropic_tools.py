"""The anthropic backend with tools: the real SDK against the fake Messages API, which streams
``tool_use`` blocks as the API does and checks the conversation as the API does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from jobs.agents.feature_suggestion import Suggestions
from jobs.backends import (
    AssistantTurn,
    BackendEvent,
    Completion,
    ModelRequest,
    TextBlock,
    TextDelta,
    ToolResultBlock,
    ToolResults,
    ToolUse,
)
from jobs.backends.anthropic import AnthropicBackend
from jobs.errors import AgentFailed, RunError
from tests.support.fake_anthropic import API_KEY, FakeAnthropic, Reply, ToolCall, Usage

pytestmark = pytest.mark.anyio

GLOB = {
    "name": "Glob",
    "description": "Find files by pattern.",
    "input_schema": {
        "type": "object",
        "properties": {"pattern": {"type": "string"}},
        "required": ["pattern"],
    },
}
READ = {
    "name": "Read",
    "description": "Read a file.",
    "input_schema": {
        "type": "object",
        "properties": {"path": {"type": "string"}},
        "required": ["path"],
    },
}
REQUEST = ModelRequest(
    model="claude-sonnet-5-5",
    system="Look before you answer.",
    prompt="What is on the checkout page?",
    max_tokens=500,
    tools=(GLOB, READ),
)


@pytest.fixture
async def backend(fake_anthropic: FakeAnthropic) -> AsyncIterator[AnthropicBackend]:
    made = AnthropicBackend(
        api_key=API_KEY,
        default_model="claude-sonnet-5-5",
        base_url=fake_anthropic.url,
        timeout_s=5.0,
        max_retries=0,
    )
    try:
        yield made
    finally:
        await made.aclose()


async def events(backend: AnthropicBackend, request: ModelRequest) -> list[BackendEvent]:
    return [item async for item in backend.stream(request)]


async def test_tool_calls_stream_as_complete_tool_uses_in_order(
    backend: AnthropicBackend, fake_anthropic: FakeAnthropic
) -> None:
    pattern = {"pattern": "src/**/checkout*.tsx", "nested": {"é": ["ü", 1, None, True]}}
    fake_anthropic.script(
        Reply(
            text="Let me look.",
            tool_calls=[
                # Pieces that split the JSON inside strings, escapes and multi-byte characters.
                ToolCall(
                    "Glob",
                    pattern,
                    json_chunks=[
                        '{"pat',
                        'tern":"src/**/ch',
                        'eckout*.tsx",',
                        '"nested":{"\\u00',
                        'e9":["ü",1,nu',
                        "ll,true]}}",
                    ],
                ),
                ToolCall("Read", {"path": "src/pages/checkout.tsx"}),
            ],
            usage=Usage(input_tokens=120, output_tokens=40, cache_read_input_tokens=100),
        )
    )
    got = await events(backend, REQUEST)

    (seen,) = fake_anthropic.requests
    first, second = seen.tool_uses
    assert first["id"].startswith("toolu_")
    assert first["id"] != second["id"]
    texts = [item for item in got if isinstance(item, TextDelta)]
    assert "".join(t.text for t in texts) == "Let me look."
    uses = [item for item in got if isinstance(item, ToolUse)]
    assert uses == [
        ToolUse(first["id"], "Glob", pattern),
        ToolUse(second["id"], "Read", {"path": "src/pages/checkout.tsx"}),
    ]
    assert got.index(uses[0]) > got.index(texts[-1]), "the order the model wrote them in"
    completion = got[-1]
    assert isinstance(completion, Completion)
    assert completion.stop_reason == "tool_use"
    assert not completion.cut_short
    assert completion.usage.input_tokens == 120
    assert completion.usage.cache_read_input_tokens == 100
    assert seen.body["tools"] == [GLOB, READ]


async def test_a_reply_that_is_only_a_tool_call_has_no_text(
    backend: AnthropicBackend, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(Reply(text="", tool_calls=[ToolCall("Glob", {"pattern": "*"})]))
    got = await events(backend, REQUEST)
    assert [type(item) for item in got] == [ToolUse, Completion]


async def test_later_turns_carry_the_calls_and_their_results(
    backend: AnthropicBackend, fake_anthropic: FakeAnthropic
) -> None:
    turns = (
        AssistantTurn(
            (
                TextBlock("Let me look."),
                ToolUse("toolu_01A", "Glob", {"pattern": "*.tsx"}),
                ToolUse("toolu_01B", "Read", {"path": "../etc/passwd"}),
            )
        ),
        ToolResults(
            (
                ToolResultBlock("toolu_01A", "src/checkout.tsx"),
                ToolResultBlock("toolu_01B", "path is outside the workspace", is_error=True),
            )
        ),
        AssistantTurn((TextBlock(""), ToolUse("toolu_01C", "Read", {"path": "src/checkout.tsx"}))),
        ToolResults((ToolResultBlock("toolu_01C", "export function Checkout() {}"),)),
    )
    fake_anthropic.script(Reply(text="It renders a form."))
    got = await events(backend, replace(REQUEST, turns=turns))
    assert "".join(item.text for item in got if isinstance(item, TextDelta)) == "It renders a form."

    (seen,) = fake_anthropic.requests
    assert seen.messages == [
        {"role": "user", "content": "What is on the checkout page?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "toolu_01A", "name": "Glob",
                 "input": {"pattern": "*.tsx"}},
                {"type": "tool_use", "id": "toolu_01B", "name": "Read",
                 "input": {"path": "../etc/passwd"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "src/checkout.tsx"},
                {"type": "tool_result", "tool_use_id": "toolu_01B",
                 "content": "path is outside the workspace", "is_error": True},
            ],
        },
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_01C", "name": "Read",
                         "input": {"path": "src/checkout.tsx"}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_01C",
                         "content": "export function Checkout() {}"}],
        },
    ]  # fmt: skip


async def test_structured_output_and_tools_go_in_one_request(
    backend: AnthropicBackend, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(Reply(text="", tool_calls=[ToolCall("Glob", {"pattern": "*"})]))
    await events(backend, replace(REQUEST, output_schema=Suggestions))
    (seen,) = fake_anthropic.requests
    assert seen.body["output_config"]["format"]["type"] == "json_schema"
    assert [tool["name"] for tool in seen.body["tools"]] == ["Glob", "Read"]


async def test_no_tools_sends_no_tools(
    backend: AnthropicBackend, fake_anthropic: FakeAnthropic
) -> None:
    await events(backend, replace(REQUEST, tools=()))
    assert "tools" not in fake_anthropic.requests[0].body


async def test_tool_input_that_is_not_json_is_an_agent_error(
    backend: AnthropicBackend, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(
        Reply(text="", tool_calls=[ToolCall("Glob", {}, json_chunks=['{"pattern": ', "]]"])])
    )
    with pytest.raises(RunError) as caught:
        await events(backend, REQUEST)
    assert isinstance(caught.value, AgentFailed)
    assert "not valid JSON" in caught.value.message


@pytest.mark.parametrize(
    ("messages", "problem"),
    [
        (
            [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "toolu_1", "name": "Glob", "input": {}}]},
                {"role": "user", "content": "no results"},
            ],
            "without `tool_result` blocks",
        ),
        (
            [
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_9", "content": "x"}]},
            ],
            "unexpected `tool_use_id`",
        ),
        ([{"role": "assistant", "content": "hi"}], "roles must alternate"),
    ],
)  # fmt: skip
async def test_the_fake_refuses_what_the_api_refuses(
    fake_anthropic: FakeAnthropic, messages: list[dict[str, Any]], problem: str
) -> None:
    """The fake's checks can fail: a conversation the API refuses is refused here too, so the
    tests above prove the backend sends what the API accepts."""
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{fake_anthropic.url}/v1/messages",
            headers={"x-api-key": API_KEY, "anthropic-version": "2023-06-01"},
            json={"model": "m", "max_tokens": 5, "stream": True, "messages": messages,
                  "tools": [GLOB]},
        )  # fmt: skip
    assert response.status_code == 400
    assert problem in response.json()["error"]["message"]
