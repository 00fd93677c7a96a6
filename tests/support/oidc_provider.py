"""panva's ``oidc-provider`` (the npm package, a certified OpenID provider) on loopback, run
with Node from ``tests/oidc_provider/`` (its package.json and lock are committed; ``npm ci``
installs it there on first use). It issues real tokens: RFC 9068 ``at+jwt`` access tokens via
``client_credentials`` with a resource indicator, and ID tokens via the authorization-code flow
(its development login form, driven over HTTP).

The provider's keys are a file this module writes; :meth:`RealProvider.restart` with other
keys rotates or removes them, :meth:`RealProvider.stop` is an outage.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc.jwk import ECKey, Key, RSAKey

from tests.support.redis_server import free_port, require

FOLDER = Path(__file__).resolve().parents[1] / "oidc_provider"
AUDIENCE = "jobs-api"
BACKEND = ("jobs-backend", "jobs-backend-secret-0123456789abcdef")
WEB = ("planner-web", "planner-web-secret-0123456789abcdef")
CALLBACK = "http://127.0.0.1/callback"
RESOURCE = {"RS256": "https://jobs.example/rs", "ES256": "https://jobs.example/es"}


def signing_keys(rsa_kid: str = "rsa-1", ec_kid: str = "ec-1") -> list[Key]:
    return [
        RSAKey.generate_key(2048, {"kid": rsa_kid, "use": "sig", "alg": "RS256"}),
        ECKey.generate_key("P-256", {"kid": ec_kid, "use": "sig", "alg": "ES256"}),
    ]


def installed() -> None:
    """``npm ci`` in the test-owned folder unless done; skips without npm (fails in CI)."""
    npm = require("npm", package="npm")
    require("node", package="nodejs")
    if (FOLDER / "node_modules" / "oidc-provider").is_dir():
        return
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"], cwd=FOLDER, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        message = f"npm ci failed in {FOLDER}: {result.stderr[-2000:]}"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


class RealProvider:
    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[str] | None = None
        self._dir = Path(tempfile.mkdtemp(prefix="oidc-provider-"))
        self.log_path = self._dir / "provider.log"

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, keys: list[Key]) -> RealProvider:
        keys_file = self._dir / "jwks.json"
        keys_file.write_text(json.dumps({"keys": [key.as_dict(private=True) for key in keys]}))
        with self.log_path.open("a") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [require("node", package="nodejs"), "server.mjs", str(self.port), str(keys_file)],
                cwd=FOLDER, stdout=log, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=1)
                return self
            except httpx.TransportError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"oidc-provider did not start: {self.log()}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def restart(self, keys: list[Key]) -> None:
        self.stop()
        self.start(keys)

    def log(self) -> str:
        return self.log_path.read_text()[-4000:]

    def access_token(self, alg: str = "RS256") -> str:
        """An RFC 9068 access token for the ``jobs-api`` audience (``client_credentials``)."""
        answer = httpx.post(
            f"{self.issuer}/token",
            data={"grant_type": "client_credentials", "resource": RESOURCE[alg], "scope": "jobs"},
            auth=BACKEND,
        )
        answer.raise_for_status()
        token: str = answer.json()["access_token"]
        return token

    def id_token(self, sub: str = "alice", *, nonce: str | None = "n-0S6_WzA2Mj") -> str:
        """An ID token for ``planner-web``, through the authorization-code flow and the
        provider's development login form (any password)."""
        params = {"client_id": WEB[0], "response_type": "code", "scope": "openid",
                  "redirect_uri": CALLBACK, "state": "s"}  # fmt: skip
        if nonce is not None:
            params["nonce"] = nonce
        with httpx.Client(base_url=self.issuer) as browser:
            answer = browser.get("/auth", params=params)
            for _ in range(10):
                if answer.status_code == 200:  # the login form
                    action = re.search(r'action="([^"]+)"', answer.text)
                    assert action is not None, answer.text[:500]
                    fields: dict[str, Any] = dict(
                        re.findall(r'name="([^"]+)" value="([^"]*)"', answer.text)
                    )
                    answer = browser.post(
                        action.group(1), data=fields | {"login": sub, "password": "x"}
                    )
                    continue
                location = answer.headers["location"]
                if location.startswith(CALLBACK):
                    code = parse_qs(urlsplit(location).query)["code"][0]
                    break
                answer = browser.get(location)
            else:
                raise AssertionError("the authorization flow did not reach the callback")
            tokens = browser.post(
                "/token",
                data={"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK},
                auth=WEB,
            )
            tokens.raise_for_status()
            token: str = tokens.json()["id_token"]
            return token
