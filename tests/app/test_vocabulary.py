"""Every place outside ``jobs.events`` that spells an event name or code agrees with it."""

from __future__ import annotations

import re
from pathlib import Path

from app.openapi import openapi_document
from jobs.agents import AgentRegistry, default_agents
from jobs.backends.demo import DemoBackend
from jobs.events import TERMINAL, ErrorCode, Event
from jobs.schemas import EVENTS

STATIC = Path(__file__).parents[2] / "app" / "static"


def test_the_javascript_client_uses_the_servers_names() -> None:
    source = (STATIC / "jobs-client.js").read_text()
    terminal = re.search(r"const TERMINAL = new Set\(\[(.*?)\]\)", source)
    assert terminal is not None
    assert set(re.findall(r'"(\w+)"', terminal.group(1))) == {e.value for e in TERMINAL}
    listened = set(re.findall(r'(?:\bon|es\.addEventListener)\("(\w+)"', source))
    # ``rewind`` (a run continued by another instance) is applied by the client whether or not
    # this server's vocabulary has it yet.
    expected = {e.value for e in Event} | {"rewind"}
    assert listened == expected, "the client listens to every event, no other"
    resumable = re.search(r'const RESUMABLE_ERROR = "(\w+)"', source)
    assert resumable is not None
    assert resumable.group(1) == ErrorCode.STORE_UNAVAILABLE


def test_openapi_and_the_payload_models_name_every_event() -> None:
    assert set(EVENTS) == {e.value for e in Event}
    registry = AgentRegistry(default_agents(), DemoBackend(tokens_per_second=10))
    frames = openapi_document(registry)["components"]["schemas"]["ServerSentEvent"]["oneOf"]
    assert {frame["properties"]["event"]["const"] for frame in frames} == set(EVENTS)
