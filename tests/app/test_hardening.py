"""Attacks that once worked, replayed against the running service: a web page driving a
dev-mode service, forged text log lines, control characters in custom agent fields, and a
token that claims to live forever."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from app import Settings
from tests.conftest import SECRET, StartLive, token
from tests.support.process import ROOT, ServiceProcess
from tests.support.redis_server import free_port

pytestmark = pytest.mark.anyio

EVIL = "https://evil.example"
CHAT = {"agent": "chat", "input": {"prompt": "hello"}}


# -- 1. dev mode answers no foreign origin -----------------------------------------------------


async def test_a_foreign_page_gets_no_dev_token(live: StartLive, client: httpx.AsyncClient) -> None:
    server = live(auth_jwt_secret=None, cors_allow_origins=["http://localhost:5173"])
    # A page on another site posts with no body (a CORS "simple" request: no preflight).
    for origin in (EVIL, "null", f"http://localhost:{server.port + 1}"):
        answer = await client.post(f"{server.url}/dev/token", headers={"Origin": origin})
        assert answer.status_code == 403, origin
        assert answer.json()["code"] == "DEV_TOKEN_LOCAL_ONLY"
        assert "token" not in answer.json()
        assert "origin" in answer.json()["detail"]
        assert "access-control-allow-origin" not in answer.headers

    own = await client.post(f"{server.url}/dev/token", headers={"Origin": server.url})
    assert own.status_code == 200, "the service's own page"
    listed = await client.post(
        f"{server.url}/dev/token", headers={"Origin": "http://localhost:5173"}
    )
    assert listed.status_code == 200, "a frontend's dev server named in CORS_ALLOW_ORIGINS"
    assert listed.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert (await client.post(f"{server.url}/dev/token")).status_code == 200, "curl"


async def test_even_allowed_everywhere_dev_tokens_stay_with_the_own_page(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    server = live(auth_jwt_secret=None, cors_allow_origins=["*"], allow_insecure_dev_mode=True)
    answer = await client.post(f"{server.url}/dev/token", headers={"Origin": EVIL})
    assert answer.status_code == 403
    assert "token" not in answer.json()


def test_dev_mode_refuses_every_origin_unless_told() -> None:
    with pytest.raises(ValueError, match="ALLOW_INSECURE_DEV_MODE"):
        Settings(cors_allow_origins=["*"])
    assert Settings(cors_allow_origins=["*"], allow_insecure_dev_mode=True).dev_auth
    assert not Settings(cors_allow_origins=["*"], auth_jwt_secret=SecretStr(SECRET)).dev_auth


def run_app(*args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", "--port", str(free_port()), *args],
        cwd=ROOT, env={"PATH": "/usr/bin:/bin"} | environment,
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "environment", "named"),
    [
        ((), {"CORS_ALLOW_ORIGINS": "*"}, "CORS_ALLOW_ORIGINS"),
        (("--host", "0.0.0.0"), {}, "--host 0.0.0.0"),
        (("--host", "192.168.1.20"), {"CORS_ALLOW_ORIGINS": "https://app.example"}, "--host"),
    ],
)
def test_dev_mode_does_not_start_exposed(
    args: tuple[str, ...], environment: dict[str, str], named: str
) -> None:
    result = run_app(*args, **environment)
    assert result.returncode == 2, result.stderr
    assert named in result.stderr
    assert "ALLOW_INSECURE_DEV_MODE=true" in result.stderr
    assert result.stdout == "", "no banner, no token"


def test_dev_mode_starts_exposed_when_told() -> None:
    service = ServiceProcess("--host", "0.0.0.0", ALLOW_INSECURE_DEV_MODE="true")
    try:
        service.start()
        assert httpx.get(f"{service.url}/healthz").status_code == 200
    finally:
        service.close()


# -- 2. text log lines cannot be forged --------------------------------------------------------

FORGED = "12:00:00 CRITICAL app.auth: forged"


@pytest.mark.parametrize("breaker", ["%0A", "%0D%0A", "%0D", "%E2%80%A8", "%1B%5B2K%0D"])
def test_a_path_cannot_write_a_log_line(breaker: str) -> None:
    service = ServiceProcess(LOG_FORMAT="text")
    try:
        service.start()
        attack = f"{service.url}/x{breaker}{FORGED.replace(' ', '%20')}"
        assert httpx.get(attack).status_code == 404
        service.terminate()
        lines = service.log().splitlines()
        access = [line for line in lines if "GET /x" in line]
        assert len(access) == 1, service.log()
        assert FORGED in access[0], "the line quotes what was asked, escaped"
        assert not any(re.match(r"\W*12:00:00 CRITICAL", line) for line in lines), service.log()
        assert "\x1b" not in service.log()
    finally:
        service.close()


# -- 5. one text rule; a token's lifetime is capped --------------------------------------------


@pytest.mark.parametrize("field", ["name", "role", "focus", "systemPrompt"])
@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x07", "\x85"])
async def test_custom_agent_fields_refuse_control_characters(
    live: StartLive, client: httpx.AsyncClient, field: str, char: str
) -> None:
    server = live()
    body = {"name": "Critic", field: f"a{char}b"} if field != "name" else {"name": f"a{char}b"}
    answer = await client.put(
        f"{server.url}/me/agents/feature-suggestion",
        json=body,
        headers={"Authorization": f"Bearer {token()}"},
    )
    assert answer.status_code == 422, answer.text
    assert "control characters" in answer.text
    assert field in answer.text


async def test_line_breaks_stay_out_of_one_line_fields_only(
    live: StartLive, client: httpx.AsyncClient
) -> None:
    server = live()
    url = f"{server.url}/me/agents/feature-suggestion"
    headers = {"Authorization": f"Bearer {token()}"}
    prose = {"name": "Critic", "focus": "a\nb", "systemPrompt": "one\r\n\ttwo"}
    assert (await client.put(url, json=prose, headers=headers)).status_code == 200
    for field in ("name", "role"):
        body = {"name": "Critic"} | {field: "a\nb"}
        assert (await client.put(url, json=body, headers=headers)).status_code == 422, field


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": 1e300},
        {"exp": 2**53},
        {"ttl_s": 2 * 86400},
        {"iat": 0, "exp": 10**10},
    ],
)
async def test_a_token_cannot_claim_to_live_longer_than_the_cap(
    live: StartLive, client: httpx.AsyncClient, claims: dict[str, Any]
) -> None:
    server = live()
    forever = token(**claims)
    answer = await client.post(
        f"{server.url}/jobs", json=CHAT, headers={"Authorization": f"Bearer {forever}"}
    )
    assert answer.status_code == 401, answer.text
    assert "lifetime" in answer.headers["www-authenticate"]


async def test_the_lifetime_cap_is_a_setting(live: StartLive, client: httpx.AsyncClient) -> None:
    week = token(ttl_s=6 * 86400)
    strict = live(auth_max_token_lifetime_s=3600)
    generous = live(auth_max_token_lifetime_s=7 * 86400)
    for server, status in ((strict, 401), (generous, 201)):
        answer = await client.post(
            f"{server.url}/jobs", json=CHAT, headers={"Authorization": f"Bearer {week}"}
        )
        assert answer.status_code == status
    hour = token()
    answer = await client.post(
        f"{strict.url}/jobs", json=CHAT, headers={"Authorization": f"Bearer {hour}"}
    )
    assert answer.status_code == 201
