"""Agents that act, end to end: the live service, a real Redis, the real anthropic SDK against
the fake Messages API (which streams tool calls as the API does and records every request),
and a fake workspace toolbox. Every scenario is read over a real SSE socket."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest
from prometheus_client import REGISTRY

from jobs.client import JobsClient, Tool
from jobs.client.resume import Complete, Delta
from jobs.schemas import CompleteEvent, ToolEvent
from tests.app.test_stream_anthropic import FEATURE_INPUT, SUGGESTIONS, job_status, run_job, start
from tests.conftest import StartLive, token
from tests.support.fake_anthropic import FakeAnthropic, Reply, ToolCall, Usage
from tests.support.sse import Stream, read_stream
from tests.support.tools import FakeToolbox

pytestmark = pytest.mark.anyio

PAGE = "src/pages/checkout.tsx"
STYLES = "src/styles/checkout.css"
CALL_KEYS = {"id", "name", "phase", "input", "timestamp"}
RESULT_KEYS = {"id", "name", "phase", "ok", "summary", "durationMs", "timestamp"}


def script_three_steps(fake: FakeAnthropic) -> tuple[Reply, Reply, Reply, str]:
    document = json.dumps(SUGGESTIONS, indent=2, ensure_ascii=False)
    first = Reply(
        text="I will read the checkout page and its styles first.",
        tool_calls=[
            # The page answers only once the styles have: the two calls must run at once.
            ToolCall("Read", {"path": PAGE, "after": STYLES}),
            ToolCall("Read", {"path": STYLES}),
        ],
        usage=Usage(input_tokens=500, output_tokens=60, cache_creation_input_tokens=400),
    )
    second = Reply(
        text="",
        tool_calls=[ToolCall("Grep", {"pattern": "(a+)+$", "refuse": "pattern too costly"})],
        usage=Usage(input_tokens=700, output_tokens=30, cache_read_input_tokens=400),
    )
    third = Reply(text=document, usage=Usage(input_tokens=900, output_tokens=800,
                                             cache_read_input_tokens=400))  # fmt: skip
    fake.script(first, second, third)
    return first, second, third, document


def tool_events(stream: Stream) -> list[tuple[str, str]]:
    return [(e.data["phase"], e.data["id"]) for e in stream.of("tool")]


async def test_a_multi_step_run_streams_every_step_in_order_and_sends_the_results_back(
    live: StartLive, client: httpx.AsyncClient, fake_anthropic: FakeAnthropic
) -> None:
    first, _, _, document = script_three_steps(fake_anthropic)
    toolbox = FakeToolbox()
    # A long throttle window: without a flush before each tool event, the first step's text
    # would still be buffered when its tool calls are stored.
    server = start(live, fake_anthropic, stream_throttle_ms=2000, workspace=toolbox)
    job_id, stream = await run_job(client, server, "feature-suggestion", FEATURE_INPUT)

    complete = stream.events[-1]
    assert complete.event == "complete", complete.data
    assert complete.data["result"] == SUGGESTIONS | {"context": [PAGE, STYLES]}
    assert complete.data["steps"] == 3
    assert complete.data["toolCalls"] == 3
    assert complete.data["tokenUsage"] == {
        "inputTokens": 500 + 700 + 900,
        "outputTokens": 60 + 30 + 800,
        "cacheReadInputTokens": 800,
        "cacheCreationInputTokens": 400,
    }
    # Sonnet's list prices per million tokens: $3 input, $15 output, $3.75 cache writes,
    # $0.30 cache reads: 2100 x 3 + 890 x 15 + 400 x 3.75 + 800 x 0.30 = 21,390 micro-dollars.
    assert complete.data["costUsd"] == 0.02139
    CompleteEvent.model_validate(complete.data)
    # Every step marks its prefix (system, tools, the turns so far) for the prompt cache.
    assert [r.body.get("cache_control") for r in fake_anthropic.requests] == [
        {"type": "ephemeral"}
    ] * 3
    assert stream.text == first.text + document, "every step's text, nothing lost"
    assert complete.data["totalLength"] == len(stream.text)

    # What the model was sent: the tools, then each step's calls answered in call order.
    one, two, three = fake_anthropic.requests
    assert [tool["name"] for tool in one.body["tools"]] == ["Glob", "Grep", "Read"]
    assert one.body["output_config"]["format"]["type"] == "json_schema"
    page_id, styles_id = (use["id"] for use in one.tool_uses)
    assert two.messages[1] == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": first.text},
            {"type": "tool_use", "id": page_id, "name": "Read",
             "input": {"path": PAGE, "after": STYLES}},
            {"type": "tool_use", "id": styles_id, "name": "Read", "input": {"path": STYLES}},
        ],
    }  # fmt: skip
    assert two.tool_results() == [
        {"type": "tool_result", "tool_use_id": page_id, "content": f"<contents of {PAGE}>"},
        {"type": "tool_result", "tool_use_id": styles_id, "content": f"<contents of {STYLES}>"},
    ]
    (grep_id,) = (use["id"] for use in two.tool_uses)
    assert three.tool_results() == [
        {"type": "tool_result", "tool_use_id": grep_id,
         "content": "refused: pattern too costly", "is_error": True},
    ]  # fmt: skip
    assert len(three.messages) == 5, "the whole conversation, each time"

    # What the user saw: each call and its result, in the run's order.
    steps = tool_events(stream)
    assert steps[:2] == [("call", page_id), ("call", styles_id)]
    assert sorted(steps[2:4]) == [("result", page_id), ("result", styles_id)]
    assert steps[4:] == [("call", grep_id), ("result", grep_id)]
    names = [e.event for e in stream.events]
    first_tool, last_tool = names.index("tool"), len(names) - 1 - names[::-1].index("tool")
    before = "".join(e.data["text"] for e in stream.events[:first_tool] if e.event == "delta")
    assert before == first.text, "the text written before the calls comes before them"
    after = "".join(e.data["text"] for e in stream.events[last_tool:] if e.event == "delta")
    assert after == document
    for event in stream.of("tool"):
        ToolEvent.model_validate(event.data)
        keys = CALL_KEYS if event.data["phase"] == "call" else RESULT_KEYS
        assert set(event.data) == keys
    calls = {e.data["id"]: e.data for e in stream.of("tool") if e.data["phase"] == "call"}
    assert calls[grep_id]["input"] == {"pattern": "(a+)+$", "refuse": "pattern too costly"}
    results = {e.data["id"]: e.data for e in stream.of("tool") if e.data["phase"] == "result"}
    assert results[page_id]["ok"] is True
    assert results[page_id]["summary"] == f"read {PAGE}"
    assert results[grep_id]["ok"] is False
    assert all(r["durationMs"] >= 0 for r in results.values())

    # Resuming after a tool event replays exactly what followed it.
    at = next(i for i, e in enumerate(stream.events) if e.event == "tool")
    resumed = await read_stream(
        client,
        f"{server.url}/jobs/{job_id}/stream",
        token=token(),
        headers={"Last-Event-ID": stream.events[at].id},
    )
    assert resumed.status_code == 200
    assert resumed.events[0].event == "connected"
    assert resumed.events[1:] == stream.events[at + 1 :]


async def test_the_python_client_reads_tool_events_and_resumes_after_one(
    live: StartLive, fake_anthropic: FakeAnthropic
) -> None:
    script_three_steps(fake_anthropic)
    server = start(live, fake_anthropic, workspace=FakeToolbox())
    async with JobsClient(server.url, token=token()) as jobs:
        job = await jobs.start("feature-suggestion", FEATURE_INPUT)
        events = [event async for event in jobs.events(job.job_id)]
        tools = [event for event in events if isinstance(event, Tool)]
        assert [tool.phase for tool in tools] == ["call", "call", "result", "result", "call",
                                                  "result"]  # fmt: skip
        assert all(tool.event_id and tool.event_id != tool.id for tool in tools)
        assert tools[0].id.startswith("toolu_")
        complete = events[-1]
        assert isinstance(complete, Complete)
        assert (complete.steps, complete.tool_calls) == (3, 3)

        replay = [e async for e in jobs.events(job.job_id, last_event_id=tools[2].event_id)]
        expected = events[events.index(tools[2]) + 1 :]
        assert [type(e) for e in replay[1:]] == [type(e) for e in expected]
        assert [
            e.event_id if isinstance(e, Tool) else e.id
            for e in replay[1:]
            if isinstance(e, Tool | Delta | Complete)
        ] == [
            e.event_id if isinstance(e, Tool) else e.id
            for e in expected
            if isinstance(e, Tool | Delta | Complete)
        ]


async def test_a_model_that_never_stops_calling_tools_ends_at_the_step_limit(
    live: StartLive, client: httpx.AsyncClient, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(Reply(text="", tool_calls=[ToolCall("Glob", {"path": "**/*"})]))
    toolbox = FakeToolbox()
    server = start(live, fake_anthropic, agent_max_steps=3, workspace=toolbox)
    job_id, stream = await run_job(client, server, "feature-suggestion", FEATURE_INPUT)

    error = stream.events[-1]
    assert error.event == "error"
    assert error.data["code"] == "AGENT_MAX_STEPS"
    assert error.data["retryable"] is False
    assert "AGENT_MAX_STEPS" in error.data["message"]
    assert len(fake_anthropic.requests) == 3
    assert len(toolbox.calls) == 2, "the last step's call is not run"
    assert [phase for phase, _ in tool_events(stream)] == ["call", "result"] * 2
    status = await job_status(client, server, job_id)
    assert status["status"] == "failed"
    assert status["error"]["code"] == "AGENT_MAX_STEPS"


async def test_cancel_during_a_tool_call_ends_the_run_and_cancels_the_tool(
    live: StartLive, client: httpx.AsyncClient, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(Reply(text="Reading.", tool_calls=[ToolCall("Read", {"block": True})]))
    toolbox = FakeToolbox()
    server = start(live, fake_anthropic, workspace=toolbox)
    auth = {"Authorization": f"Bearer {token()}"}
    response = await client.post(
        f"{server.url}/jobs", json={"agent": "feature-suggestion", "input": FEATURE_INPUT},
        headers=auth,
    )  # fmt: skip
    job = response.json()
    streams: list[Stream] = []

    async def watch() -> None:
        streams.append(await read_stream(client, server.url + job["streamUrl"], token=token()))

    async with anyio.create_task_group() as group:
        group.start_soon(watch)
        assert await anyio.to_thread.run_sync(toolbox.started.wait, 10), "the tool runs"
        deleted = await client.delete(f"{server.url}/jobs/{job['jobId']}", headers=auth)
        assert deleted.status_code == 204

    (stream,) = streams
    assert stream.events[-1].event == "error"
    assert stream.events[-1].data["code"] == "CANCELLED"
    assert tool_events(stream) == [("call", fake_anthropic.requests[0].tool_uses[0]["id"])]
    assert await anyio.to_thread.run_sync(toolbox.cancelled.wait, 10), "the tool was cancelled"
    assert len(fake_anthropic.requests) == 1, "no further model call"
    assert (await job_status(client, server, job["jobId"]))["status"] == "cancelled"


async def test_chat_uses_no_tools_even_with_a_workspace(
    live: StartLive, client: httpx.AsyncClient, fake_anthropic: FakeAnthropic
) -> None:
    toolbox = FakeToolbox()
    server = start(live, fake_anthropic, workspace=toolbox)
    _, stream = await run_job(client, server, "chat", {"prompt": "hi"})
    complete: dict[str, Any] = stream.events[-1].data
    assert (complete["steps"], complete["toolCalls"]) == (1, 0)
    assert complete["result"] == {"text": Reply().text}
    assert "tools" not in fake_anthropic.requests[0].body
    assert stream.of("tool") == []
    assert toolbox.calls == []


async def test_a_deployment_without_a_workspace_offers_the_model_no_tools(
    live: StartLive, client: httpx.AsyncClient, fake_anthropic: FakeAnthropic
) -> None:
    """Real auth and no ``AGENT_WORKSPACE``: the sample shop is not a real product's source,
    so agents run without tools rather than read it (dev mode alone gets the sample)."""
    document = json.dumps(SUGGESTIONS, indent=2)
    fake_anthropic.script(Reply(text=document))
    server = start(live, fake_anthropic, agent_workspace=None)
    _, stream = await run_job(client, server, "feature-suggestion", FEATURE_INPUT)

    complete = stream.events[-1]
    assert complete.event == "complete", complete.data
    assert (complete.data["steps"], complete.data["toolCalls"]) == (1, 0)
    assert complete.data["result"]["context"] == []
    assert stream.of("tool") == []
    (request,) = fake_anthropic.requests
    assert "tools" not in request.body
    assert stream.text == document


async def test_model_prices_override_the_table_and_metrics_count_tokens_by_kind_and_cost(
    live: StartLive, client: httpx.AsyncClient, fake_anthropic: FakeAnthropic
) -> None:
    script_three_steps(fake_anthropic)
    price = {"input": 1, "output": 2, "cache_write": 10, "cache_read": 100}
    server = start(
        live, fake_anthropic, workspace=FakeToolbox(), model_prices={"claude-sonnet-5-5": price}
    )
    model = "claude-sonnet-5-5"

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    kinds = ("input", "output", "cache_read", "cache_write")
    before = {k: sample("jobs_upstream_tokens_total", model=model, direction=k) for k in kinds}
    cost_before = sample("jobs_run_cost_usd_total", agent="feature-suggestion", model=model)
    job_id, stream = await run_job(client, server, "feature-suggestion", FEATURE_INPUT)

    complete = stream.events[-1].data
    # 2100 x 1 + 890 x 2 + 400 x 10 + 800 x 100 = 87,880 micro-dollars.
    assert complete["costUsd"] == 0.08788
    # The finished job's record keeps it: GET /jobs/{id} and its item in GET /jobs.
    assert (await job_status(client, server, job_id))["costUsd"] == 0.08788
    listed = await client.get(f"{server.url}/jobs", headers={"Authorization": f"Bearer {token()}"})
    (item,) = [job for job in listed.json()["jobs"] if job["jobId"] == job_id]
    assert item["costUsd"] == 0.08788
    after = {k: sample("jobs_upstream_tokens_total", model=model, direction=k) for k in kinds}
    assert {k: after[k] - before[k] for k in kinds} == {
        "input": 2100, "output": 890, "cache_read": 800, "cache_write": 400
    }  # fmt: skip
    cost = sample("jobs_run_cost_usd_total", agent="feature-suggestion", model=model)
    assert round(cost - cost_before, 6) == 0.08788
