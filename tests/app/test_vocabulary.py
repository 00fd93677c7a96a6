"""Every place outside ``jobs.events`` that spells an event name or code agrees with it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

from app.openapi import openapi_document
from jobs.agents import AgentRegistry, default_agents
from jobs.backends.demo import DemoBackend
from jobs.client.resume import TYPES
from jobs.events import REWIND_REASONS, STORED, TERMINAL, ErrorCode, EventName
from jobs.schemas import EVENTS, RewindEvent

STATIC = Path(__file__).parents[2] / "app" / "static"


#: Events the JavaScript client does not handle yet: it learns ``rewind`` in a change of its
#: own. :func:`test_the_javascript_exemptions_are_still_needed` fails once it does, so this
#: set cannot outlive its reason.
def js_set(source: str, name: str) -> set[str]:
    found = re.search(rf"const {name} = new Set\(\[(.*?)\]\)", source)
    assert found is not None, name
    return set(re.findall(r'"(\w+)"', found.group(1)))


def test_the_javascript_client_uses_the_servers_names() -> None:
    source = (STATIC / "jobs-client.js").read_text()
    terminal = re.search(r"const TERMINAL = new Set\(\[(.*?)\]\)", source)
    assert terminal is not None
    assert set(re.findall(r'"(\w+)"', terminal.group(1))) == {e.value for e in TERMINAL}
    listened = set(re.findall(r'(?:\bon|es\.addEventListener)\("(\w+)"', source))
    expected = {e.value for e in EventName}
    assert listened == expected, "the client listens to every event, no other"
    stored = js_set(source, "STORED") | {e.value for e in TERMINAL}  # ...TERMINAL spread in it
    assert stored == {e.value for e in STORED}
    resumable = re.search(r'const RESUMABLE_ERROR = "(\w+)"', source)
    assert resumable is not None
    assert resumable.group(1) == ErrorCode.STORE_UNAVAILABLE


def test_openapi_and_the_payload_models_name_every_event() -> None:
    assert set(EVENTS) == {e.value for e in EventName}
    registry = AgentRegistry(default_agents(), DemoBackend(tokens_per_second=10))
    frames = openapi_document(registry)["components"]["schemas"]["ServerSentEvent"]["oneOf"]
    assert {frame["properties"]["event"]["const"] for frame in frames} == set(EVENTS)


def test_each_event_knows_whether_it_is_stored_and_terminal() -> None:
    assert {e for e in EventName if not e.stored} == {EventName.CONNECTED}
    assert {EventName.COMPLETE, EventName.ERROR} == TERMINAL
    assert EventName.REWIND.stored
    assert not EventName.REWIND.terminal
    assert all(e.stored for e in TERMINAL)


def test_openapi_requires_an_id_on_every_event_that_always_has_one() -> None:
    registry = AgentRegistry(default_agents(), DemoBackend(tokens_per_second=10))
    frames = openapi_document(registry)["components"]["schemas"]["ServerSentEvent"]["oneOf"]
    with_id = {f["properties"]["event"]["const"] for f in frames if "id" in f["required"]}
    # An error that could not be stored is sent without an id (STORE_UNAVAILABLE).
    assert with_id == {"delta", "tool", "rewind", "complete"}
    assert with_id == {e.value for e in STORED} - {EventName.ERROR}


def test_the_python_client_types_every_event_with_the_servers_model() -> None:
    assert set(TYPES) == {e.value for e in EventName}
    for name, kind in TYPES.items():
        assert issubclass(kind, EVENTS[name]), name


def test_a_rewinds_reasons_are_the_error_codes_that_cause_one() -> None:
    annotation = RewindEvent.model_fields["reason"].annotation
    assert set(get_args(annotation)) == {reason.value for reason in REWIND_REASONS}
    assert {ErrorCode.RUNNER_LOST, ErrorCode.SHUTDOWN} == set(REWIND_REASONS)
