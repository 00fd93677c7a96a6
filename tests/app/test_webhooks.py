"""Webhooks (``WEBHOOK_URL``): one signed POST per job ending, across two instances on one real
Redis, to a real HTTP receiver on a free port; retries after a 503, a dead letter after the
bound, and the signature checked with the ``standardwebhooks`` library."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import redis
from prometheus_client import REGISTRY
from standardwebhooks import Webhook

from app.services import lifetimes, max_events, webhook_config
from jobs.delivery.eventlog import EventLog
from jobs.errors import UpstreamOverloaded
from jobs.events import ErrorCode, error_payload
from jobs.record.model import Job
from jobs.record.replies import LeaseVerdict
from jobs.record.store import JobStore
from jobs.redis.connection import connect
from jobs.redis.keys import Keys, new_job_id
from jobs.running.webhooks import WebhookSender
from tests.conftest import StartLive, make_settings, token
from tests.jobs.ops.test_ops import ops
from tests.support.backends import ScriptedBackend
from tests.support.redis_server import free_port

pytestmark = pytest.mark.anyio

AUTH = {"Authorization": f"Bearer {token()}"}
CHAT = {"agent": "chat", "input": {"prompt": "Say hello."}}
# A fixed test key (not a secret of any deployment): whsec_ and 32 bytes in base64.
SECRET = "whsec_" + base64.b64encode(b"webhook-test-key-0123456789abcde").decode()
KEYS = Keys("jobs")


@dataclass
class Receiver:
    """A real HTTP server that records every POST and answers ``statuses`` in turn (then
    200), or ``always`` when set."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    always: int | None = None
    stall_s: float = 0  # how long the first request waits before answering
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            self.requests.append((headers, body))
            if self.always is not None:
                return self.always
            return self.statuses.pop(0) if self.statuses else 200

    def by_id(self) -> dict[str, list[tuple[dict[str, str], bytes]]]:
        """The requests grouped by ``webhook-id`` (a receiver's dedup key)."""
        grouped: dict[str, list[tuple[dict[str, str], bytes]]] = {}
        with self.lock:
            for headers, body in self.requests:
                grouped.setdefault(headers["webhook-id"], []).append((headers, body))
        return grouped


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            if found.stall_s and not found.requests:
                time.sleep(found.stall_s)
            status = found.answer({k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    found.url = f"http://127.0.0.1:{server.server_port}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()


def hooked(live: StartLive, receiver: Receiver, backend: ScriptedBackend, **settings: Any) -> Any:
    return live(backend=backend, webhook_url=receiver.url, webhook_secret=SECRET, **settings)


async def start(http: httpx.AsyncClient, base: str, **extra: Any) -> str:
    response = await http.post(f"{base}/jobs", json=CHAT | extra, headers=AUTH)
    assert response.status_code == 201, response.text
    job_id: str = response.json()["jobId"]
    return job_id


async def until(check: Any, what: str, within_s: float = 30) -> None:
    """Wait until ``check()`` is true (bounded, not timed)."""
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.1)


def sent(outcome: str) -> float:
    """``jobs_webhook_attempts_total`` of ``outcome`` (this process's instances)."""
    value = REGISTRY.get_sample_value("jobs_webhook_attempts_total", {"outcome": outcome})
    return value or 0.0


def verified(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """The payload, once the library has verified its signature (raises otherwise)."""
    payload: dict[str, Any] = Webhook(SECRET).verify(body, headers)
    return payload


async def test_every_ending_delivers_once_across_two_instances(
    live: StartLive, client: httpx.AsyncClient, receiver: Receiver, redis_client: redis.Redis
) -> None:
    works = ScriptedBackend(chunks=["Hello", "!"])
    fails = ScriptedBackend(fail_with=UpstreamOverloaded("busy"))
    a = hooked(live, receiver, works)
    b = hooked(live, receiver, fails)
    completed = await start(client, a.url, background=True)
    failed = await start(client, b.url, background=True)
    cancelled = await start(client, a.url)  # pending: never attached
    assert (await client.delete(f"{b.url}/jobs/{cancelled}", headers=AUTH)).status_code == 204
    expected = {completed: "job.completed", failed: "job.failed", cancelled: "job.cancelled"}

    await until(lambda: set(receiver.by_id()) >= set(expected), "all three delivered")
    await until(lambda: redis_client.zcard(KEYS.webhooks_due()) == 0, "nothing left due")
    grouped = receiver.by_id()
    assert set(grouped) == set(expected)
    assert {job_id: len(sent) for job_id, sent in grouped.items()} == dict.fromkeys(expected, 1)
    for job_id, [(headers, body)] in grouped.items():
        payload = verified(headers, body)
        assert payload["type"] == expected[job_id]
        data = payload["data"]
        assert (data["jobId"], data["owner"], data["agent"]) == (job_id, "alice", "chat")
        assert payload["timestamp"].endswith("Z")
    done = verified(*grouped[completed][0])["data"]
    assert done["status"] == "completed"
    assert done["result"] == {"text": "Hello!"}
    assert {"inputTokens", "outputTokens"} <= set(done["tokenUsage"])
    lost = verified(*grouped[failed][0])["data"]
    assert (lost["status"], lost["error"]["code"]) == ("failed", "UPSTREAM_OVERLOADED")
    assert lost["tokenUsage"] is None
    assert "result" not in lost
    stopped = verified(*grouped[cancelled][0])["data"]
    assert (stopped["status"], stopped["error"]["code"]) == ("cancelled", "CANCELLED")
    assert redis_client.exists(*(KEYS.webhook(job_id) for job_id in expected)) == 0


async def test_a_tampered_body_fails_the_library_check(
    live: StartLive, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    a = hooked(live, receiver, ScriptedBackend())
    job_id = await start(client, a.url, background=True)
    await until(lambda: job_id in receiver.by_id(), "delivered")
    [(headers, body)] = receiver.by_id()[job_id]
    verified(headers, body)
    with pytest.raises(Exception, match="signature"):
        verified(headers, body.replace(b"alice", b"mallory"))


async def test_a_503_is_retried_with_the_same_id_until_delivered(
    live: StartLive, client: httpx.AsyncClient, receiver: Receiver, redis_client: redis.Redis
) -> None:
    receiver.statuses = [503, 503]
    a = hooked(live, receiver, ScriptedBackend())
    hooked(live, receiver, ScriptedBackend())
    job_id = await start(client, a.url, background=True)
    await until(lambda: len(receiver.by_id().get(job_id, [])) == 3, "the third attempt")
    await until(lambda: redis_client.zcard(KEYS.webhooks_due()) == 0, "nothing left due")
    sent = receiver.by_id()[job_id]
    assert len(sent) == 3
    assert len({body for _, body in sent}) == 1  # the same message each time
    for headers, body in sent:
        assert verified(headers, body)["data"]["jobId"] == job_id
    assert redis_client.exists(KEYS.webhook(job_id)) == 0
    assert redis_client.zcard(KEYS.webhooks_dead()) == 0


async def test_a_delivery_past_the_bound_is_a_dead_letter_ops_lists(
    live: StartLive,
    client: httpx.AsyncClient,
    receiver: Receiver,
    redis_client: redis.Redis,
    redis_url: str,
) -> None:
    receiver.always = 503
    before = {outcome: sent(outcome) for outcome in ("delivered", "retried", "dead")}
    a = hooked(live, receiver, ScriptedBackend(), webhook_retry_for_s=2)
    hooked(live, receiver, ScriptedBackend(), webhook_retry_for_s=2)
    job_id = await start(client, a.url, background=True)
    await until(lambda: redis_client.zcard(KEYS.webhooks_dead()) == 1, "a dead letter")
    attempts = len(receiver.by_id()[job_id])
    assert attempts >= 2  # retried at least once before giving up
    assert redis_client.zcard(KEYS.webhooks_due()) == 0
    counted = {outcome: sent(outcome) - before[outcome] for outcome in before}
    assert counted == {"delivered": 0, "retried": attempts - 1, "dead": 1}
    done = ops(redis_url, "webhooks", "--json")
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)
    assert listing["due"] == 0
    [letter] = listing["dead"]
    assert (letter["jobId"], letter["status"], letter["owner"]) == (job_id, "completed", "alice")
    assert letter["attempts"] == attempts
    assert letter["lastError"] == "HTTP 503"
    text = ops(redis_url, "webhooks")
    assert job_id in text.stdout
    assert "HTTP 503" in text.stdout


async def test_a_timeout_is_retried_and_a_4xx_is_a_dead_letter_at_once(
    live: StartLive, client: httpx.AsyncClient, receiver: Receiver, redis_client: redis.Redis
) -> None:
    receiver.stall_s = 2
    a = hooked(live, receiver, ScriptedBackend(), webhook_timeout_s=0.5)
    slow = await start(client, a.url, background=True)
    await until(lambda: len(receiver.by_id().get(slow, [])) == 2, "the attempt after a timeout")
    await until(lambda: redis_client.zcard(KEYS.webhooks_due()) == 0, "delivered")
    assert redis_client.hget(KEYS.webhook(slow), "lastError") is None  # delivered: record gone
    receiver.always = 400
    refused = await start(client, a.url, background=True)
    await until(lambda: redis_client.zscore(KEYS.webhooks_dead(), refused) is not None, "dead")
    assert len(receiver.by_id()[refused]) == 1  # a 4xx is final: no retry
    assert redis_client.hget(KEYS.webhook(refused), "lastError") == "HTTP 400"
    assert redis_client.zscore(KEYS.webhooks_dead(), slow) is None


async def test_a_webhook_url_needs_a_well_formed_secret() -> None:
    from pydantic import SecretStr, ValidationError

    from app.settings import Settings

    with pytest.raises(ValidationError, match="WEBHOOK_SECRET"):
        Settings(webhook_url="http://127.0.0.1:9/hooks")
    with pytest.raises(ValidationError, match="whsec_"):
        Settings(webhook_url="http://127.0.0.1:9/hooks", webhook_secret=SecretStr("not-a-whsec"))
    with pytest.raises(ValidationError):
        Settings(webhook_url="ftp://example.com/", webhook_secret=SecretStr(SECRET))


async def test_a_settled_job_waits_in_redis_for_any_instance_and_one_sender_sends_it(
    redis_url: str, receiver: Receiver, redis_client: redis.Redis
) -> None:
    settings = make_settings(redis_url, webhook_url=receiver.url, webhook_secret=SECRET)
    config = webhook_config(settings)
    assert config is not None
    store_redis = connect(redis_url)
    spans = lifetimes(settings)
    events = EventLog(store_redis, KEYS, maxlen=max_events(settings), live_ttl_s=spans.running_s)
    store = JobStore(store_redis, KEYS, events, spans, webhooks=True)
    job = Job(id=new_job_id(), owner="alice", agent="chat", input={"prompt": "hi"})
    await store.create(job)
    data = error_payload(ErrorCode.CANCELLED, "c", retryable=False)
    assert await store.cancel(job.id, "alice", data) == ("cancelled", "chat")
    # The settling instance "died" here: no sender ran, yet the delivery is recorded and due.
    assert redis_client.zscore(KEYS.webhooks_due(), job.id) is not None
    assert redis_client.hget(KEYS.webhook(job.id), "status") == "cancelled"
    assert receiver.requests == []
    # Two instances' senders start, and each sweeps twice more at once: one POST in all.
    async with (
        WebhookSender(store_redis, KEYS, config, "one") as one,
        WebhookSender(store_redis, KEYS, config, "two") as two,
    ):
        await asyncio.gather(*(sender.sweep_once() for sender in (one, two, one, two)))
        await until(lambda: redis_client.zcard(KEYS.webhooks_due()) == 0, "delivered")
    await store_redis.aclose()
    [(headers, body)] = receiver.requests
    assert headers["webhook-id"] == job.id
    assert verified(headers, body)["type"] == "job.cancelled"


def a_store(redis_url: str, *, webhooks: bool) -> tuple[JobStore, Any]:
    settings = make_settings(redis_url, max_takeovers=0)
    store_redis = connect(redis_url)
    spans = lifetimes(settings)
    events = EventLog(store_redis, KEYS, maxlen=max_events(settings), live_ttl_s=spans.running_s)
    return JobStore(store_redis, KEYS, events, spans, webhooks=webhooks), store_redis


async def test_a_lost_runner_enqueues_once_and_webhooks_off_enqueue_nothing(
    redis_url: str, redis_client: redis.Redis
) -> None:
    store, store_redis = a_store(redis_url, webhooks=True)
    job = Job(id=new_job_id(), owner="alice", agent="chat", input={"prompt": "hi"})
    await store.create(job)
    claim = await store.claim(job.id, "alice", "runner-1")
    assert claim is not None
    assert claim.claimed
    await store_redis.delete(KEYS.lease(job.id))  # the runner died
    data = error_payload(ErrorCode.RUNNER_LOST, "gone", retryable=True)
    verdicts = await asyncio.gather(*(store.declare_lost(job.id, data) for _ in range(10)))
    assert verdicts.count(LeaseVerdict.LOST_MAX_TAKEOVERS) == 1
    assert redis_client.zrange(KEYS.webhooks_due(), 0, -1) == [job.id]
    record = redis_client.hgetall(KEYS.webhook(job.id))
    assert (record["status"], record["owner"], record["agent"]) == ("failed", "alice", "chat")
    assert json.loads(record["data"])["code"] == "RUNNER_LOST"
    await store_redis.aclose()

    redis_client.flushall()
    quiet, quiet_redis = a_store(redis_url, webhooks=False)
    other = Job(id=new_job_id(), owner="alice", agent="chat", input={"prompt": "hi"})
    await quiet.create(other)
    cancelled = error_payload(ErrorCode.CANCELLED, "c", retryable=False)
    assert await quiet.cancel(other.id, "alice", cancelled) == ("cancelled", "chat")
    assert redis_client.exists(KEYS.webhook(other.id), KEYS.webhooks_due()) == 0
    await quiet_redis.aclose()
