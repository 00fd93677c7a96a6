"""``Idempotency-Key`` on ``POST /jobs``, across two instances on one real Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import redis

from jobs.record.idempotency import Claimed, Idempotency
from jobs.redis.connection import connect
from jobs.redis.keys import Keys
from tests.conftest import StartLive, token

pytestmark = pytest.mark.anyio

KEYS = Keys("jobs")
CHAT = {"agent": "chat", "input": {"prompt": "Say hello."}}


def auth(sub: str = "alice", key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token(sub)}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


def job_records(redis_client: redis.Redis) -> list[str]:
    return [k for k in redis_client.scan_iter("jobs:{*}") if not k.endswith(("events", "lease"))]


async def test_a_retry_with_the_same_key_and_body_answers_the_first_start_again(
    live: StartLive, client: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    a, b = live(), live()
    first = await client.post(f"{a.url}/jobs", json=CHAT, headers=auth(key="k-1"))
    # The same body with its keys in another order is the same request.
    reordered = {"input": CHAT["input"], "agent": "chat"}
    again = await client.post(f"{b.url}/jobs", json=reordered, headers=auth(key="k-1"))
    assert first.status_code == again.status_code == 201, again.text
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["jobId"] == first.json()["jobId"]
    assert again.headers["location"] == first.headers["location"]
    assert again.json()["streamTicket"]  # a fresh ticket: the job can be streamed from it
    assert len(job_records(redis_client)) == 1
    # The replay costs no creation: only the first start is in the rate-limit window.
    assert redis_client.zcard(KEYS.user_creates("alice")) == 1
    # The replayed ticket works on the other instance.
    ticket = again.json()["streamTicket"]
    stream = await client.get(f"{b.url}{again.json()['streamUrl']}?ticket={ticket}")
    assert stream.status_code == 200
    assert "event: complete" in stream.text


async def test_a_key_reused_with_another_body_is_422_and_creates_nothing(
    live: StartLive, client: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    a, b = live(), live()
    first = await client.post(f"{a.url}/jobs", json=CHAT, headers=auth(key="k-2"))
    assert first.status_code == 201
    other = {"agent": "chat", "input": {"prompt": "Say goodbye."}}
    reused = await client.post(f"{b.url}/jobs", json=other, headers=auth(key="k-2"))
    assert reused.status_code == 422
    assert reused.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert len(job_records(redis_client)) == 1


async def test_keys_are_scoped_to_the_caller(
    live: StartLive, client: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    a = live()
    alice = await client.post(f"{a.url}/jobs", json=CHAT, headers=auth("alice", "shared"))
    bob = await client.post(f"{a.url}/jobs", json=CHAT, headers=auth("bob", "shared"))
    assert alice.status_code == bob.status_code == 201
    assert "idempotent-replayed" not in bob.headers
    assert alice.json()["jobId"] != bob.json()["jobId"]


async def test_a_twin_still_in_progress_is_409_with_retry_after(
    live: StartLive, client: httpx.AsyncClient, redis_url: str
) -> None:
    a = live()
    # Another instance has taken the key and is creating the job right now.
    store = connect(redis_url)
    try:
        taken = await Idempotency(store, KEYS, ttl_s=60).begin("alice", "k-3", CHAT)
    finally:
        await store.aclose()
    assert isinstance(taken, Claimed)
    twin = await client.post(f"{a.url}/jobs", json=CHAT, headers=auth(key="k-3"))
    assert twin.status_code == 409
    assert twin.json()["code"] == "IDEMPOTENCY_IN_PROGRESS"
    assert int(twin.headers["retry-after"]) >= 1
    other = {"agent": "chat", "input": {"prompt": "Another body."}}
    reused = await client.post(f"{a.url}/jobs", json=other, headers=auth(key="k-3"))
    assert reused.json()["code"] == "IDEMPOTENCY_KEY_REUSED"


@pytest.mark.parametrize(("key", "problem"), [("", "empty"), ("x" * 256, "longer than 255")])
async def test_an_empty_or_overlong_key_is_400(
    live: StartLive, client: httpx.AsyncClient, redis_client: redis.Redis, key: str, problem: str
) -> None:
    a = live()
    response = await client.post(f"{a.url}/jobs", json=CHAT, headers=auth(key=key))
    assert response.status_code == 400
    assert response.json()["code"] == "IDEMPOTENCY_KEY_INVALID"
    assert problem in response.json()["detail"]
    assert job_records(redis_client) == []


async def test_a_key_of_255_characters_is_accepted(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    response = await client.post(f"{live().url}/jobs", json=CHAT, headers=auth(key="y" * 255))
    assert response.status_code == 201


async def test_a_refused_start_gives_the_key_back(
    live: StartLive, client: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    """A 429 is not remembered: the same key gets a real second try once the limit allows."""
    a = live(rate_limit_create_per_min=1)
    other = {"agent": "chat", "input": {"prompt": "Use up the limit."}}
    assert (await client.post(f"{a.url}/jobs", json=other, headers=auth())).status_code == 201
    limited = await client.post(f"{a.url}/jobs", json=CHAT, headers=auth(key="k-4"))
    assert limited.status_code == 429
    redis_client.delete(KEYS.user_creates("alice"))  # the minute has passed
    retried = await client.post(f"{a.url}/jobs", json=CHAT, headers=auth(key="k-4"))
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers


async def test_twins_racing_on_two_instances_create_one_job(
    live: StartLive, client: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    a, b = live(), live()

    async def start(i: int) -> httpx.Response:
        base = (a, b)[i % 2].url
        return await client.post(f"{base}/jobs", json=CHAT, headers=auth(key="race"))

    answers = await asyncio.gather(*(start(i) for i in range(12)))
    statuses = {r.status_code for r in answers}
    assert statuses <= {201, 409}, [r.text for r in answers]
    job_ids = {r.json()["jobId"] for r in answers if r.status_code == 201}
    assert len(job_ids) == 1
    fresh = [r for r in answers if r.status_code == 201 and "idempotent-replayed" not in r.headers]
    assert len(fresh) == 1
    assert len(job_records(redis_client)) == 1


async def test_every_idempotency_entry_expires(
    live: StartLive, client: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    a = live(idempotency_ttl_s=120)
    await client.post(f"{a.url}/jobs", json=CHAT, headers=auth(key="k-5"))
    entries: list[Any] = list(redis_client.scan_iter(KEYS.idempotency("alice", "*")))
    assert len(entries) == 1
    assert 0 < redis_client.ttl(entries[0]) <= 120
    assert "k-5" not in entries[0]  # stored as its digest
