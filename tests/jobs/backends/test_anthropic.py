"""The anthropic backend: the real SDK against the fake Messages API, one scenario per test."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest

from jobs.agents.feature_suggestion import Suggestions
from jobs.backends import Completion, ModelRequest, TextDelta, TokenUsage
from jobs.backends.anthropic import AnthropicBackend, retry_after_ms
from jobs.errors import RunError
from tests.support.fake_anthropic import API_KEY, FakeAnthropic, Reply, Usage

pytestmark = pytest.mark.anyio

CHAT = ModelRequest(
    model="claude-sonnet-5-5",
    system="Be brief.",
    prompt="Say hello.",
    max_tokens=321,
)

BackendFactory = Callable[..., AnthropicBackend]


@pytest.fixture
async def backend(fake_anthropic: FakeAnthropic) -> AsyncIterator[BackendFactory]:
    """Backends on the fake, with retries off unless a test asks; all closed afterwards."""
    made: list[AnthropicBackend] = []

    def make(**overrides: Any) -> AnthropicBackend:
        options: dict[str, Any] = {
            "api_key": API_KEY,
            "default_model": "claude-sonnet-5-5-20991231",
            "base_url": fake_anthropic.url,
            "timeout_s": 5.0,
            "max_retries": 0,
        }
        made.append(AnthropicBackend(**(options | overrides)))
        return made[-1]

    try:
        yield make
    finally:
        for each in made:
            await each.aclose()


@dataclass
class Outcome:
    texts: list[str] = field(default_factory=list)
    completion: Completion | None = None
    error: RunError | None = None

    @property
    def text(self) -> str:
        return "".join(self.texts)


async def run(backend: AnthropicBackend, request: ModelRequest = CHAT) -> Outcome:
    outcome = Outcome()
    try:
        async for item in backend.stream(request):
            if isinstance(item, TextDelta):
                outcome.texts.append(item.text)
            else:
                assert isinstance(item, Completion), "no tools were offered"
                assert outcome.completion is None, "exactly one completion"
                outcome.completion = item
    except RunError as exc:
        outcome.error = exc
    return outcome


async def test_streams_every_delta_then_usage_model_and_stop_reason(
    fake_anthropic: FakeAnthropic, backend: BackendFactory
) -> None:
    reply = Reply(
        text="Hello — it's Claude.\nÇa va? 🙂",
        usage=Usage(input_tokens=31, output_tokens=12, cache_read_input_tokens=8,
                    cache_creation_input_tokens=5),
        model="claude-sonnet-5-5-20991231",
    )  # fmt: skip
    fake_anthropic.script(reply)
    outcome = await run(backend())

    assert outcome.error is None
    assert outcome.texts == reply.pieces(), "each delta as it arrived, none merged or lost"
    assert outcome.text == reply.text
    assert outcome.completion == Completion(
        model="claude-sonnet-5-5-20991231",
        usage=TokenUsage(31, 12, cache_read_input_tokens=8, cache_creation_input_tokens=5),
        stop_reason="end_turn",
        request_id="req_fake0001",
    )
    assert fake_anthropic.requests[0].ended == "completed"


async def test_the_request_carries_the_key_the_prompt_and_no_schema_for_chat(
    fake_anthropic: FakeAnthropic, backend: BackendFactory
) -> None:
    await run(backend())
    (seen,) = fake_anthropic.requests
    # anthropic 2.x sends the API key as a bearer token (1.x used x-api-key).
    assert seen.headers["authorization"] == f"Bearer {API_KEY}"
    assert "anthropic-version" in seen.headers
    assert seen.body == {
        "model": "claude-sonnet-5-5",
        "system": "Be brief.",
        "max_tokens": 321,
        "messages": [{"role": "user", "content": "Say hello."}],
        "cache_control": {"type": "ephemeral"},
        "stream": True,
    }


async def test_structured_requests_ask_for_the_strict_json_schema(
    fake_anthropic: FakeAnthropic, backend: BackendFactory
) -> None:
    fake_anthropic.script(Reply(text='{"suggestions": []}'))
    request = ModelRequest("m", "s", "p", 100, output_schema=Suggestions)
    outcome = await run(backend(), request)
    assert outcome.text == '{"suggestions": []}', "the JSON document streams as text"

    output_format = fake_anthropic.requests[0].body["output_config"]["format"]
    assert output_format["type"] == "json_schema"
    schema = output_format["schema"]
    assert schema["required"] == ["suggestions"]
    assert schema["additionalProperties"] is False
    card = schema["$defs"]["Suggestion"]
    assert set(card["required"]) == {
        "title", "rationale", "description", "implementationConsiderations"
    }, "the API must produce the field names the result uses"  # fmt: skip
    assert card["additionalProperties"] is False
    assert "3" in schema["properties"]["suggestions"]["description"], (
        "limits the grammar cannot enforce travel in the description"
    )


async def test_a_429_is_retried_by_the_sdk_honouring_retry_after(
    fake_anthropic: FakeAnthropic, backend: BackendFactory
) -> None:
    fake_anthropic.script(
        Reply(status=429, error_type="rate_limit_error", headers={"retry-after": "0.01"}),
        Reply(text="second time lucky"),
    )
    outcome = await run(backend(max_retries=2))
    assert outcome.error is None
    assert outcome.text == "second time lucky"
    assert [seen.headers["x-stainless-retry-count"] for seen in fake_anthropic.requests] == [
        "0",
        "1",
    ]


async def test_a_429_after_the_retries_is_rate_limited_with_retry_after(
    fake_anthropic: FakeAnthropic, backend: BackendFactory
) -> None:
    fake_anthropic.script(
        Reply(status=429, error_type="rate_limit_error", headers={"retry-after": "30"})
    )
    outcome = await run(backend(max_retries=0))
    assert outcome.error is not None
    assert outcome.error.code == "UPSTREAM_RATE_LIMITED"
    assert outcome.error.retryable
    assert outcome.error.retry_after_ms == 30_000
    assert "req_fake0001" in outcome.error.message, "the request id helps support"
    assert len(fake_anthropic.requests) == 1


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "30"}, 30_000),
        ({"retry-after": "1.5"}, 1_500),
        ({"retry-after-ms": "250", "retry-after": "9"}, 250),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0),  # a date in the past
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_is_read_as_the_sdk_reads_it(
    headers: dict[str, str], expected: int | None
) -> None:
    assert retry_after_ms(headers) == expected


async def test_a_529_is_retried_then_reported_overloaded(
    fake_anthropic: FakeAnthropic, backend: BackendFactory
) -> None:
    fake_anthropic.script(
        Reply(status=529, error_type="overloaded_error", headers={"retry-after-ms": "10"})
    )
    outcome = await run(backend(max_retries=1))
    assert outcome.error is not None
    assert (outcome.error.code, outcome.error.retryable) == ("UPSTREAM_OVERLOADED", True)
    assert len(fake_anthropic.requests) == 2, "the SDK retried once"


async def test_an_in_stream_overloaded_error_keeps_the_partial_output(
    fake_anthropic: FakeAnthropic, backend: BackendFactory
) -> None:
    reply = Reply(fail_after=4, failure="error", error_type="overloaded_error")
    fake_anthropic.script(reply)
    outcome = await run(backend(max_retries=2))
    assert outcome.texts == reply.pieces()[:4]
    assert outcome.completion is None
    assert outcome.error is not None
    assert (outcome.error.code, outcome.error.retryable) == ("UPSTREAM_OVERLOADED", True)
    assert f"after {len(outcome.text)} characters" in outcome.error.message
    assert len(fake_anthropic.requests) == 1, "a stream already under way is never retried"


@pytest.mark.parametrize(
    ("reply", "options", "says"),
    [
        (Reply(fail_after=3, failure="drop"), {}, "connection to the Anthropic API was lost"),
        (Reply(fail_after=3, failure="stall"), {"timeout_s": 0.3}, "stopped sending"),
        (Reply(fail_after=3, failure="end"), {}, "ended early"),
        (Reply(fail_after=3, failure="error", error_type="api_error"), {}, "api_error"),
    ],
    ids=["drop", "read-timeout", "no-message-stop", "in-stream-api-error"],
)
async def test_a_stream_that_breaks_is_unavailable_with_the_partial_output(
    fake_anthropic: FakeAnthropic,
    backend: BackendFactory,
    reply: Reply,
    options: dict[str, Any],
    says: str,
) -> None:
    fake_anthropic.script(reply)
    outcome = await run(backend(**options))
    assert outcome.texts == reply.pieces()[:3]
    assert outcome.completion is None
    assert outcome.error is not None
    assert (outcome.error.code, outcome.error.retryable) == ("UPSTREAM_UNAVAILABLE", True)
    assert says in outcome.error.message


@pytest.mark.parametrize(
    ("failure", "options", "says"),
    [
        ("drop", {}, "the connection to the Anthropic API was lost"),
        ("stall", {"timeout_s": 0.3}, "the Anthropic API stopped sending"),
    ],
    ids=["drop", "read-timeout"],
)
async def test_a_stream_that_breaks_before_any_text_says_what_happened(
    fake_anthropic: FakeAnthropic,
    backend: BackendFactory,
    failure: Literal["drop", "stall"],
    options: dict[str, Any],
    says: str,
) -> None:
    # The answer had begun (headers, message_start): not "could not be reached", whichever
    # exception class the SDK chooses for it.
    fake_anthropic.script(Reply(fail_after=0, failure=failure))
    outcome = await run(backend(**options))
    assert outcome.texts == []
    assert outcome.error is not None
    assert (outcome.error.code, outcome.error.retryable) == ("UPSTREAM_UNAVAILABLE", True)
    assert outcome.error.message == says
    assert len(fake_anthropic.requests) == 1, "a stream already under way is never retried"


async def test_a_500_after_the_retries_is_unavailable(
    fake_anthropic: FakeAnthropic, backend: BackendFactory
) -> None:
    fake_anthropic.script(Reply(status=500, error_type="api_error"))
    outcome = await run(backend())
    assert outcome.error is not None
    assert (outcome.error.code, outcome.error.retryable) == ("UPSTREAM_UNAVAILABLE", True)


async def test_an_unreachable_api_is_unavailable(backend: BackendFactory) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    outcome = await run(backend(base_url=f"http://127.0.0.1:{closed_port}"))
    assert outcome.error is not None
    assert outcome.error.code == "UPSTREAM_UNAVAILABLE"
    assert "could not be reached" in outcome.error.message


async def test_a_rejected_key_names_the_setting_and_never_the_key(
    fake_anthropic: FakeAnthropic, backend: BackendFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong_key = "sk-ant-wrong-key-0123456789"
    outcome = await run(backend(api_key=wrong_key, max_retries=2))
    assert outcome.error is not None
    assert (outcome.error.code, outcome.error.retryable) == ("AGENT_ERROR", False)
    assert "ANTHROPIC_API_KEY" in outcome.error.message
    assert "401" in outcome.error.message
    assert wrong_key not in outcome.error.message
    assert wrong_key not in caplog.text
    assert len(fake_anthropic.requests) == 1, "a 401 is not retried"


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        (Reply(status=403, error_type="permission_error"), "not allowed to use this model"),
        (
            Reply(status=400, error_type="invalid_request_error",
                  error_message=f"max_tokens too large for key {API_KEY}"),
            "max_tokens too large for key [redacted]",
        ),
        (
            Reply(status=404, error_type="not_found_error", error_message="model: nope"),
            "check ANTHROPIC_MODEL and ALLOWED_MODELS",
        ),
    ],
    ids=["403", "400", "404"],
)  # fmt: skip
async def test_refused_requests_are_agent_errors_without_the_key(
    fake_anthropic: FakeAnthropic, backend: BackendFactory, reply: Reply, says: str
) -> None:
    fake_anthropic.script(reply)
    outcome = await run(backend())
    assert outcome.error is not None
    assert (outcome.error.code, outcome.error.retryable) == ("AGENT_ERROR", False)
    assert says in outcome.error.message
    assert API_KEY not in outcome.error.message


async def test_closing_the_stream_early_hangs_up_on_the_api(
    fake_anthropic: FakeAnthropic, backend: BackendFactory
) -> None:
    reply = Reply(text="word " * 400, interval_s=0.01)
    fake_anthropic.script(reply)
    stream = backend().stream(CHAT)
    first = await anext(stream)
    assert first == TextDelta(reply.pieces()[0])
    await stream.aclose()
    (seen,) = fake_anthropic.requests
    assert await seen.wait_hung_up(), "the fake saw the client hang up"
    assert seen.ended == "client disconnected"
    assert seen.chunks_sent < len(reply.pieces())


def test_an_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="ANTHROPIC_API_KEY"):
        AnthropicBackend(api_key="", default_model="m")
