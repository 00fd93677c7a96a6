"""The Python client against a live service: typed events, automatic resume, errors as
exceptions with codes, and the sync twin."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest

from jobs.client import (
    Complete,
    Connected,
    ConnectionFailed,
    Delta,
    Failure,
    JobCancelled,
    JobFailed,
    JobsClient,
    ProblemError,
    SyncJobsClient,
)
from jobs.errors import UpstreamOverloaded
from tests.conftest import StartLive, token
from tests.support.backends import GatedBackend, ScriptedBackend
from tests.support.demo import demo_text as run_demo
from tests.support.proxy import Proxy
from tests.support.redis_server import free_port

PROMPT = {"prompt": "Tell me about resumable streams."}


def demo_text(prompt: str) -> str:
    return run_demo("chat", {"prompt": prompt})


@pytest.fixture
def proxies() -> Iterator[list[Proxy]]:
    started: list[Proxy] = []
    yield started
    for proxy in started:
        proxy.stop()


@pytest.mark.anyio
async def test_run_returns_the_result_and_events_are_typed(live: StartLive) -> None:
    server = live()
    async with JobsClient(server.url, token=token()) as jobs:
        complete = await jobs.run("chat", PROMPT)
        assert complete.result == {"text": demo_text(PROMPT["prompt"])}
        assert complete.total_length == len(complete.result["text"])
        assert complete.token_usage.output_tokens > 0

        job = await jobs.start("chat", PROMPT)
        assert job.status == "pending"
        assert job.stream_url == f"/jobs/{job.job_id}/stream"
        events = [event async for event in jobs.events(job.job_id)]
        state = await jobs.status(job.job_id)
        assert [a.name for a in await jobs.agents()] == ["feature-suggestion", "chat"]

    connected, *deltas, last = events
    assert isinstance(connected, Connected)
    assert not connected.resumed
    assert all(isinstance(event, Delta) for event in deltas)
    assert isinstance(last, Complete)
    text = "".join(event.text for event in deltas if isinstance(event, Delta))
    assert text == last.result["text"]
    assert state.status == "completed"


@pytest.mark.anyio
async def test_events_resume_after_a_dropped_connection(
    live: StartLive, proxies: list[Proxy]
) -> None:
    backend = GatedBackend()
    server = live(backend=backend)
    proxy = Proxy(server.port).start()
    proxies.append(proxy)
    events: list[object] = []
    async with JobsClient(proxy.url, token=token()) as jobs:
        job = await jobs.start("chat", PROMPT)
        text = ""
        async for event in jobs.events(job.job_id):
            events.append(event)
            if isinstance(event, Delta):
                text += event.text
                if text == "".join(backend.before):
                    proxy.sever()  # mid-run: the rest is not even written yet
            if isinstance(event, Connected) and event.resumed:
                backend.release.set()

    connects = [event for event in events if isinstance(event, Connected)]
    assert [event.resumed for event in connects] == [False, True]
    assert text == backend.text
    ids = [event.id for event in events if isinstance(event, Delta | Complete)]
    assert ids == sorted(set(ids), key=lambda i: tuple(map(int, i.split("-"))))
    assert isinstance(events[-1], Complete)
    assert proxy.accepted >= 2  # the first connection, and the resumed stream's


@pytest.mark.anyio
async def test_the_sync_client_resumes_after_a_dropped_connection(
    live: StartLive, proxies: list[Proxy]
) -> None:
    # The async test above, through the sync shell: a stream cut mid-run is resumed with
    # Last-Event-ID, and the text has no gap and no repeat.
    backend = GatedBackend()
    server = live(backend=backend)
    proxy = Proxy(server.port).start()
    proxies.append(proxy)

    def script() -> list[object]:
        events: list[object] = []
        with SyncJobsClient(proxy.url, token=token()) as jobs:
            job = jobs.start("chat", PROMPT)
            text = ""
            for event in jobs.events(job.job_id):
                events.append(event)
                if isinstance(event, Delta):
                    text += event.text
                    if text == "".join(backend.before):
                        proxy.sever()  # mid-run: the rest is not even written yet
                if isinstance(event, Connected) and event.resumed:
                    backend.release.set()
        return events

    events = await anyio.to_thread.run_sync(script)
    connects = [event for event in events if isinstance(event, Connected)]
    assert [event.resumed for event in connects] == [False, True]
    assert "".join(event.text for event in events if isinstance(event, Delta)) == backend.text
    ids = [event.id for event in events if isinstance(event, Delta | Complete)]
    assert ids == sorted(set(ids), key=lambda i: tuple(map(int, i.split("-"))))
    assert isinstance(events[-1], Complete)
    assert proxy.accepted >= 2  # the first connection, and the resumed stream's


@pytest.mark.anyio
async def test_errors_are_exceptions_with_codes(live: StartLive) -> None:
    failing = live(backend=ScriptedBackend(fail_with=UpstreamOverloaded("overloaded")))
    async with JobsClient(failing.url, token=token()) as jobs:
        with pytest.raises(JobFailed) as failed:
            await jobs.run("chat", PROMPT)
        assert failed.value.code == "UPSTREAM_OVERLOADED"
        assert failed.value.retryable
        assert not isinstance(failed.value, JobCancelled)

        with pytest.raises(ProblemError) as missing:
            await jobs.status("0" * 32)
        assert (missing.value.status, missing.value.code) == (404, "JOB_NOT_FOUND")

        with pytest.raises(ProblemError) as invalid:
            await jobs.start("chat", {"prompt": ""})
        assert (invalid.value.status, invalid.value.code) == (422, "INPUT_INVALID")
        assert invalid.value.problem is not None
        assert invalid.value.problem.errors is not None
        assert invalid.value.problem.errors[0].field == "input.prompt"

    async with JobsClient(failing.url, token="not-a-token") as stranger:
        with pytest.raises(ProblemError) as refused:
            await stranger.start("chat", PROMPT)
        assert (refused.value.status, refused.value.code) == (401, "UNAUTHORIZED")

    async with JobsClient(f"http://127.0.0.1:{free_port()}", token=token()) as nowhere:
        with pytest.raises(ConnectionFailed):
            await nowhere.status("0" * 32)


@pytest.mark.anyio
async def test_a_cancelled_run_raises_job_cancelled(live: StartLive) -> None:
    server = live(backend=GatedBackend())
    async with JobsClient(server.url, token=token()) as jobs:
        job = await jobs.start("chat", PROMPT)
        events = []
        async for event in jobs.events(job.job_id):
            events.append(event)
            if isinstance(event, Delta) and len(events) == 2:
                await jobs.cancel(job.job_id)
        assert isinstance(events[-1], Failure)
        assert events[-1].code == "CANCELLED"
        with pytest.raises(JobCancelled) as cancelled:
            await jobs.attach(job.job_id, last_event_id="0-0")  # replays, to the same end
        assert cancelled.value.code == "CANCELLED"
        assert (await jobs.status(job.job_id)).status == "cancelled"


@pytest.mark.anyio
async def test_the_sync_client_does_the_same(live: StartLive) -> None:
    server = live()

    def script() -> tuple[Complete, str]:
        with SyncJobsClient(server.url, token=token()) as jobs:
            complete = jobs.run("chat", PROMPT)
            job = jobs.start("chat", {"prompt": "again"})
            text = "".join(e.text for e in jobs.events(job.job_id) if isinstance(e, Delta))
            with pytest.raises(ProblemError) as gone:
                jobs.attach(job.job_id)  # finished, no Last-Event-ID: 410
            assert gone.value.code == "JOB_FINISHED"
            replayed = jobs.attach(job.job_id, last_event_id="0-0")
            assert replayed.result["text"] == text
            jobs.cancel(job.job_id)  # a finished job: nothing to do, no error
            return complete, text

    complete, text = await anyio.to_thread.run_sync(script)
    assert complete.result["text"] == demo_text(PROMPT["prompt"])
    assert text == demo_text("again")
