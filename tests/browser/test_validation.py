"""validation.js on the custom agent's schema, as `/openapi.json` serves it, in the browser the
page runs in: every rule the service enforces on `PUT /me/agents/feature-suggestion` that the
page checks, with the service's own answer as the reference (each case is also PUT to the
live service, which must refuse the same field).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.sync_api import Page

from tests.browser.pagekit import open_page
from tests.conftest import StartLive

pytestmark = pytest.mark.browser

VALIDATE = """async (bodies) => {
  const { fieldRules, validate } = await import("/static/validation.js");
  const spec = await (await fetch("/openapi.json")).json();
  const rules = fieldRules(spec.components.schemas["CustomAgentFeatureSuggestion"]);
  return bodies.map((body) => Object.keys(validate(rules, body)).sort());
}"""

GOOD: dict[str, Any] = {"name": "Critic", "temperature": 0.5, "tools": ["Read"], "effort": "max"}
CASES: list[tuple[dict[str, Any], list[str]]] = [
    (GOOD, []),
    (GOOD | {"isActive": False, "model": "demo", "role": "r" * 200}, []),
    (GOOD | {"name": ""}, ["name"]),
    (GOOD | {"name": "n" * 81}, ["name"]),
    (GOOD | {"temperature": 1.5}, ["temperature"]),
    (GOOD | {"temperature": -0.1}, ["temperature"]),
    (GOOD | {"temperature": "0.5"}, ["temperature"]),
    (GOOD | {"effort": "extreme"}, ["effort"]),
    (GOOD | {"tools": ["Read", "Read"]}, ["tools"]),
    (GOOD | {"tools": ["Bash"]}, ["tools"]),
    (GOOD | {"model": "gpt"}, ["model"]),
    (GOOD | {"isActive": "yes"}, ["isActive"]),
    (GOOD | {"systemPrompt": "s" * 8001}, ["systemPrompt"]),
    (GOOD | {"colour": "red"}, ["colour"]),
]


def test_the_page_refuses_what_the_service_refuses(live: StartLive, page: Page) -> None:
    server = live(auth_jwt_secret=None)
    open_page(page, server.url)
    shown = page.evaluate(VALIDATE, [body for body, _ in CASES])
    assert shown == [fields for _, fields in CASES]
    headers = {"Authorization": f"Bearer {httpx.post(f'{server.url}/dev/token').json()['token']}"}
    for body, fields in CASES:
        answer = httpx.put(f"{server.url}/me/agents/feature-suggestion", json=body, headers=headers)
        refused = sorted(e["field"] for e in answer.json().get("errors", []))
        assert (answer.status_code, refused) == (422 if fields else 200, fields), body
