"""A real ``rewind`` read by the CLI (real processes on one real Redis, the anthropic backend
against the fake Messages API): a model that refuses an assistant prefill cannot continue the
step its runner was killed in, so the instance that takes the run over stores a ``rewind`` and
asks again. ``python -m jobs attach``, following the job on that instance, prints the text as
it came (a pipe keeps the exact bytes), says on stderr what was rewritten, and its result is
the text after the rewind."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator

import httpx
import pytest
import redis

from tests.app.test_instances import entries
from tests.conftest import SECRET, token
from tests.support.fake_anthropic import API_KEY, FakeAnthropic, Reply
from tests.support.process import ROOT, ServiceProcess, StartInstance, instance_group
from tests.support.sse import read_stream

pytestmark = pytest.mark.anyio

LEASE_TTL_S = 2
REFUSES_PREFILL = "claude-sonnet-4-6"
WORDS = [f"Word{n} " for n in range(60)]
ANSWER = "Omega, written again."


@pytest.fixture
def instances(redis_url: str, fake_anthropic: FakeAnthropic) -> Iterator[StartInstance]:
    with instance_group(
        REDIS_URL=redis_url,
        AUTH_JWT_SECRET=SECRET,
        AGENT_BACKEND="anthropic",
        ANTHROPIC_API_KEY=API_KEY,
        ANTHROPIC_BASE_URL=fake_anthropic.url,
        ANTHROPIC_MODEL=REFUSES_PREFILL,
        STREAM_THROTTLE_MS="50",
        LEASE_TTL_S=str(LEASE_TTL_S),
        AGENT_WORKSPACE=None,
    ) as start:
        yield start


async def cli(service: ServiceProcess, *args: str) -> tuple[int, str, str]:
    """``python -m jobs`` against ``service``: its exit code, stdout and stderr (pipes)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "jobs", *args, "--url", service.url, "--token", token(),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(process.communicate(), LEASE_TTL_S + 40)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_cli_applies_the_rewind_of_a_run_taken_over_mid_model_call(
    instances: StartInstance,
    http: httpx.AsyncClient,
    redis_client: redis.Redis,
    fake_anthropic: FakeAnthropic,
) -> None:
    fake_anthropic.script(Reply(chunks=WORDS, interval_s=0.1), Reply(text=ANSWER))
    a, b = instances(), instances()
    created = await http.post(
        f"{a.url}/jobs",
        json={"agent": "chat", "input": {"prompt": "hello"}},
        headers={"Authorization": f"Bearer {token()}"},
    )
    assert created.status_code == 201, created.text
    job_id = created.json()["jobId"]
    # A claims the run; the CLI then follows it on B (B tails it, so B has a reader).
    await read_stream(http, f"{a.url}/jobs/{job_id}/stream", token=token(), stop_after=3)
    attach = asyncio.create_task(cli(b, "attach", job_id))
    for _ in range(400):
        if (await http.get(f"{b.url}/readyz")).json()["openStreams"]:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the CLI never attached to B")
    await asyncio.sleep(0.3)
    a.kill()  # mid model call: the fake API is still streaming WORDS to A

    code, out, err = await attach
    assert code == 0, err
    fields = entries(redis_client, job_id)
    names = [f["event"] for f in fields]
    assert names.count("rewind") == 1, names
    rewind = json.loads(fields[names.index("rewind")]["data"])
    assert rewind["reason"] == "RUNNER_LOST"
    assert rewind["totalLength"] == 0, "cut back to the start of the interrupted step"
    before = fields[: names.index("rewind")]
    cut = "".join(json.loads(f["data"])["text"] for f in before if f["event"] == "delta")
    assert cut, "A wrote part of the first answer"
    assert "".join(WORDS).startswith(cut)
    assert len(cut) < len("".join(WORDS)), "A was killed mid-answer"
    # A pipe keeps every byte sent: the cut text, then the text written again; stderr says so.
    assert out == cut + ANSWER
    assert (
        f"note: the run was taken over (RUNNER_LOST) and its last {len(cut):,} characters "
        "were rewritten" in err
    )
    continuation = fake_anthropic.requests[-1].body
    assert continuation["messages"] == [{"role": "user", "content": "hello"}], "no prefill"
    assert all(seen.ended != "400" for seen in fake_anthropic.requests), "no refused request"

    # Replayed from the start, the result (its text after rewinds) is the answer alone.
    code, out, err = await cli(b, "attach", job_id, "--last-event-id", "0-0", "--json")
    assert code == 0, err
    complete = json.loads(out)
    assert complete["result"] == {"text": ANSWER}
    assert complete["totalLength"] == len(ANSWER)
    assert complete["takeovers"] == 1
