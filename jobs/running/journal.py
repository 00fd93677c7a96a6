"""A run's journal: what a runner taking the run over reads to continue it where it stopped.

The journal is the run's stored events (:mod:`jobs.delivery.eventlog`), plus what continuing needs
that clients never see, stored in the same entries (field ``journal``, written by the same fenced
append, so the journal and the events cannot disagree):

- the first ``tool`` ``call`` event of a step carries the step's whole model turn (its text
  and tool calls, as the model wrote them): ``{"turn": [{"text"} | {"id", "name", "input"}]}``;
- each ``tool`` ``result`` event carries the call's full result (bounded by the tool limits):
  ``{"content", "ok", "files"}``.

Reading it back (:func:`read_journal`): the output so far (deltas, each ``rewind`` applied),
each step whose turn is journaled with its results, and where the interrupted step stands: in
its tool calls (those with a stored result are never run again, the others run again: the
tools only read), or in a model call (its text so far, which the new runner continues, or cuts
with a ``rewind`` when the backend cannot continue it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from jobs.backends import AssistantTurn, TextBlock, ToolResults, ToolUse, Turn
from jobs.events import EventName, StoredEvent, ToolPhase
from jobs.running.loop import MAX_CALLS_PER_STEP, Resumption, ToolAnswer, answers


@dataclass(frozen=True, slots=True)
class Journaled:
    """A tool result as the journal keeps it."""

    content: str
    ok: bool
    files_read: tuple[str, ...]

    @property
    def summary(self) -> str:
        return ""  # shown when the call ended; never again


@dataclass(frozen=True, slots=True)
class Journal:
    """Where a run stands: its ``text`` so far, ``step_start`` (the length of the text before
    the interrupted model step began; the text after it is that step's), and what the loop
    needs to go on (``resumption``)."""

    text: str
    step_start: int
    resumption: Resumption


def turn_journal(turn: AssistantTurn) -> str:
    blocks: list[dict[str, Any]] = [
        {"text": block.text}
        if isinstance(block, TextBlock)
        else {"id": block.id, "name": block.name, "input": block.input}
        for block in turn.content
    ]
    return orjson.dumps({"turn": blocks}).decode()


def result_journal(result: ToolAnswer) -> str:
    document = {"content": result.content, "ok": result.ok, "files": list(result.files_read)}
    return orjson.dumps(document).decode()


def _turn(blocks: list[dict[str, Any]]) -> AssistantTurn:
    return AssistantTurn(
        tuple(
            TextBlock(block["text"])
            if "text" in block
            else ToolUse(block["id"], block["name"], block["input"])
            for block in blocks
        )
    )


class _Reader:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.boundary = 0  # the text's length at the last tool event
        self.turns: list[Turn] = []
        self.steps = 0
        self.tool_calls = 0
        self.files: dict[str, None] = {}
        self.step: AssistantTurn | None = None  # the newest step with a journaled turn
        self.results: dict[str, ToolAnswer] = {}

    def add(self, event: StoredEvent, journal: str | None) -> None:
        if event.event == EventName.DELTA:
            text: str = event.payload()["text"]
            self.parts.append(text)
            self.length += len(text)
        elif event.event == EventName.REWIND:
            cut: int = event.payload()["totalLength"]
            whole = "".join(self.parts)[:cut]
            self.parts, self.length = [whole], len(whole)
        elif event.event == EventName.TOOL:
            self.boundary = self.length
            if journal is None:
                return
            entry = orjson.loads(journal)
            if "turn" in entry:
                self._close_step()
                self.step, self.results = _turn(entry["turn"]), {}
                self.steps += 1
            elif event.payload().get("phase") == ToolPhase.RESULT and self.step is not None:
                tool_id = event.payload()["id"]
                files = tuple(entry.get("files") or ())
                self.results[tool_id] = Journaled(entry["content"], bool(entry["ok"]), files)
                self.tool_calls += 1
                self.files.update(dict.fromkeys(files))

    def _uses(self) -> list[ToolUse]:
        assert self.step is not None
        return [block for block in self.step.content if isinstance(block, ToolUse)]

    def _close_step(self) -> None:
        if self.step is not None:
            results = answers(self._uses(), self.results)
            self.turns += [self.step, ToolResults(results)]
            self.step = None

    def journal(self) -> Journal:
        text = "".join(self.parts)
        pending = None
        if self.step is not None:
            ran = self._uses()[:MAX_CALLS_PER_STEP]
            if all(use.id in self.results for use in ran):
                self._close_step()
            else:
                pending = (self.step, dict(self.results))
        start = self.boundary if self.steps else 0
        prefill = text[start:] if pending is None else ""
        resumption = Resumption(
            turns=tuple(self.turns),
            steps=self.steps,
            tool_calls=self.tool_calls,
            files_read=tuple(self.files),
            pending=pending,
            prefill=prefill,
        )
        return Journal(text, start, resumption)


def read_journal(entries: list[tuple[StoredEvent, str | None]]) -> Journal:
    """Where the run of these stored events (with their journals, oldest first) stands."""
    reader = _Reader()
    for event, journal in entries:
        reader.add(event, journal)
    return reader.journal()
