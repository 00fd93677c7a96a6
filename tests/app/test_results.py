"""Kept results (``RESULT_TTL_S``) and ``GET /jobs``, on two instances sharing a real Redis."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import redis

from jobs.record import listing
from jobs.redis.keys import Keys
from tests.conftest import StartLive, token
from tests.support.sse import read_stream

pytestmark = pytest.mark.anyio

KEYS = Keys("jobs")


def chat(prompt: str = "Say hello.") -> dict[str, Any]:
    return {"agent": "chat", "input": {"prompt": prompt}}


def auth(sub: str = "alice") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(sub)}"}


async def start(http: httpx.AsyncClient, base: str, sub: str = "alice", **body: Any) -> str:
    response = await http.post(f"{base}/jobs", json=body or chat(), headers=auth(sub))
    assert response.status_code == 201, response.text
    job_id: str = response.json()["jobId"]
    CREATED[job_id] = response.json()["createdAt"]
    return job_id


CREATED: dict[str, int] = {}


def newest_first(job_ids: list[str]) -> list[str]:
    """Newest first by the creation times the starts answered; jobs created in the same
    millisecond are ordered by id (creation order within a millisecond is unknowable)."""
    return sorted(job_ids, key=lambda job_id: (CREATED[job_id], job_id), reverse=True)


async def test_a_completed_job_keeps_its_result_after_its_events_go(
    live: StartLive, client: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    a, b = live(result_ttl_s=120, resume_grace_s=5), live(result_ttl_s=120, resume_grace_s=5)
    job_id = await start(client, a.url)
    stream = await read_stream(client, f"{b.url}/jobs/{job_id}/stream", token=token())
    (complete,) = stream.of("complete")
    redis_client.delete(KEYS.events(job_id))  # RESUME_GRACE_S has passed
    status = (await client.get(f"{a.url}/jobs/{job_id}", headers=auth())).json()
    assert status["status"] == "completed"
    assert status["agent"] == "chat"
    assert status["result"] == complete.data["result"]
    assert status["result"]["text"] == stream.text
    assert status["tokenUsage"] == complete.data["tokenUsage"]
    assert status["executionTimeMs"] == complete.data["executionTimeMs"]
    assert status["createdAt"] <= status["startedAt"] <= status["finishedAt"]
    assert "error" not in status
    record = redis_client.hgetall(KEYS.job(job_id))
    assert "input" not in record  # compact: the input is not kept
    assert 0 < redis_client.ttl(KEYS.job(job_id)) <= 120
    # Another user still cannot read it.
    other = await client.get(f"{a.url}/jobs/{job_id}", headers=auth("bob"))
    assert other.status_code == 403


async def test_result_ttl_0_deletes_the_record_at_once(
    live: StartLive, client: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    a = live(result_ttl_s=0)
    job_id = await start(client, a.url)
    stream = await read_stream(client, f"{a.url}/jobs/{job_id}/stream", token=token())
    assert stream.of("complete")
    assert not redis_client.exists(KEYS.job(job_id))
    # While its events last, the status still says what the terminal event says.
    status = (await client.get(f"{a.url}/jobs/{job_id}", headers=auth())).json()
    assert status["status"] == "completed"
    assert status["result"]["text"] == stream.text
    redis_client.delete(KEYS.events(job_id))
    gone = await client.get(f"{a.url}/jobs/{job_id}", headers=auth())
    assert gone.status_code == 404


async def test_a_cancelled_pending_job_reports_its_error(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    a, b = live(), live()
    job_id = await start(client, a.url)
    assert (await client.delete(f"{b.url}/jobs/{job_id}", headers=auth())).status_code == 204
    status = (await client.get(f"{a.url}/jobs/{job_id}", headers=auth())).json()
    assert status["status"] == "cancelled"
    assert status["error"] == {
        "code": "CANCELLED",
        "message": "the job was cancelled by its owner",
        "retryable": False,
    }
    assert status["finishedAt"] >= status["createdAt"]
    assert "result" not in status


async def pages(
    http: httpx.AsyncClient, base: str, path: str, sub: str = "alice"
) -> list[list[dict[str, Any]]]:
    """Every page of a listing, following ``next``."""
    found: list[list[dict[str, Any]]] = []
    next_path: str | None = path
    while next_path is not None:
        response = await http.get(base + next_path, headers=auth(sub))
        assert response.status_code == 200, response.text
        found.append(response.json()["jobs"])
        next_path = response.json()["next"]
        assert len(found) < 20, "the listing does not end"
    return found


async def test_a_user_lists_their_own_jobs_newest_first_page_by_page(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    a, b = live(rate_limit_create_per_min=0), live(rate_limit_create_per_min=0)
    mine = [await start(client, (a, b)[i % 2].url) for i in range(5)]
    theirs = [await start(client, a.url, "bob") for _ in range(2)]
    listed = await pages(client, b.url, "/jobs?limit=2")
    assert [len(page) for page in listed] == [2, 2, 1]
    ids = [job["jobId"] for page in listed for job in page]
    assert ids == newest_first(mine)
    assert not set(ids) & set(theirs)
    first = listed[0][0]
    assert first["status"] == "pending"
    assert first["agent"] == "chat"
    bob = await pages(client, a.url, "/jobs", "bob")
    assert [job["jobId"] for job in bob[0]] == newest_first(theirs)


async def test_the_listing_filters_by_status_and_agent(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    a = live(rate_limit_create_per_min=0)
    pending = [await start(client, a.url) for _ in range(3)]
    done = await start(client, a.url)
    await read_stream(client, f"{a.url}/jobs/{done}/stream", token=token())
    body = {"pageOrComponent": "cart", "featureType": "enhancement", "priorityLevel": "low"}
    other = await start(client, a.url, agent="feature-suggestion", input=body)
    completed = await pages(client, a.url, "/jobs?status=completed&limit=1")
    assert [[job["jobId"] for job in page] for page in completed] == [[done]]
    assert completed[0][0]["result"]["text"]
    by_pending = await pages(client, a.url, "/jobs?status=pending&limit=2&agent=chat")
    assert [job["jobId"] for page in by_pending for job in page] == newest_first(pending)
    by_agent = await pages(client, a.url, "/jobs?agent=feature-suggestion")
    assert [job["jobId"] for page in by_agent for job in page] == [other]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "query.limit"),
        ("limit=101", "query.limit"),
        ("limit=ten", "query.limit"),
        ("status=done", "query.status"),
        ("cursor=nonsense", "query.cursor"),
    ],
)
async def test_a_bad_listing_query_is_422_naming_the_parameter(
    live: StartLive, client: httpx.AsyncClient, query: str, field: str
) -> None:
    response = await client.get(f"{live().url}/jobs?{query}", headers=auth())
    assert response.status_code == 422
    assert response.json()["code"] == "INPUT_INVALID"
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_listing_needs_credentials(live: StartLive, client: httpx.AsyncClient) -> None:
    response = await client.get(f"{live().url}/jobs")
    assert response.status_code == 401


async def test_each_users_index_is_bounded_expires_and_forgets_expired_jobs(
    live: StartLive,
    client: httpx.AsyncClient,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(listing, "MAX_INDEXED", 3)
    a = live(rate_limit_create_per_min=0)
    made = [await start(client, a.url) for _ in range(5)]
    index = KEYS.user_jobs("alice")
    assert set(redis_client.zrange(index, 0, -1)) == set(newest_first(made)[:3])
    assert redis_client.ttl(index) > 0
    kept = newest_first(made)[:3]
    redis_client.delete(KEYS.job(kept[1]))  # its record expired
    listed = await pages(client, a.url, "/jobs")
    assert [job["jobId"] for page in listed for job in page] == [kept[0], kept[2]]
    assert set(redis_client.zrange(index, 0, -1)) == {kept[0], kept[2]}


async def test_a_refused_creation_leaves_no_index_entry(
    live: StartLive, client: httpx.AsyncClient, redis_client: redis.Redis
) -> None:
    a = live(rate_limit_create_per_min=1)
    made = await start(client, a.url)
    refused = await client.post(f"{a.url}/jobs", json=chat(), headers=auth())
    assert refused.status_code == 429
    assert redis_client.zrange(KEYS.user_jobs("alice"), 0, -1) == [made]
