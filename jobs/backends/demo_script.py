"""The demo backend's decisions: a small scripted model that answers any request from itself.

:func:`next_step` reads a :class:`~jobs.backends.ModelRequest` (its prompt, the tools it
offers, the conversation so far) and says what the model does next: look for the prompt's
subject with the tools (Glob for paths that contain it and Grep for it, then Read the best
matches), or answer. The answer is grounded in what the tools returned (file paths,
component and function names, TODO comments, headings): a JSON document generated from the
request's ``output_schema`` when it has one, plain text otherwise. Nothing here knows an
agent: the same rules hold for every prompt. Everything is deterministic for the same
request.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from jobs.backends.base import AssistantTurn, ModelRequest, ToolResults, ToolUse

#: The most files the demo reads before it answers.
MAX_READS = 2

_STOP_TEXT = (
    "a an and are as at be by can do does for from how i in into is it its me my of on or "
    "our please should so suggest that the their them these this those to up us we what "
    "when where which who why will with would you your about after before features feature "
    "give tell write explain some more most"
)
_STOPWORDS = frozenset(_STOP_TEXT.split())
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_NAME_RE = re.compile(
    r"\b(function|class|def|interface|type|const|let)\s+([A-Za-z_][A-Za-z0-9_]{2,40})"
)
#: Which facts an answer builds on first: TODOs, then functions and classes, then headings.
_RANK = {"todo": 0, "function": 1, "heading": 2, "name": 3}
_TODO_RE = re.compile(r"\b(?:TODO|FIXME)\b[:\s]*(.{3,120})")
_HEADING_RE = re.compile(r"^#{1,4}\s+(.{3,80})$")
_READ_LINE_RE = re.compile(r"^\s*\d+\t(.*)$")


def subject(prompt: str) -> str:
    """What the prompt is about: the phrase after the last colon of its first line (``…
    features for: checkout page``), else the longest word of that line that is not a
    stopword."""
    first = prompt.strip().splitlines()[0] if prompt.strip() else ""
    match = re.search(r":\s*([^:]+)$", first)
    if match and match.group(1).strip(" .!?"):
        return match.group(1).strip(" .!?")[:80]
    words = [w for w in _WORD_RE.findall(first) if w.lower() not in _STOPWORDS]
    return max(words, key=len, default="project")[:80]


def search_term(text: str) -> str:
    """The word of ``text`` to look for in paths and files: its longest non-stopword word."""
    words = [w for w in _WORD_RE.findall(text) if w.lower() not in _STOPWORDS and len(w) > 2]
    return max(words, key=len, default="index").lower()


@dataclass
class Findings:
    """What the tools returned so far."""

    globbed: list[str] = field(default_factory=list)
    grep_hits: dict[str, int] = field(default_factory=dict)
    #: path → the file's lines, as Read returned them.
    read: dict[str, list[str]] = field(default_factory=dict)
    steps: int = 0

    def best_matches(self) -> list[str]:
        score: dict[str, int] = {}
        for path in self.globbed:
            score[path] = score.get(path, 0) + 3
        for path, hits in self.grep_hits.items():
            score[path] = score.get(path, 0) + hits
        ranked = sorted(score, key=lambda p: (-score[p], p))
        return [p for p in ranked if p not in self.read][:MAX_READS]


def findings(request: ModelRequest) -> Findings:
    """Parse the conversation: each call the demo made, and what its tool returned."""
    calls: dict[str, ToolUse] = {}
    found = Findings()
    for turn in request.turns:
        if isinstance(turn, AssistantTurn):
            found.steps += 1
            calls.update({b.id: b for b in turn.content if isinstance(b, ToolUse)})
        elif isinstance(turn, ToolResults):
            for result in turn.results:
                call = calls.get(result.tool_use_id)
                if call is None or result.is_error:
                    continue
                _take(found, call, result.content)
    return found


def _take(found: Findings, call: ToolUse, content: str) -> None:
    lines = [line for line in content.splitlines() if line and not line.startswith("…")]
    if call.name == "Glob" and not content.startswith("No files match"):
        found.globbed += [line for line in lines if line not in found.globbed]
    elif call.name == "Grep" and not content.startswith("No matches"):
        for line in lines:
            path, sep, _rest = line.partition(":")
            if sep:
                found.grep_hits[path] = found.grep_hits.get(path, 0) + 1
    elif call.name == "Read":
        path = str(call.input.get("path", ""))
        found.read[path] = [m.group(1) for m in map(_READ_LINE_RE.match, lines) if m]


def tool_calls(request: ModelRequest, step: int) -> tuple[str, list[ToolUse]]:
    """The text and the tool calls of the demo's next step; no calls: time to answer."""
    offered = {str(tool.get("name")) for tool in request.tools}
    found = findings(request)
    what = subject(request.prompt)
    term = search_term(what)
    ids = (f"toolu_demo_{step}_{n}" for n in range(4))
    if found.steps == 0:
        calls = []
        if "Glob" in offered:
            pattern = f"**/*{{{term.capitalize()},{term}}}*"
            calls.append(ToolUse(next(ids), "Glob", {"pattern": pattern}))
        if "Grep" in offered:
            calls.append(
                ToolUse(
                    next(ids),
                    "Grep",
                    {"pattern": f"(?i){re.escape(term)}", "output_mode": "content"},
                )
            )
        if calls:
            return f"Looking for the {what} in the source…\n", calls
    if found.steps <= 1 and "Read" in offered:
        best = found.best_matches()
        if best:
            reads = [ToolUse(next(ids), "Read", {"path": p, "limit": 200}) for p in best]
            return f"Reading {', '.join(best)}.\n", reads
    return "", []


@dataclass(frozen=True)
class Fact:
    """One thing read: where, and what (a name, a TODO, a heading)."""

    path: str
    kind: str
    text: str


def facts(request: ModelRequest) -> list[Fact]:
    """What the files read say, in reading order, each fact once."""
    found: list[Fact] = []
    for path, lines in findings(request).read.items():
        for line in lines:
            for match in _NAME_RE.finditer(line):
                callable_ = match.group(1) in ("function", "class", "def")
                found.append(Fact(path, "function" if callable_ else "name", match.group(2)))
            if todo := _TODO_RE.search(line):
                found.append(Fact(path, "todo", todo.group(1).strip(" */-")))
            if heading := _HEADING_RE.match(line.strip()):
                found.append(Fact(path, "heading", heading.group(1).strip()))
    unique = sorted(dict.fromkeys(f for f in found if f.text), key=lambda f: _RANK[f.kind])
    if not unique:
        what = subject(request.prompt)
        unique = [Fact("", "subject", what)]
    return unique


def rng_for(request: ModelRequest) -> random.Random:
    seed = json.dumps([request.system, request.prompt, len(request.turns)]).encode()
    return random.Random(hashlib.sha256(seed).digest())  # noqa: S311 - not security


_IDEAS = [
    ("Clearer states for", "users cannot tell what is loading or failed"),
    ("Inline guidance in", "new users stall on unfamiliar steps"),
    ("Faster path through", "frequent tasks take too many steps"),
    ("Accessible controls in", "keyboard and screen reader users get stuck"),
    ("Saved progress for", "people lose their work when they leave"),
    ("Error recovery in", "a failed request leaves users guessing"),
    ("Measured usage of", "nobody knows which parts are used"),
]

_CONSIDERATIONS = [
    "Keep the change behind a feature flag and roll it out gradually",
    "Cover the new paths with automated tests",
    "Keep it accessible: keyboard, screen readers, contrast",
    "Measure the baseline first, so the change can be judged",
    "Decide what happens when the network or an API fails",
    "Watch the performance budget on low-end devices",
]

_CHAT_SENTENCES = [
    "This answer comes from the offline demo backend, so it is the same for the same prompt.",
    "Set ANTHROPIC_API_KEY to have Claude answer instead.",
    "The text streams in throttled deltas, and every character of it reaches you.",
    "Disconnect and reconnect with Last-Event-ID, and the stream resumes where it stopped.",
    "Each job runs once, however many clients attach to it.",
]


@functools.cache
def _json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The output model's JSON Schema, built once per model (read, never changed)."""
    return model.model_json_schema(by_alias=True)


def answer(request: ModelRequest) -> str:
    """The final answer: JSON for the request's ``output_schema``, else plain text."""
    rng = rng_for(request)
    known = facts(request)
    if request.output_schema is not None:
        schema = _json_schema(request.output_schema)
        filler = _Filler(schema.get("$defs", {}), known, rng, _ambition(request.prompt))
        return json.dumps(filler.value(schema, "", (0,)), indent=2, ensure_ascii=False)
    read = list(findings(request).read)
    if read:
        names = ", ".join(f.text for f in known if f.kind in ("name", "function"))
        text = f"I read {', '.join(read)}."
        if names:
            text += f" They define {names}."
        todos = [f"{f.path}: {f.text}" for f in known if f.kind == "todo"]
        if todos:
            text += " Open TODOs: " + "; ".join(todos) + "."
        return text
    prompt = request.prompt.strip()
    excerpt = prompt if len(prompt) <= 80 else prompt[:77] + "..."
    turn = rng.randrange(len(_CHAT_SENTENCES))
    ordered = _CHAT_SENTENCES[turn:] + _CHAT_SENTENCES[:turn]
    return f'You asked: "{excerpt}"\n\n' + " ".join(ordered)


class _Filler:
    """A value for a JSON Schema, its strings grounded in the facts read. ``at`` is the
    position in the document (array indexes), so that each array item differs."""

    def __init__(
        self, defs: dict[str, Any], known: list[Fact], rng: random.Random, ambition: int
    ) -> None:
        self.defs = defs
        self.facts = known
        self.offset = rng.randrange(len(_IDEAS))
        self.titles: set[str] = set()
        self.ambition = ambition

    def value(self, schema: dict[str, Any], name: str, at: tuple[int, ...]) -> Any:
        ref = schema.get("$ref")
        if isinstance(ref, str):
            return self.value(self.defs[ref.rsplit("/", 1)[-1]], name, at)
        for key in ("anyOf", "oneOf", "allOf"):
            options = [o for o in schema.get(key, []) if o.get("type") != "null"]
            if options:
                return self.value(options[0], name, at)
        if "enum" in schema:
            return schema["enum"][at[-1] % len(schema["enum"])]
        if "const" in schema:
            return schema["const"]
        kind = schema.get("type", "object")
        if kind == "object":
            props = schema.get("properties", {})
            return {key: self.value(sub, key, at) for key, sub in props.items()}
        if kind == "array":
            count = 3 + self.ambition if len(at) == 1 else 2
            count = max(schema.get("minItems", 0), min(count, schema.get("maxItems", count)))
            return [self.value(schema.get("items", {}), name, (*at, i)) for i in range(count)]
        if kind in ("integer", "number"):
            return schema.get("minimum", 1)
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        text = self.text(name, at)
        low, high = schema.get("minLength", 1), schema.get("maxLength", 2000)
        return (text + "." * max(0, low - len(text)))[:high]

    def text(self, name: str, at: tuple[int, ...]) -> str:
        item = at[1] if len(at) > 1 else at[0]
        fact = self.facts[item % len(self.facts)]
        idea, problem = _IDEAS[(self.offset + item) % len(_IDEAS)]
        where = fact.path or "the product"
        lowered = name.lower()
        if len(at) > 2:
            advice = _CONSIDERATIONS[(item + at[-1]) % len(_CONSIDERATIONS)]
            return f"{advice} ({where})"
        if "title" in lowered or "name" in lowered:
            title = f"{idea} {_short(fact)}"
            while title in self.titles:
                title += "+"
            self.titles.add(title)
            return title
        if "rationale" in lowered or "reason" in lowered or "why" in lowered:
            return f"In {where}, {problem}; {_said(fact)}."
        return (
            f"Build on {_short(fact)} in {where}: {idea.lower()} it, starting with the common path."
        )


def _ambition(prompt: str) -> int:
    """How many more items than the least a prompt asks for: a critical ask gets the most."""
    lowered = prompt.lower()
    return 2 if "critical" in lowered else 1 if re.search(r"\bhigh\b", lowered) else 0


def _short(fact: Fact) -> str:
    if fact.kind in ("name", "function"):
        return fact.text
    return fact.path.rsplit("/", 1)[-1] if fact.path else fact.text


def _said(fact: Fact) -> str:
    if fact.kind == "todo":
        return f'the code says "TODO: {fact.text}"'
    if fact.kind == "heading":
        return f'the notes are headed "{fact.text}"'
    if fact.kind in ("name", "function"):
        return f"it is implemented by {fact.text}"
    return f"this is about {fact.text}"
