"""Token budgets over the fake Messages API's scripted usage, on two instances sharing one
real Redis: ``USER_TOKEN_BUDGET`` refuses a start with 429 ``BUDGET_EXHAUSTED`` once the
user's runs on either instance have spent it; ``RUN_TOKEN_BUDGET`` ends a run after the model
call that crosses it, with its text kept."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import redis

from jobs.redis.keys import Keys
from jobs.schemas import ErrorEvent
from tests.app.test_stream_anthropic import FEATURE_INPUT, job_status, run_job, start
from tests.conftest import StartLive, token
from tests.support.fake_anthropic import FakeAnthropic, Reply, ToolCall, Usage
from tests.support.sse import read_stream
from tests.support.tools import FakeToolbox

pytestmark = pytest.mark.anyio

KEYS = Keys("jobs")
CHAT = {"prompt": "Say hello."}
# Every kind counts: 300 input + 200 output + 100 cache reads + 50 cache writes.
CALL = Usage(
    input_tokens=300, output_tokens=200, cache_read_input_tokens=100, cache_creation_input_tokens=50
)
CALL_TOKENS = 650


def auth(sub: str = "alice") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(sub)}"}


def counted(redis_client: redis.Redis, owner: str) -> list[int]:
    """The tokens of each model call in the owner's log, oldest first."""
    members: Any = redis_client.zrange(KEYS.user_tokens(owner), 0, -1)
    return [int(member.rpartition(":")[2]) for member in members]


async def test_a_start_past_the_users_daily_budget_is_429_on_either_instance(
    live: StartLive,
    client: httpx.AsyncClient,
    fake_anthropic: FakeAnthropic,
    redis_client: redis.Redis,
) -> None:
    fake_anthropic.script(Reply(text="One.", usage=CALL), Reply(text="Two.", usage=CALL))
    a = start(live, fake_anthropic, user_token_budget=1000)
    b = start(live, fake_anthropic, user_token_budget=1000)

    _, first = await run_job(client, a, "chat", CHAT)
    assert first.events[-1].event == "complete"
    assert counted(redis_client, "alice") == [CALL_TOKENS]
    # 650 of 1000 spent (on a): b still starts a run, which spends 650 more.
    _, second = await run_job(client, b, "chat", CHAT)
    assert second.events[-1].event == "complete"
    assert counted(redis_client, "alice") == [CALL_TOKENS, CALL_TOKENS]
    assert 0 < redis_client.pttl(KEYS.user_tokens("alice")) <= 86_400_000

    for server in (a, b):
        refused = await client.post(
            f"{server.url}/jobs", json={"agent": "chat", "input": CHAT}, headers=auth()
        )
        assert refused.status_code == 429, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["code"] == "BUDGET_EXHAUSTED"
        assert "USER_TOKEN_BUDGET" in refused.json()["detail"]
        # Freeing the older call (1300 - 650 < 1000) is enough: about a day from now.
        assert 86_000 < int(refused.headers["retry-after"]) <= 86_400
    assert len(fake_anthropic.requests) == 2, "a refused start calls no model"
    # The budget is the user's own: another user starts.
    other = await client.post(
        f"{b.url}/jobs", json={"agent": "chat", "input": CHAT}, headers=auth("bob")
    )
    assert other.status_code == 201, other.text


async def test_the_retry_after_is_when_enough_of_the_day_frees_up(
    live: StartLive, client: httpx.AsyncClient, fake_anthropic: FakeAnthropic,
    redis_client: redis.Redis,
) -> None:  # fmt: skip
    a = start(live, fake_anthropic, user_token_budget=1000)
    key = KEYS.user_tokens("alice")
    seconds, micros = redis_client.time()
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    hour_ms = 3_600_000

    async def retry_after_s() -> int:
        refused = await client.post(
            f"{a.url}/jobs", json={"agent": "chat", "input": CHAT}, headers=auth()
        )
        assert refused.status_code == 429, refused.text
        assert refused.json()["code"] == "BUDGET_EXHAUSTED"
        return int(refused.headers["retry-after"])

    # 20 h, 10 h and 1 h ago, 400 each (1200): without the oldest, 800, under the budget;
    # the oldest leaves the day in 4 h.
    calls = {"c1:400": now_ms - 20 * hour_ms, "c2:400": now_ms - 10 * hour_ms,
             "c3:400": now_ms - hour_ms}  # fmt: skip
    redis_client.zadd(key, calls)
    assert 4 * 3600 - 60 <= await retry_after_s() <= 4 * 3600
    # 100, 400, 600 (1100): without the oldest, 1000, still the whole budget; without the
    # two oldest, 600: in 14 h.
    redis_client.delete(key)
    calls = {"c1:100": now_ms - 20 * hour_ms, "c2:400": now_ms - 10 * hour_ms,
             "c3:600": now_ms - hour_ms}  # fmt: skip
    redis_client.zadd(key, calls)
    assert 14 * 3600 - 60 <= await retry_after_s() <= 14 * 3600
    # A call older than a day no longer counts: 700 in the day, and the user starts again.
    redis_client.zadd(key, {"c2:400": now_ms - 25 * hour_ms}, xx=True)
    again = await client.post(
        f"{a.url}/jobs", json={"agent": "chat", "input": CHAT}, headers=auth()
    )
    assert again.status_code == 201, again.text
    assert counted(redis_client, "alice") == [100, 600], "calls past the day are dropped"


async def test_a_run_that_crosses_its_budget_stops_after_that_model_call_with_its_text(
    live: StartLive,
    client: httpx.AsyncClient,
    fake_anthropic: FakeAnthropic,
    redis_client: redis.Redis,
) -> None:
    first = Reply(
        text="Reading the page first.",
        tool_calls=[ToolCall("Read", {"path": "src/page.tsx"})],
        usage=Usage(input_tokens=500, output_tokens=60, cache_creation_input_tokens=400),
    )  # 960 tokens: under the budget of 1000
    second = Reply(
        text=" Now the styles.",
        tool_calls=[ToolCall("Read", {"path": "src/page.css"})],
        usage=Usage(input_tokens=700, output_tokens=30, cache_read_input_tokens=400),
    )  # 1130 more: the run has crossed its budget once this call ends
    third = Reply(text='{"suggestions": []}')
    fake_anthropic.script(first, second, third)
    toolbox = FakeToolbox()
    a = start(live, fake_anthropic, run_token_budget=1000, workspace=toolbox)
    b = start(live, fake_anthropic, run_token_budget=1000, workspace=toolbox)
    response = await client.post(
        f"{a.url}/jobs", json={"agent": "feature-suggestion", "input": FEATURE_INPUT},
        headers=auth(),
    )  # fmt: skip
    assert response.status_code == 201, response.text
    job_id = response.json()["jobId"]
    stream = await read_stream(client, b.url + response.json()["streamUrl"], token=token())

    error = stream.events[-1]
    assert error.event == "error", error.data
    assert error.id is not None, "terminal: stored"
    assert error.data["code"] == "BUDGET_EXHAUSTED"
    assert error.data["retryable"] is False
    assert "RUN_TOKEN_BUDGET" in error.data["message"]
    assert "2090" in error.data["message"]  # 960 + 1130, as scripted
    ErrorEvent.model_validate(error.data)
    # Both steps' text is kept; the second step's tool call never ran; no third model call.
    assert stream.text == first.text + second.text
    assert [call[1] for call in toolbox.calls] == [{"path": "src/page.tsx"}]
    assert len(fake_anthropic.requests) == 2
    assert [e.data["phase"] for e in stream.of("tool")] == ["call", "result"]
    status = await job_status(client, a, job_id)
    assert status["status"] == "failed"
    assert status["error"]["code"] == "BUDGET_EXHAUSTED"
    # The text stays readable after the end: a replay from the start gives it all again.
    replay = await read_stream(client, f"{a.url}/jobs/{job_id}/stream", token=token(),
                               headers={"Last-Event-ID": "0-0"})  # fmt: skip
    assert replay.text == first.text + second.text
    # USER_TOKEN_BUDGET is off: nothing is counted per user.
    assert redis_client.exists(KEYS.user_tokens("alice")) == 0
