"""``jobs-client.d.ts`` says what ``jobs-client.js`` does: the same exports, the same public
methods of ``JobsClient``, and for every JSDoc ``@typedef {object}`` an interface with the same
properties, optional where the JSDoc's are (``[name]``).

A light check by reading both files, beside ``tsc`` itself over a usage file of the package
(``tests/app/test_js_package.py``), which cannot see what the JSDoc says.
"""

from __future__ import annotations

import re

import pytest

from app.page import STATIC_DIR
from jobs.events import START, TERMINAL, EventName

JS = (STATIC_DIR / "jobs-client.js").read_text()
DTS = (STATIC_DIR / "jobs-client.d.ts").read_text()


def class_body(source: str, name: str) -> str:
    start = source.index(f"export class {name} ")
    return source[start : source.index("\n}\n", start)]


def js_typedefs() -> dict[str, dict[str, bool]]:
    """Each ``@typedef {object}`` of the JS: property name → optional."""
    typedefs: dict[str, dict[str, bool]] = {}
    for block in re.findall(r"/\*\*(.*?)\*/", JS, flags=re.S):
        named = re.search(r"@typedef \{object\} (\w+)", block)
        if named:
            properties = re.findall(r"@property \{.*\} (\[?)(\w+)\]?", block)
            typedefs[named[1]] = {name: bool(bracket) for bracket, name in properties}
    return typedefs


def dts_interface(name: str) -> dict[str, bool]:
    """An interface of the d.ts: property name → optional."""
    match = re.search(rf"export interface {name}(?:<[^{{]*>)? \{{\n(.*?)\n\}}", DTS, flags=re.S)
    assert match, f"jobs-client.d.ts has no interface {name}"
    return {
        prop: bool(optional)
        for prop, optional in re.findall(r"^ {2}(\w+)(\?)?:", match[1], flags=re.M)
    }


def test_the_same_exports() -> None:
    exported = r"^export (?:async )?(?:class|function|const) (\w+)"
    js = set(re.findall(exported, JS, flags=re.M))
    dts = set(re.findall(exported, DTS, flags=re.M))
    assert js == dts
    assert {"JobsClient", "ProblemError", "FROM_START", "readEvents"} <= js


def test_the_same_public_methods() -> None:
    pattern = r"^ {2}(?:async )?([a-z]\w*)(?:<[^(]*>)?\("
    js = set(re.findall(pattern, class_body(JS, "JobsClient"), flags=re.M)) - {"constructor"}
    dts = set(re.findall(pattern, class_body(DTS, "JobsClient"), flags=re.M)) - {"constructor"}
    assert js == dts
    assert {"start", "attach", "cancel", "ticket"} <= js


@pytest.mark.parametrize("name", sorted(js_typedefs()))
def test_each_typedef_is_an_interface_with_the_same_properties(name: str) -> None:
    assert dts_interface(name) == js_typedefs()[name]


def test_the_typedefs_were_found() -> None:
    typedefs = js_typedefs()
    assert {"Job", "StreamHandlers", "ToolEvent", "Attachment", "CompleteEvent"} <= set(typedefs)
    assert typedefs["StreamHandlers"]["onTool"] is True  # optional, like every handler
    assert typedefs["Job"]["jobId"] is False


def test_the_client_speaks_the_services_event_vocabulary() -> None:
    """The events the client listens for are the service's (``tool``: the agents' tool steps,
    passed through to ``onTool`` ahead of the service sending them), and ``FROM_START`` is the
    service's id before every real one."""
    listened = set(re.findall(r'\bon\("(\w+)"', JS)) | {"error"}  # error: its own listener
    assert listened == {*EventName, "tool"}
    terminal = re.search(r"const TERMINAL = new Set\(\[(.*?)\]\)", JS)
    assert terminal
    assert set(re.findall(r'"(\w+)"', terminal[1])) == TERMINAL
    from_start = re.search(r'export const FROM_START = "(.*?)";', JS)
    assert from_start
    assert from_start[1] == START
