"""The page's HTTP side: ``/``, its static files, and the dev-mode-only ``POST /dev/token``.

What the page does in a browser is tested in tests/browser.
"""

from __future__ import annotations

import logging
import re

import httpx
import pytest

from app import Settings, create_app
from app.__main__ import base_url, welcome
from app.page import STATIC_DIR, is_loopback
from tests.conftest import StartLive, token

pytestmark = pytest.mark.anyio

BODY = {
    "agent": "feature-suggestion",
    "input": {"pageOrComponent": "settings", "featureType": "integration", "priorityLevel": "low"},
}


async def test_the_page_is_served_at_the_root_with_a_strict_policy(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    server = live()
    page = await client.get(f"{server.url}/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.text == (STATIC_DIR / "index.html").read_text()
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "<script" not in re.sub(
        r'<script type="module" src="/static/[\w.-]+"></script>', "", page.text
    ), "no inline script: the policy would block it"
    assert (await client.head(f"{server.url}/")).status_code == 200


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("planner.js", "text/javascript"),
        ("jobs-client.js", "text/javascript"),
        ("validation.js", "text/javascript"),
        ("run.js", "text/javascript"),
        ("cards.js", "text/javascript"),
        ("partial-json.js", "text/javascript"),
        ("style.css", "text/css"),
        ("jobs-client.d.ts", "text/plain"),
    ],
)
async def test_every_file_the_page_loads_is_served(
    live: StartLive, client: httpx.AsyncClient, name: str, media_type: str
) -> None:
    server = live()
    page = "".join(
        (STATIC_DIR / used).read_text()
        for used in ("index.html", "planner.js", "run.js", "cards.js", "jobs-client.js")
    )
    assert f"/static/{name}" in page or f"./{name}" in page, f"{name} is not used by the page"
    response = await client.get(f"{server.url}/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == media_type  # modules need a JS type
    assert response.headers["cache-control"] == "no-cache"
    assert response.text == (STATIC_DIR / name).read_text()


async def test_unknown_static_files_and_the_api_keep_their_problem_documents(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    server = live()
    missing = await client.get(f"{server.url}/static/nope.js")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    outside = await client.get(f"{server.url}/static/%2e%2e/page.py")  # app/page.py
    assert outside.status_code == 404
    assert (await client.put(f"{server.url}/jobs")).status_code == 405  # the API, not a file


async def test_dev_mode_hands_the_page_a_working_token_and_never_logs_it(
    live: StartLive, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    server = live(auth_jwt_secret=None)
    with caplog.at_level(logging.DEBUG):
        issued = await client.post(f"{server.url}/dev/token")
    assert issued.status_code == 200
    assert issued.headers["cache-control"] == "no-store"
    body = issued.json()
    assert body["tokenType"] == "Bearer"
    assert body["sub"] == "dev"
    assert body["expiresIn"] == 3600
    assert body["token"] not in caplog.text
    for record in caplog.records:
        assert body["token"] not in record.getMessage()
        assert body["token"] not in str(vars(record))

    created = await client.post(
        f"{server.url}/jobs", json=BODY, headers={"Authorization": f"Bearer {body['token']}"}
    )
    assert created.status_code == 201, created.text
    status = await client.get(
        f"{server.url}/jobs/{created.json()['jobId']}",
        headers={"Authorization": f"Bearer {body['token']}"},
    )
    assert status.status_code == 200
    assert (await client.get(f"{server.url}/dev/token")).status_code == 405


async def test_there_is_no_dev_token_endpoint_when_auth_is_configured(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    server = live()  # AUTH_JWT_SECRET set
    response = await client.post(f"{server.url}/dev/token")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    assert (
        await client.post(f"{server.url}/jobs", json=BODY, headers={"Authorization": "Bearer x"})
    ).status_code == 401
    assert (
        await client.post(
            f"{server.url}/jobs", json=BODY, headers={"Authorization": f"Bearer {token()}"}
        )
    ).status_code == 201


async def test_dev_tokens_are_for_this_machine_only(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    server = live(auth_jwt_secret=None)
    # A web site that rebinds its own name to 127.0.0.1: the browser sends that name as Host.
    rebound = await client.post(f"{server.url}/dev/token", headers={"Host": "evil.example"})
    assert rebound.status_code == 403
    assert rebound.json()["code"] == "DEV_TOKEN_LOCAL_ONLY"
    assert "token" not in rebound.json()
    local = await client.post(
        f"{server.url}/dev/token", headers={"Host": f"localhost:{server.port}"}
    )
    assert local.status_code == 200

    # A caller elsewhere on the network (a dev server bound to 0.0.0.0), even one that claims
    # to be localhost.
    app = create_app(Settings())
    transport = httpx.ASGITransport(app=app, client=("192.168.1.20", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost:8000") as remote:
        answer = await remote.post("/dev/token")
    assert answer.status_code == 403
    assert answer.json()["code"] == "DEV_TOKEN_LOCAL_ONLY"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("app.localhost", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("192.168.1.20", False),
        ("0.0.0.0", False),
        ("evil.example", False),
        ("localhost.evil.example", False),
        ("", False),
        (None, False),
    ],
)
def test_is_loopback(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_python_m_app_prints_the_page_url() -> None:
    assert base_url("127.0.0.1", 8000) == "http://127.0.0.1:8000"
    assert base_url("0.0.0.0", 8080) == "http://localhost:8080"
    assert base_url("::1", 8000) == "http://[::1]:8000"
    dev = welcome("http://127.0.0.1:8000", "tok.en.x")
    assert "Open http://127.0.0.1:8000/ in a browser" in dev
    assert "export TOKEN=tok.en.x" in dev
    configured = welcome("http://127.0.0.1:8000", None)
    assert "Open http://127.0.0.1:8000/ in a browser" in configured
    assert "TOKEN" not in configured
