"""partial-json.js, run in the real browser the page runs in (no other JavaScript toolchain).

Every prefix of a JSON text must parse to a value that only grows towards ``json.loads`` of
the whole text: what a card shows is never taken back. Expected values come from Python's
``json`` module or are written out by hand, never from the parser under test.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.browser.pagekit import BASE_INPUT, answer_of, offline_reply, open_page
from tests.conftest import StartLive

pytestmark = pytest.mark.browser

MISSING = {"$undefined": True}  # how the page reports "nothing known yet" (JSON has no undefined)

PARSE_ALL_PREFIXES = """async (texts) => {
  const { parsePartial } = await import("/static/partial-json.js");
  const encode = (value) => value === undefined ? {"$undefined": true} : value;
  return texts.map((text) => {
    const out = [];
    for (let end = 0; end <= text.length; end += 1) {
      out.push(encode(parsePartial(text.slice(0, end))));
    }
    return out;
  });
}"""

PARSE = """async (texts) => {
  const { parsePartial } = await import("/static/partial-json.js");
  return texts.map((text) => {
    try {
      const value = parsePartial(text);
      return { value: value === undefined ? {"$undefined": true} : value };
    } catch (err) {
      return { error: `${err.name}: ${err.message}` };
    }
  });
}"""

DOCUMENTS = [
    answer_of(offline_reply({**BASE_INPUT, "priorityLevel": "critical"})),
    json.dumps({"a": [1, -2.5e3, 0, True, False, None, {}, []], "b": {"c": "d"}}),
    json.dumps({"esc": 'quote " backslash \\ slash / \b\f\n\r\t', "u": "é😀\u0001"}),
    json.dumps({"esc": "é😀\u0001"}, ensure_ascii=True),  # \\u escapes, a surrogate pair
    '  [ {"k" :  "v" } ,\n\t"x" , 12 , 3.25 ]  ',
    json.dumps([[[]], [[1]], {"": ""}]),
]


def grows(before: Any, after: Any) -> bool:
    """``after`` keeps all of ``before`` and may add to it (strings may get longer)."""
    if before == MISSING:
        return True
    if isinstance(before, str):
        return isinstance(after, str) and after.startswith(before)
    if isinstance(before, list):
        return (
            isinstance(after, list)
            and len(before) <= len(after)
            and all(grows(b, a) for b, a in zip(before, after, strict=False))
        )
    if isinstance(before, dict):
        return isinstance(after, dict) and all(
            key in after and grows(value, after[key]) for key, value in before.items()
        )
    return type(before) is type(after) and before == after


@pytest.fixture
def page_on_server(live: StartLive, page: Page) -> Page:
    open_page(page, live().url)
    return page


def test_every_prefix_grows_towards_the_whole_document(page_on_server: Page) -> None:
    results = page_on_server.evaluate(PARSE_ALL_PREFIXES, DOCUMENTS)
    for document, values in zip(DOCUMENTS, results, strict=True):
        assert values[-1] == json.loads(document)
        assert values[0] == MISSING
        for end, (before, after) in enumerate(itertools.pairwise(values)):
            assert grows(before, after), (document[: end + 1], before, after)
    first = results[0]
    shown = [v for v in first if v != MISSING and v.get("suggestions")]
    assert len({json.dumps(v) for v in shown}) > 100, "the reply is seen in many steps"


CASES: list[tuple[str, Any]] = [
    ("", MISSING),
    ("   ", MISSING),
    ("{", {}),
    ('{"sugg', {}),  # a key cut short waits
    ('{"suggestions"', {}),
    ('{"suggestions": ', {}),  # a key whose value has not started waits
    ('{"suggestions": [', {"suggestions": []}),
    ('{"suggestions": [{"title": "Sav', {"suggestions": [{"title": "Sav"}]}),
    ('{"t": "a\\', {"t": "a"}),  # half an escape is left out
    ('{"t": "a\\u00e', {"t": "a"}),
    ('{"t": "a\\u00e9', {"t": "aé"}),
    ('{"t": "\\ud83d', {"t": ""}),  # a high surrogate waits for its other half
    ('{"t": "\\ud83d\\ude0', {"t": ""}),
    ('{"t": "\\ud83d\\ude00', {"t": "😀"}),
    ('{"n": 12', {}),  # a number may go on: 12, 123, 12.5
    ('{"n": 12.', {}),
    ('{"n": 12.5,', {"n": 12.5}),
    ('{"n": -', {}),
    ('{"b": tr', {}),
    ('{"b": true', {"b": True}),
    ('{"b": null}', {"b": None}),
    ('[1, "x", [2, [3', [1, "x", [2, []]]),
    ('{"a": {"b": {"c": "d', {"a": {"b": {"c": "d"}}}),
    ('{"a": 1} trailing', {"a": 1}),
]


def test_known_prefixes(page_on_server: Page) -> None:
    texts = [text for text, _ in CASES]
    answers = page_on_server.evaluate(PARSE, texts)
    assert [a.get("value", a) for a in answers] == [expected for _, expected in CASES]


@pytest.mark.parametrize(
    "text",
    ['{"a" 1}', "[1 2]", '{"a": x', "{1: 2}", '{"a": "\\q"}', '["a\u0001"]', '{"a": 01}', "}"],
)
def test_text_that_cannot_be_json_throws(page_on_server: Page, text: str) -> None:
    (answer,) = page_on_server.evaluate(PARSE, [text])
    assert answer.get("error", "").startswith("SyntaxError: partial JSON"), answer
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
