"""``"background": true`` on ``POST /jobs``: run at once, never abandoned, still streamable,
resumable and cancellable, across two instances on one real Redis."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from tests.conftest import StartLive, token
from tests.support.backends import ScriptedBackend
from tests.support.sse import read_stream

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": f"Bearer {token()}"}
CHAT = {"agent": "chat", "input": {"prompt": "Write a while."}}
# Long enough to outlast ABANDON_AFTER_S several times over.
CHUNKS = [f"w{n} " for n in range(40)]


def slow() -> ScriptedBackend:
    return ScriptedBackend(chunks=CHUNKS, interval_s=0.05)


async def start(http: httpx.AsyncClient, base: str, **extra: Any) -> dict[str, Any]:
    response = await http.post(f"{base}/jobs", json=CHAT | extra, headers=AUTH)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def settled(http: httpx.AsyncClient, base: str, job_id: str) -> dict[str, Any]:
    """Poll the job's status until it has finished (bounded, not timed)."""
    deadline = time.monotonic() + 20
    while True:
        status: dict[str, Any] = (await http.get(f"{base}/jobs/{job_id}", headers=AUTH)).json()
        if status["status"] not in ("pending", "running"):
            return status
        assert time.monotonic() < deadline, f"never finished: {status}"
        await asyncio.sleep(0.1)


async def test_a_background_job_runs_unwatched_to_the_end_where_a_plain_one_is_abandoned(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    backends = slow(), slow()
    a, b = (live(backend=x, abandon_after_s=0.4, lease_ttl_s=0.3) for x in backends)
    background = await start(client, a.url, background=True)
    assert background["status"] == "running"  # claimed at once by the instance it asked
    plain = await start(client, a.url)
    assert plain["status"] == "pending"
    # The plain job is watched for one event, then left; the background one never watched.
    await read_stream(client, a.url + plain["streamUrl"], token=token(), stop_after=1)
    left = await settled(client, b.url, plain["jobId"])
    assert left["error"]["code"] == "ABANDONED"
    done = await settled(client, b.url, background["jobId"])
    assert done["status"] == "completed", done
    assert done["result"] == {"text": "".join(CHUNKS)}
    assert done["background"] is True
    assert sum(x.started for x in backends) == 2  # one run each, no second run


async def test_a_background_job_streams_and_resumes_on_another_instance(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    backends = slow(), slow()
    a, b = (live(backend=x, lease_ttl_s=0.5) for x in backends)
    job = await start(client, a.url, background=True)
    url = b.url + job["streamUrl"]
    head = await read_stream(client, url, token=token(), stop_after=3)
    tail = await read_stream(client, url, token=token(), headers={"Last-Event-ID": head.last_id})
    assert tail.events[-1].event == "complete"
    assert head.text + tail.text == "".join(CHUNKS)
    assert [x.started for x in backends] == [1, 0]  # run by A only; B's readers joined it


async def test_a_background_job_is_cancelled_from_another_instance(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    backends = slow(), slow()
    a, b = (live(backend=x, lease_ttl_s=0.5) for x in backends)
    job = await start(client, a.url, background=True)
    assert (await client.delete(f"{b.url}/jobs/{job['jobId']}", headers=AUTH)).status_code == 204
    status = await settled(client, b.url, job["jobId"])
    assert status["status"] == "cancelled"
    assert status["error"]["code"] == "CANCELLED"
    assert backends[0].closed == 1  # the upstream stream was closed, not left running


async def test_background_must_be_a_boolean(live: StartLive, client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"{live().url}/jobs", json=CHAT | {"background": "yes"}, headers=AUTH
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["background"]
