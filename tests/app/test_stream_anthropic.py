"""Real Claude's path end to end: the live service, a real Redis, the real anthropic SDK, and
the fake Messages API behind ``ANTHROPIC_BASE_URL``. Every scenario is read over a real SSE
socket and compared with what the fake sent."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
import redis

from jobs.redis.keys import Keys
from tests.conftest import StartLive, token
from tests.support.fake_anthropic import API_KEY, FakeAnthropic, Reply, Usage
from tests.support.live import LiveServer
from tests.support.sse import Stream, read_stream

KEYS = Keys("jobs")

pytestmark = pytest.mark.anyio

FEATURE_INPUT = {
    "pageOrComponent": "checkout page",
    "featureType": "ui-improvement",
    "priorityLevel": "critical",
    "additionalContext": "Most buyers are on phones.",
}

SUGGESTIONS = {
    "suggestions": [
        {
            "title": f"Idea {n}",
            "rationale": f"Because {n}",
            "description": f"Build {n} — with “quotes” and \\ backslashes",
            "implementationConsiderations": [f"consider {n}a", f"consider {n}b"],
        }
        for n in range(1, 5)
    ]
}


def start(live: StartLive, fake: FakeAnthropic, **settings: Any) -> LiveServer:
    values: dict[str, Any] = {
        "agent_backend": "anthropic",
        "anthropic_base_url": fake.url,
        "anthropic_api_key": API_KEY,
        "anthropic_max_retries": 0,
    }
    return live(**(values | settings))


async def run_job(
    client: httpx.AsyncClient, server: LiveServer, agent: str, agent_input: dict[str, Any]
) -> tuple[str, Stream]:
    response = await client.post(
        f"{server.url}/jobs",
        json={"agent": agent, "input": agent_input},
        headers={"Authorization": f"Bearer {token()}"},
    )
    assert response.status_code == 201, response.text
    job = response.json()
    return job["jobId"], await read_stream(client, server.url + job["streamUrl"], token=token())


async def job_status(client: httpx.AsyncClient, server: LiveServer, job_id: str) -> dict[str, Any]:
    response = await client.get(
        f"{server.url}/jobs/{job_id}", headers={"Authorization": f"Bearer {token()}"}
    )
    assert response.status_code == 200, response.text
    status: dict[str, Any] = response.json()
    return status


def no_key_anywhere(stream: Stream, caplog: pytest.LogCaptureFixture) -> None:
    for event in stream.events:
        assert API_KEY not in json.dumps(event.data)
    assert API_KEY not in caplog.text


async def test_chat_streams_claude_exactly_with_its_usage(
    live: StartLive,
    client: httpx.AsyncClient,
    fake_anthropic: FakeAnthropic,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    reply = Reply(
        text="Bonjour! Here is a line.\nAnd “another” — with emoji 🙂 and data: lines\n\n.",
        interval_s=0.003,
        usage=Usage(input_tokens=40, output_tokens=23, cache_read_input_tokens=16,
                    cache_creation_input_tokens=4),
        model="claude-sonnet-5-5-20991231",
    )  # fmt: skip
    fake_anthropic.script(reply)
    server = start(live, fake_anthropic, allowed_models="claude-sonnet-5-5,claude-haiku-5-5")
    chat = {"prompt": "Say hello", "system": "Be French.", "maxTokens": 77,
            "model": "claude-haiku-5-5"}  # fmt: skip
    _, stream = await run_job(client, server, "chat", chat)

    complete = stream.events[-1]
    assert complete.event == "complete", complete.data
    assert stream.text == reply.text, "the reassembled deltas are exactly the fake's text"
    assert len(stream.of("delta")) > 1
    assert complete.data["result"] == {"text": reply.text}
    assert complete.data["totalLength"] == len(reply.text)
    assert complete.data["tokenUsage"] == {
        "inputTokens": 40,
        "outputTokens": 23,
        "cacheReadInputTokens": 16,
        "cacheCreationInputTokens": 4,
    }
    assert complete.data["model"] == "claude-sonnet-5-5-20991231", "the model that answered"
    assert complete.data["stopReason"] == "end_turn"
    assert complete.data["executionTimeMs"] >= 0

    (seen,) = fake_anthropic.requests
    assert seen.headers["authorization"] == f"Bearer {API_KEY}"
    assert seen.body["model"] == "claude-haiku-5-5"
    assert seen.body["system"] == "Be French."
    assert seen.body["max_tokens"] == 77
    assert seen.body["messages"] == [{"role": "user", "content": "Say hello"}]
    assert "output_config" not in seen.body
    no_key_anywhere(stream, caplog)


async def test_the_key_alone_selects_the_anthropic_backend(
    live: StartLive, client: httpx.AsyncClient, fake_anthropic: FakeAnthropic
) -> None:
    server = live(anthropic_base_url=fake_anthropic.url, anthropic_api_key=API_KEY)
    _, stream = await run_job(client, server, "chat", {"prompt": "hi"})
    assert stream.text == Reply().text
    assert stream.events[-1].data["model"] == "claude-sonnet-5-5", "the default model"
    assert fake_anthropic.requests[0].body["model"] == "claude-sonnet-5-5"


async def test_long_output_arrives_whole(
    live: StartLive, client: httpx.AsyncClient, fake_anthropic: FakeAnthropic
) -> None:
    text = "".join(f'line {n}: é✓🙂 "quoted" \\ {{json}}\r\n' for n in range(600))
    fake_anthropic.script(Reply(text=text, usage=Usage(10, 4000)))
    server = start(live, fake_anthropic)
    _, stream = await run_job(client, server, "chat", {"prompt": "a lot", "maxTokens": 8192})
    assert stream.text == text
    assert stream.events[-1].data["totalLength"] == len(text)
    assert stream.events[-1].data["tokenUsage"] == {"inputTokens": 10, "outputTokens": 4000}


async def test_feature_suggestions_are_structured_and_validated(
    live: StartLive, client: httpx.AsyncClient, fake_anthropic: FakeAnthropic
) -> None:
    document = json.dumps(SUGGESTIONS, indent=2, ensure_ascii=False)
    fake_anthropic.script(Reply(text=document))
    server = start(live, fake_anthropic)
    _, stream = await run_job(client, server, "feature-suggestion", FEATURE_INPUT)

    assert stream.text == document, "the JSON document streamed as it was written"
    assert stream.events[-1].event == "complete"
    assert stream.events[-1].data["result"] == SUGGESTIONS | {"context": []}, "no workspace"

    (seen,) = fake_anthropic.requests
    assert seen.body["output_config"]["format"]["type"] == "json_schema"
    prompt = seen.body["messages"][0]["content"]
    for expected in ("checkout page", "ui improvement", "critical", "Most buyers are on phones."):
        assert expected in prompt
    assert "3 to 5" in prompt


async def test_suggestions_that_do_not_validate_end_output_invalid(
    live: StartLive, client: httpx.AsyncClient, fake_anthropic: FakeAnthropic
) -> None:
    too_few = json.dumps({"suggestions": SUGGESTIONS["suggestions"][:2]})
    fake_anthropic.script(Reply(text=too_few))
    server = start(live, fake_anthropic)
    job_id, stream = await run_job(client, server, "feature-suggestion", FEATURE_INPUT)

    assert stream.of("complete") == [], "never a half-parsed result"
    assert stream.events[-1].event == "error"
    assert stream.events[-1].data["code"] == "OUTPUT_INVALID"
    assert stream.text == too_few, "what the model said was still delivered"
    status = await job_status(client, server, job_id)
    assert status["status"] == "failed"
    assert status["error"]["code"] == "OUTPUT_INVALID"


async def test_a_max_tokens_stop_is_reported_on_chat(
    live: StartLive, client: httpx.AsyncClient, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(Reply(text="The answer was cut", stop_reason="max_tokens"))
    server = start(live, fake_anthropic)
    _, stream = await run_job(client, server, "chat", {"prompt": "long", "maxTokens": 5})
    complete = stream.events[-1]
    assert complete.event == "complete"
    assert complete.data["stopReason"] == "max_tokens"
    assert complete.data["result"] == {"text": "The answer was cut"}


async def test_a_max_tokens_stop_on_suggestions_is_output_invalid_and_says_so(
    live: StartLive, client: httpx.AsyncClient, fake_anthropic: FakeAnthropic
) -> None:
    truncated = json.dumps(SUGGESTIONS, indent=2)[:300]
    fake_anthropic.script(Reply(text=truncated, stop_reason="max_tokens"))
    server = start(live, fake_anthropic)
    job_id, stream = await run_job(client, server, "feature-suggestion", FEATURE_INPUT)
    error = stream.events[-1]
    assert error.event == "error"
    assert error.data["code"] == "OUTPUT_INVALID"
    assert "max_tokens" in error.data["message"]
    assert stream.text == truncated
    assert (await job_status(client, server, job_id))["status"] == "failed"


async def test_a_429_retried_by_the_sdk_then_succeeds(
    live: StartLive, client: httpx.AsyncClient, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(
        Reply(status=429, error_type="rate_limit_error", headers={"retry-after": "0.01"}),
        Reply(text="after the wait"),
    )
    server = start(live, fake_anthropic, anthropic_max_retries=2)
    _, stream = await run_job(client, server, "chat", {"prompt": "hi"})
    assert stream.events[-1].event == "complete"
    assert stream.text == "after the wait"
    assert len(fake_anthropic.requests) == 2


FAILURES = {
    "429": (
        Reply(status=429, error_type="rate_limit_error", headers={"retry-after": "20"}),
        {},
        "UPSTREAM_RATE_LIMITED",
        True,
    ),
    "529": (
        Reply(status=529, error_type="overloaded_error", headers={"retry-after-ms": "5"}),
        {"anthropic_max_retries": 1},
        "UPSTREAM_OVERLOADED",
        True,
    ),
    "in-stream-overloaded": (
        Reply(fail_after=5, failure="error", error_type="overloaded_error"),
        {},
        "UPSTREAM_OVERLOADED",
        True,
    ),
    "connection-drop": (Reply(fail_after=5, failure="drop"), {}, "UPSTREAM_UNAVAILABLE", True),
    "read-timeout": (
        Reply(fail_after=5, failure="stall"),
        {"anthropic_timeout_s": 0.3},
        "UPSTREAM_UNAVAILABLE",
        True,
    ),
    "401": (Reply(), {"anthropic_api_key": "sk-ant-revoked-0000"}, "AGENT_ERROR", False),
}


@pytest.mark.parametrize(("reply", "settings", "code", "retryable"), FAILURES.values(),
                         ids=FAILURES.keys())  # fmt: skip
async def test_upstream_failures_reach_the_client_and_fail_the_job(
    live: StartLive,
    client: httpx.AsyncClient,
    redis_client: redis.Redis,
    fake_anthropic: FakeAnthropic,
    caplog: pytest.LogCaptureFixture,
    reply: Reply,
    settings: dict[str, Any],
    code: str,
    retryable: bool,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_anthropic.script(reply)
    server = start(live, fake_anthropic, **settings)
    job_id, stream = await run_job(client, server, "chat", {"prompt": "hi"})

    error = stream.events[-1]
    assert error.event == "error"
    assert error.data["code"] == code
    assert error.data["retryable"] is retryable
    if code == "UPSTREAM_RATE_LIMITED":
        assert error.data["retryAfterMs"] == 20_000
    else:
        assert "retryAfterMs" not in error.data
    # Whatever arrived before the failure was delivered, and nothing else.
    partial = "".join(reply.pieces()[: reply.fail_after or 0]) if reply.status == 200 else ""
    assert stream.text == (partial if code != "AGENT_ERROR" else "")

    status = await job_status(client, server, job_id)
    assert status["status"] == "failed"
    assert status["error"]["code"] == code
    assert redis_client.hget(KEYS.job(job_id), "status") == "failed"
    no_key_anywhere(stream, caplog)
    assert "sk-ant-revoked-0000" not in caplog.text
    assert "sk-ant-revoked-0000" not in json.dumps([e.data for e in stream.events])


async def test_a_run_timeout_is_timeout_and_hangs_up_on_the_api(
    live: StartLive, client: httpx.AsyncClient, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script(Reply(text="slow " * 200, interval_s=0.02))
    server = start(live, fake_anthropic, run_timeout_s=0.4)
    job_id, stream = await run_job(client, server, "chat", {"prompt": "hi"})
    assert stream.events[-1].data["code"] == "TIMEOUT"
    assert stream.text, "the output before the timeout was kept"
    (seen,) = fake_anthropic.requests
    assert await seen.wait_hung_up(), "no tokens are paid for after the timeout"
    assert seen.chunks_sent < len(Reply(text="slow " * 200).pieces())
    assert (await job_status(client, server, job_id))["status"] == "failed"


async def test_a_shutdown_mid_run_hangs_up_on_the_api(
    live: StartLive,
    client: httpx.AsyncClient,
    redis_client: redis.Redis,
    fake_anthropic: FakeAnthropic,
) -> None:
    fake_anthropic.script(Reply(text="endless " * 2000, interval_s=0.01))
    server = start(live, fake_anthropic)
    response = await client.post(
        f"{server.url}/jobs",
        json={"agent": "chat", "input": {"prompt": "hi"}},
        headers={"Authorization": f"Bearer {token()}"},
    )
    job = response.json()
    head = await read_stream(client, server.url + job["streamUrl"], token=token(), stop_after=2)
    assert len(head.of("delta")) == 2
    server.stop()  # the lifespan cancels the run and closes the backend

    (seen,) = fake_anthropic.requests
    assert await seen.wait_hung_up()
    assert seen.ended == "client disconnected"
    record = redis_client.hgetall(KEYS.job(job["jobId"]))
    assert record["status"] == "failed"
    assert json.loads(record["error"])["code"] == "SHUTDOWN"
