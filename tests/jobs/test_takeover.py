"""Takeover in one process on a real Redis: a run whose runner stopped without a word (its
lease left to lapse) is taken over by the sweep under a new runner name and continued from its
journal. The scripted backend cannot continue a partial answer, so the interrupted step is cut
back with a stored ``rewind`` and written again; the client's text after rewinds is the
result. Past ``MAX_TAKEOVERS`` the run ends as ``RUNNER_LOST``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from app.services import build_services
from jobs.backends.anthropic import AnthropicBackend, accepts_prefill
from jobs.client.resume import TYPES, Output
from jobs.events import START, EventName, StoredEvent
from jobs.record.model import Job
from jobs.running.journal import read_journal
from tests.conftest import make_settings
from tests.jobs.conftest import RUNNER, SETTINGS, Domain
from tests.support.backends import ScriptedBackend
from tests.support.fake_anthropic import API_KEY, FakeAnthropic, Reply

pytestmark = [pytest.mark.anyio, pytest.mark.redis]


@pytest.fixture
async def durable(redis_url: str, backend: ScriptedBackend) -> AsyncIterator[Domain]:
    settings = make_settings(redis_url, **(SETTINGS | {"max_takeovers": 1}))
    async with build_services(settings, backend=backend, instance_id=RUNNER) as services:
        yield Domain(services, backend)


async def start(domain: Domain) -> Job:
    job = await domain.service.create("alice", "chat", {"prompt": "hello"})
    claim = await domain.store.claim(job.id, "alice", domain.runner.instance_id)
    assert claim is not None
    domain.runner.start(claim.job)
    return claim.job


async def stored(domain: Domain, job_id: str) -> list[StoredEvent]:
    return await domain.events.after(job_id, START)


async def crash_after(domain: Domain, job: Job, deltas: int) -> None:
    """Once ``deltas`` deltas are stored, stop the run here storing nothing (as a process
    that vanished) and let its lease go."""
    for _ in range(500):
        if len([e for e in await stored(domain, job.id) if e.event == EventName.DELTA]) >= deltas:
            break
        await asyncio.sleep(0.01)
    assert domain.runner.leave(job.id, "superseded")
    while job.id in domain.runner.runs:
        await asyncio.sleep(0.01)
    await domain.redis.delete(domain.keys.lease(job.id))


async def ended(domain: Domain, job_id: str) -> list[StoredEvent]:
    for _ in range(1000):
        events = await stored(domain, job_id)
        if events and events[-1].terminal:
            return events
        await asyncio.sleep(0.01)
    raise AssertionError("the run never ended")


def client_text(events: list[StoredEvent]) -> str:
    output = Output()
    for event in events:
        data = event.payload() | ({"id": event.id} if event.event != EventName.TOOL else {})
        output.apply(TYPES[event.event].model_validate(data))
    return output.text


async def test_a_run_taken_over_rewinds_the_step_its_backend_cannot_continue(
    durable: Domain,
) -> None:
    durable.backend.chunks = [f"word{n} " for n in range(30)]
    durable.backend.interval_s = 0.02
    job = await start(durable)
    await crash_after(durable, job, deltas=3)
    before = await stored(durable, job.id)
    cut = sum(len(e.payload()["text"]) for e in before if e.event == EventName.DELTA)
    assert 0 < cut < len(durable.backend.text)
    events = await ended(durable, job.id)
    rewinds = [e for e in events if e.event == EventName.REWIND]
    assert [r.payload()["totalLength"] for r in rewinds] == [0], "cut to the step's start"
    assert rewinds[0].payload()["reason"] == "RUNNER_LOST"
    complete = events[-1]
    assert complete.event == EventName.COMPLETE
    assert complete.payload()["takeovers"] == 1
    assert client_text(events) == durable.backend.text == complete.payload()["result"]["text"]
    assert complete.payload()["totalLength"] == len(durable.backend.text)
    ids = [e.id for e in events]
    assert len(ids) == len(set(ids))
    record = await durable.redis.hgetall(durable.keys.job(job.id))
    # Kept, compacted, for RESULT_TTL_S: completed, its complete data, the takeover counted.
    assert (record["status"], record["takeovers"]) == ("completed", "1")
    assert "input" not in record
    assert await durable.redis.zscore(durable.keys.lease_deadlines(), job.id) is None


async def test_past_max_takeovers_the_run_ends_as_runner_lost(durable: Domain) -> None:
    durable.backend.chunks = [f"word{n} " for n in range(60)]
    durable.backend.interval_s = 0.02
    job = await start(durable)
    await crash_after(durable, job, deltas=2)
    for _ in range(500):  # taken over once (MAX_TAKEOVERS=1) ...
        run = durable.runner.runs.get(job.id)
        if run is not None and run.runner == f"{RUNNER}#1":
            break
        await asyncio.sleep(0.01)
    await crash_after(durable, job, deltas=4)  # ... and lost again: no more
    events = await ended(durable, job.id)
    assert events[-1].event == EventName.ERROR
    assert events[-1].payload()["code"] == "RUNNER_LOST"
    state = await durable.service.status("alice", job.id)
    assert state.status == "failed"
    assert state.takeovers == 1


def test_the_journal_says_where_a_run_stands() -> None:
    def event(n: int, name: str, data: str) -> StoredEvent:
        return StoredEvent(f"{n}-0", name, data)

    turn = '{"turn":[{"text":"Looking. "},{"id":"t1","name":"Glob","input":{"pattern":"*"}},'
    turn += '{"id":"t2","name":"Grep","input":{"pattern":"x"}}]}'
    entries: list[tuple[StoredEvent, str | None]] = [
        (event(1, "delta", '{"text":"Looking. ","totalLength":9,"timestamp":1}'), None),
        (event(2, "tool", '{"id":"t1","name":"Glob","phase":"call","timestamp":1}'), turn),
        (event(3, "tool", '{"id":"t2","name":"Grep","phase":"call","timestamp":1}'), None),
        (
            event(4, "tool", '{"id":"t1","name":"Glob","phase":"result","timestamp":1}'),
            '{"content":"a.py","ok":true,"files":[]}',
        ),
    ]
    journal = read_journal(entries)
    resume = journal.resumption
    assert journal.text == "Looking. "
    assert resume.steps == 1
    assert resume.pending is not None, "t2 was in flight: it runs again, t1 does not"
    assert set(resume.pending[1]) == {"t1"}
    assert resume.prefill == ""

    entries.append(
        (
            event(5, "tool", '{"id":"t2","name":"Grep","phase":"result","timestamp":1}'),
            '{"content":"none","ok":false,"files":["b.py"]}',
        )
    )
    entries.append((event(6, "delta", '{"text":"Found","totalLength":14,"timestamp":1}'), None))
    entries.append(
        (event(7, "rewind", '{"totalLength":9,"reason":"SHUTDOWN","timestamp":1}'), None)
    )
    entries.append((event(8, "delta", '{"text":"Seen","totalLength":13,"timestamp":1}'), None))
    journal = read_journal(entries)
    resume = journal.resumption
    assert journal.text == "Looking. Seen"
    assert journal.step_start == 9
    assert resume.pending is None
    assert resume.prefill == "Seen", "the interrupted step's text, after its rewind"
    assert (resume.steps, resume.tool_calls, resume.files_read) == (1, 2, ("b.py",))
    assert len(resume.turns) == 2


@pytest.fixture
async def claude(redis_url: str, fake_anthropic: FakeAnthropic) -> AsyncIterator[Domain]:
    """Services on the anthropic backend, against the fake Messages API."""
    values = SETTINGS | {"max_takeovers": 1, "allowed_models": f"{ACCEPTS},{REFUSES}"}
    settings = make_settings(redis_url, **values)
    backend = AnthropicBackend(
        api_key=API_KEY, default_model=ACCEPTS, base_url=fake_anthropic.url, max_retries=0
    )
    async with build_services(settings, backend=backend, instance_id=RUNNER) as services:
        yield Domain(services, ScriptedBackend())


ACCEPTS, REFUSES = "claude-sonnet-4-5", "claude-sonnet-4-6"


@pytest.mark.parametrize("model", [ACCEPTS, REFUSES])
async def test_claude_continues_the_step_where_it_takes_a_prefill_else_it_is_rewound(
    claude: Domain, fake_anthropic: FakeAnthropic, model: str
) -> None:
    words = [f"Word{n}" for n in range(40)]
    fake_anthropic.script(Reply(chunks=words, interval_s=0.03), Reply(text="Omega."))
    job = await claude.service.create("alice", "chat", {"prompt": "hello", "model": model})
    claim = await claude.store.claim(job.id, "alice", claude.runner.instance_id)
    assert claim is not None
    claude.runner.start(claim.job)
    await crash_after(claude, job, deltas=3)
    written = "".join(
        e.payload()["text"] for e in await stored(claude, job.id) if e.event == "delta"
    )
    events = await ended(claude, job.id)
    complete = events[-1]
    assert complete.event == EventName.COMPLETE, complete.payload()
    assert complete.payload()["takeovers"] == 1
    continuation = fake_anthropic.requests[-1].body
    rewinds = [e.payload() for e in events if e.event == EventName.REWIND]
    if model == ACCEPTS:  # the interrupted step goes on after its text: nothing repeated
        assert continuation["messages"][-1] == {"role": "assistant", "content": written}
        assert rewinds == []
        expected = written + "Omega."
    else:  # refused: the step is cut back and asked again, without a prefill
        assert continuation["messages"] == [{"role": "user", "content": "hello"}]
        assert [(r["totalLength"], r["reason"]) for r in rewinds] == [(0, "RUNNER_LOST")]
        expected = "Omega."
    assert client_text(events) == expected == complete.payload()["result"]["text"]
    assert all(seen.ended != "400" for seen in fake_anthropic.requests), "no refused request"


@pytest.mark.parametrize(
    ("model", "accepted"),
    [
        ("claude-sonnet-4-5", True),
        ("claude-opus-4-1-20250805", True),
        ("claude-sonnet-4-20250514", True),
        ("claude-3-7-sonnet-latest", True),
        ("claude-sonnet-4-6", False),
        ("claude-opus-4-7", False),
        ("claude-sonnet-5-5", False),
        ("gpt-5", False),
    ],
)
def test_which_models_take_a_prefill(model: str, accepted: bool) -> None:
    assert accepts_prefill(model) is accepted
