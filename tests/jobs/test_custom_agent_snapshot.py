"""The snapshot of the owner's custom agent that a new job takes.

On a standalone Redis (a real one, and the embedded fakeredis) the create script reads the
custom agent itself, so creating a job is one round trip; on a Redis Cluster the service reads
it first (the path is forced here on a standalone Redis; ``tests/app/test_cluster.py`` runs it
on a real cluster). Either way the job carries exactly the snapshot the old code made: the
stored config with ``version`` and ``updatedAt`` added, keys in the same order, numbers and
strings as they were.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import fakeredis
import orjson
import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio.connection import AbstractConnection

from app.services import build_services
from jobs.errors import RateLimited
from jobs.record.custom_agents import PUT
from jobs.record.listing import JobQuery
from jobs.record.model import Job
from jobs.record.store import CREATE
from jobs.redis.keys import Keys, new_job_id
from tests.conftest import make_settings
from tests.jobs.conftest import RUNNER, SETTINGS, Domain
from tests.support.backends import ScriptedBackend

pytestmark = pytest.mark.anyio

#: What cjson would mangle if the script re-encoded the config: an empty list, a float, key
#: order, and strings with non-ASCII, quotes, backslashes, the control characters a custom
#: agent may hold (line breaks, tabs) and slashes.
TRICKY = {
    "name": "Critique ✓",
    "role": 'a "quoted" \\ role/editor',
    "focus": "line\nbreak\ttab",
    "systemPrompt": "Ünïcödé — 日本語 😀 \u2028 \r\n\t done.",
    "temperature": 0.7,
    "effort": "high",
    "tools": [],
    "isActive": True,
}
PLAIN = {"name": "Plain", "temperature": 0.25, "tools": [], "isActive": True}
CHAT = {"prompt": "hi"}

#: The two ways to take the snapshot: in the create script, or read first (a cluster's way).
PATHS = ["one-script", "read-first"]


def old_snapshot(fields: dict[str, str]) -> dict[str, Any]:
    """The snapshot as the code before the one-round-trip create made it, from the custom
    agent's HASH (``CustomAgents.get`` then ``active``)."""
    stored: dict[str, Any] = json.loads(fields["config"])
    return stored | {"version": int(fields["version"]), "updatedAt": int(fields["updatedAt"])}


def old_encoding(snapshot: dict[str, Any]) -> str:
    """The record's ``customAgent`` as the old code wrote it (``Job.to_hash``)."""
    return json.dumps(snapshot, separators=(",", ":"))


@pytest.fixture
async def rate_limited(redis_url: str, backend: ScriptedBackend) -> AsyncIterator[Domain]:
    """The domain with at most two job creations per user and minute."""
    settings = make_settings(redis_url, **SETTINGS | {"rate_limit_create_per_min": 2})
    async with build_services(settings, backend=backend, instance_id=RUNNER) as services:
        yield Domain(services, backend)


@pytest.fixture
async def embedded(backend: ScriptedBackend) -> AsyncIterator[Domain]:
    """The domain on the embedded fakeredis (no REDIS_URL), as ``python -m app`` runs it."""
    settings = make_settings(None, **SETTINGS)
    async with build_services(settings, backend=backend, instance_id=RUNNER) as services:
        yield Domain(services, backend)


async def put(domain: Domain, raw: dict[str, Any], owner: str = "alice") -> dict[str, str]:
    """Store ``raw`` as ``owner``'s custom chat agent; return its HASH as stored."""
    custom = domain.service.custom_agents
    await custom.put(owner, "chat", custom.validate(raw, tools=(), allowed_models=[]))
    return await fields_of(domain, domain.keys.custom_agent(owner, "chat"))


async def fields_of(domain: Domain, key: str) -> dict[str, str]:
    fields: dict[str, str] = await domain.redis.hgetall(key)  # type: ignore[assignment]
    return fields


def choose(domain: Domain, path: str) -> None:
    domain.store.cluster = path == "read-first"


@contextmanager
def round_trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    """The commands this task writes to Redis, one item per write (one round trip each: a
    pipeline is written at once). Other tasks (the runner's loops) are not counted."""
    task = asyncio.current_task()
    sent: list[bytes] = []
    original = AbstractConnection.send_packed_command

    async def counting(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        if asyncio.current_task() is task:
            sent.append(b"".join([command] if isinstance(command, bytes) else command))
        await original(self, command, check_health)

    with monkeypatch.context() as patch:
        patch.setattr(AbstractConnection, "send_packed_command", counting)
        yield sent


async def test_creating_a_job_is_one_round_trip_on_a_standalone_redis(
    rate_limited: Domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    domain = rate_limited
    assert not domain.store.cluster
    stored = await put(domain, TRICKY)
    await domain.service.create("bob", "chat", CHAT)  # warm: a new connection says hello first
    with round_trips(monkeypatch) as sent:
        job = await domain.service.create("alice", "chat", CHAT)
    assert len(sent) == 1, sent
    assert sent[0].count(b"EVAL") == 2, "the rate limit and the create (and its indexes)"
    assert job.custom_agent == old_snapshot(stored)

    choose(domain, "read-first")  # the cluster's way: read the custom agent, then create
    with round_trips(monkeypatch) as sent:
        job = await domain.service.create("alice", "chat", CHAT)
    assert len(sent) == 2, sent
    assert b"HGETALL" in sent[0]
    assert job.custom_agent == old_snapshot(stored)


async def test_without_a_rate_limit_creating_is_one_script_by_digest(
    domain: Domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No pipeline at all: the create script keeps the owner's index and the pending-jobs
    index itself (a pipeline of one costs redis-py a task to give its connection back)."""
    assert domain.services.settings.rate_limit_create_per_min == 0
    stored = await put(domain, TRICKY)
    await domain.service.create("bob", "chat", CHAT)  # warm: a new connection says hello first
    with round_trips(monkeypatch) as sent:
        job = await domain.service.create("alice", "chat", CHAT)
    assert len(sent) == 1, sent
    assert sent[0].startswith(b"*"), sent
    assert b"EVALSHA" in sent[0]
    assert sent[0].count(b"EVAL") == 1, "one script"
    assert job.custom_agent == old_snapshot(stored)
    assert await domain.store.pending.count() == 2
    listed, _ = await domain.service.page("alice", JobQuery(10))
    assert [j.id for j in listed] == [job.id]


@pytest.mark.parametrize("path", PATHS)
async def test_the_snapshot_is_the_old_one_exactly(domain: Domain, path: str) -> None:
    choose(domain, path)
    stored = await put(domain, TRICKY)
    expected = old_snapshot(stored)
    job = await domain.service.create("alice", "chat", CHAT)
    assert job.custom_agent is not None
    assert list(job.custom_agent.items()) == list(expected.items()), "same keys, same order"
    assert old_encoding(job.custom_agent) == old_encoding(expected)

    raw = (await fields_of(domain, domain.keys.job(job.id)))["customAgent"]
    assert list(json.loads(raw).items()) == list(expected.items())
    if path == "one-script":
        # The stored config, untouched (never re-encoded by cjson), with version and updatedAt.
        tail = f',"version":{stored["version"]},"updatedAt":{stored["updatedAt"]}}}'
        assert raw == stored["config"][:-1] + tail
    else:
        assert raw == old_encoding(expected)
    read = await domain.store.get(job.id)
    assert read is not None
    assert read.custom_agent is not None
    assert list(read.custom_agent.items()) == list(expected.items())
    assert read.to_hash()["customAgent"] == old_encoding(expected), "byte for byte, as before"
    assert read == job

    status = await domain.service.status("alice", job.id)
    assert status.custom_agent == expected
    await put(domain, TRICKY | {"systemPrompt": "Version two."})
    later = await domain.store.get(job.id)
    assert later is not None
    assert later.custom_agent == expected, "a snapshot: later edits never reach the job"


async def test_an_ascii_custom_agent_is_stored_byte_for_byte_as_before(domain: Domain) -> None:
    stored = await put(domain, PLAIN)
    job = await domain.service.create("alice", "chat", CHAT)
    raw = await domain.redis.hget(domain.keys.job(job.id), "customAgent")
    assert raw == old_encoding(old_snapshot(stored))


@pytest.mark.parametrize("path", PATHS)
async def test_an_inactive_or_missing_custom_agent_gives_no_snapshot(
    domain: Domain, path: str
) -> None:
    choose(domain, path)
    key = domain.keys.custom_agent("alice", "chat")

    async def created() -> tuple[Job, dict[str, str]]:
        job = await domain.service.create("alice", "chat", CHAT)
        return job, await fields_of(domain, domain.keys.job(job.id))

    job, record = await created()
    assert job.custom_agent is None
    assert "customAgent" not in record
    assert record["status"] == "pending"

    await put(domain, TRICKY | {"isActive": False})
    job, record = await created()
    assert job.custom_agent is None
    assert "customAgent" not in record

    # Stored without isActive (as no PUT writes it): not active either, as before.
    config = {k: v for k, v in TRICKY.items() if k != "isActive"}
    await domain.redis.hset(key, "config", orjson.dumps(config).decode())
    job, record = await created()
    assert job.custom_agent is None
    assert "customAgent" not in record

    stored = await put(domain, TRICKY)  # active again: the next job takes it
    job, record = await created()
    assert job.custom_agent == old_snapshot(stored)
    assert "customAgent" in record


async def test_the_embedded_fakeredis_takes_the_snapshot_in_the_script(embedded: Domain) -> None:
    assert "Fake" in type(embedded.redis).__name__
    assert not embedded.store.cluster
    stored = await put(embedded, TRICKY)
    job = await embedded.service.create("alice", "chat", CHAT)
    expected = old_snapshot(stored)
    assert job.custom_agent is not None
    assert list(job.custom_agent.items()) == list(expected.items())
    read = await embedded.store.get(job.id)
    assert read is not None
    assert read.to_hash()["customAgent"] == old_encoding(expected)

    await put(embedded, TRICKY | {"isActive": False})
    job = await embedded.service.create("alice", "chat", CHAT)
    assert job.custom_agent is None
    assert not await embedded.redis.hexists(embedded.keys.job(job.id), "customAgent")


async def test_a_refused_creation_leaves_no_record(rate_limited: Domain) -> None:
    await put(rate_limited, TRICKY)
    made = [await rate_limited.service.create("alice", "chat", CHAT) for _ in "ab"]
    assert all(job.custom_agent is not None for job in made)
    with pytest.raises(RateLimited):
        await rate_limited.service.create("alice", "chat", CHAT)
    records = await rate_limited.redis.keys("jobs:{*}")
    assert sorted(records) == sorted(rate_limited.keys.job(job.id) for job in made)


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    """Stored configs as ``PUT`` writes them (camelCase, no nulls): any text, any temperature
    from 0 to 1 (1e-05 and 5e-324 included), any subset of the tools, in any order."""
    values = {
        "name": draw(st.text(min_size=1, max_size=20)),
        "role": draw(_optional(st.text(max_size=20))),
        "systemPrompt": draw(_optional(st.text(max_size=40))),
        "temperature": draw(_optional(st.floats(min_value=0, max_value=1))),
        "effort": draw(_optional(st.sampled_from(["low", "max"]))),
        "tools": draw(_optional(st.lists(st.sampled_from(["Glob", "Grep", "Read"]), unique=True))),
        "isActive": True,
    }
    return {key: value for key, value in values.items() if value is not None}


@pytest.mark.parametrize("engine", ["redis", "fakeredis"])
def test_any_stored_config_is_snapshotted_as_before(engine: str, redis_client: redis.Redis) -> None:
    client = redis_client if engine == "redis" else fakeredis.FakeRedis(decode_responses=True)
    keys = Keys("jobs")
    agent_key = keys.custom_agent("prop", "chat")

    @settings(max_examples=150, deadline=None)
    @given(configs())
    def check(config: dict[str, Any]) -> None:
        client.eval(PUT.source, 1, agent_key, orjson.dumps(config).decode(), 1712345678901)
        stored: dict[str, str] = client.hgetall(agent_key)  # type: ignore[assignment]
        job = Job(id=new_job_id(), owner="prop", agent="chat", input=CHAT)
        flat = orjson.dumps([part for item in job.to_hash().items() for part in item])
        keys_ = [keys.job(job.id), keys.pending(), keys.user_jobs(job.owner), agent_key]
        reply = client.eval(CREATE.source, 4, *keys_, 60, flat, job.created_at_ms, 1000, 3600)
        assert reply == [stored["config"], stored["version"], stored["updatedAt"]]
        record: dict[str, str] = client.hgetall(keys.job(job.id))  # type: ignore[assignment]
        custom = Job.from_hash(record).custom_agent
        assert custom is not None
        expected = old_snapshot(stored)
        assert list(custom.items()) == list(expected.items())
        assert old_encoding(custom) == old_encoding(expected)
        client.delete(keys.job(job.id))

    check()
