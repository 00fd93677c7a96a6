"""What the client commands of ``python -m jobs`` write, and where: the output text to stdout
as it arrives (:func:`follow`: exactly the text when stdout is not a terminal), a progress line
on stderr when it is a terminal (:class:`Progress`, cleared before any text is written to the
same terminal), tool steps, a rewound run's notice, a structured result printed pretty after
the text, and errors with their exit code (:func:`exit_code`). ``--json`` prints JSON
documents instead (:class:`Console`)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, TextIO

from jobs.client.api import JobsClient
from jobs.client.errors import ClientError, JobCancelled, JobFailed, ProblemError, StreamEnded
from jobs.client.resume import (
    Complete,
    Connected,
    Delta,
    Failure,
    Output,
    Rewind,
    Tool,
    job_failed,
)
from jobs.events import ToolPhase
from jobs.exits import Exit


def exit_code(error: ClientError) -> Exit:
    """The exit code for ``error``."""
    if isinstance(error, JobFailed):
        return Exit.CANCELLED if isinstance(error, JobCancelled) else Exit.FAILED
    if isinstance(error, StreamEnded):
        return Exit.FINISHED
    if isinstance(error, ProblemError):
        by_status = {401: Exit.UNAUTHORIZED, 403: Exit.FORBIDDEN, 404: Exit.NOT_FOUND}
        if error.status in by_status:
            return by_status[error.status]
        if error.status == 410:
            return Exit.FINISHED
        return Exit.UNAVAILABLE if error.status >= 500 else Exit.REJECTED
    return Exit.UNAVAILABLE


#: The input field a step line quotes, in order of preference: each tool's ``phrase`` in
#: ``jobs.tools.registry`` (a test checks; the client does not import the tools).
STEP_FIELDS = ("pattern", "file_path", "path")


def tool_line(event: Tool) -> str:
    """A tool step for people: ``⋯ Grep "checkout"`` when it starts, ``✓ Grep: 12 matches in
    3 files`` when it ends (``✗`` when the tool refused)."""
    if event.phase == ToolPhase.CALL:
        given = event.input if isinstance(event.input, dict) else {}
        arg = next((given[k] for k in STEP_FIELDS if given.get(k)), "")
        shown = f" {json.dumps(str(arg)[:60], ensure_ascii=False)}" if arg else ""
        return f"⋯ {event.name}{shown} …"
    mark = "✓" if event.ok else "✗"
    return f"{mark} {event.name}: {event.summary or ''}".rstrip(": ")


class Progress:
    """A one-line status on stderr, drawn only when stderr is a terminal. When stdout is the
    same terminal it gives way while output text is mid-line, and comes back (with the
    current tool step, if any) when the text so far ends a line."""

    FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

    def __init__(self, err: TextIO, *, enabled: bool, shares_terminal: bool) -> None:
        self.err = err
        self.enabled = enabled
        self.shares_terminal = shares_terminal
        self.started = time.monotonic()
        self.state = "connecting"
        self.chars = 0
        self.resumes = 0
        self.texting = False
        self.at_line_start = True
        self._frame = 0
        self._drawn = False

    def draw(self) -> None:
        if not self.enabled or (self.shares_terminal and not self.at_line_start):
            return
        self._frame = (self._frame + 1) % len(self.FRAMES)
        elapsed_s = time.monotonic() - self.started
        line = f"{self.FRAMES[self._frame]} {self.state} · {self.chars:,} chars · {elapsed_s:.1f} s"
        if self.resumes:
            line += f" · resumed {self.resumes}x"
        self.err.write(f"\r\x1b[2K{line}")
        self.err.flush()
        self._drawn = True

    def clear(self) -> None:
        if self._drawn:
            self.err.write("\r\x1b[2K")
            self.err.flush()
            self._drawn = False

    async def tick(self) -> None:
        while True:
            self.draw()
            await asyncio.sleep(0.1)


class Console:
    """Where the commands write: stdout for results, stderr for everything else."""

    def __init__(self, out: TextIO, err: TextIO, *, as_json: bool, quiet: bool) -> None:
        self.out = out
        self.err = err
        self.as_json = as_json
        self.quiet = quiet
        self.interactive = err.isatty() and not quiet

    def json(self, document: Any) -> None:
        self.out.write(json.dumps(document, ensure_ascii=False) + "\n")
        self.out.flush()

    def note(self, message: str) -> None:
        if not self.quiet:
            self.err.write(message + "\n")
            self.err.flush()

    def failed(self, error: ClientError) -> int:
        code = exit_code(error)
        if self.as_json:
            detail: dict[str, Any] = {"code": error.code, "message": error.message}
            if isinstance(error, ProblemError):
                detail["status"] = error.status
            if isinstance(error, JobFailed):
                detail["retryable"] = error.retryable
            self.json({"error": detail})
        self.err.write(f"error: {error.code}: {_explain(error)}\n")
        self.err.flush()
        return int(code)


def _explain(error: ClientError) -> str:
    if isinstance(error, ProblemError):
        hint = " (set --token or JOBS_TOKEN)" if error.status == 401 else ""
        fields = error.problem.errors if error.problem is not None else None
        if fields:
            hint += "".join(f"\n  {field.field}: {field.message}" for field in fields)
        return f"{error.detail} [HTTP {error.status}]{hint}"
    return error.message


async def follow(
    client: JobsClient, job_id: str, console: Console, *, last_event_id: str | None
) -> tuple[Complete, str]:
    """Write the job's text to stdout as it arrives; return its ``complete`` event and the
    text written."""
    progress = Progress(
        console.err,
        enabled=console.interactive and not console.as_json,
        shares_terminal=console.out.isatty(),
    )
    ticker = asyncio.create_task(progress.tick())
    output = Output()
    written = ""  # the last piece written to stdout
    try:
        async for event in client.events(job_id, last_event_id=last_event_id):
            if isinstance(event, Connected):
                if event.resumed:
                    progress.resumes += 1
                progress.state = event.status
            elif isinstance(event, Tool):
                show_tool(event, progress, console)
            elif isinstance(event, Delta):
                output.apply(event)
                progress.chars = event.total_length
                if console.as_json:
                    continue
                if progress.shares_terminal:
                    progress.clear()
                progress.texting = True
                progress.at_line_start = event.text.endswith("\n")
                console.out.write(event.text)
                console.out.flush()
                written = event.text or written
            elif isinstance(event, Rewind):
                cut = output.apply(event)
                progress.chars = output.length
                if cut and not console.as_json:
                    written = show_rewind(event, cut, output.text, progress, console)
            elif isinstance(event, Failure):
                raise job_failed(event)
            elif isinstance(event, Complete):
                return event, output.text
        raise StreamEnded("the stream ended without a result")  # pragma: no cover
    finally:
        ticker.cancel()
        progress.clear()
        if written and not written.endswith("\n") and console.out.isatty():
            console.out.write("\n")  # give the prompt its own line; pipes get exact text


def show_rewind(event: Rewind, cut: str, kept: str, progress: Progress, console: Console) -> str:
    """The run was taken over and its output cut back: what was printed cannot be taken back.
    On a terminal, say so on a line of its own and print the kept part of the cut line again,
    so the text that follows reads on; on a pipe, say so on stderr (stdout keeps the cut
    text, then the rewritten text). Returns the last piece written to stdout."""
    if not console.out.isatty():
        console.note(
            f"note: the run was taken over ({event.reason}) and its last {len(cut):,} "
            f"characters were rewritten: stdout holds them, then the new text"
        )
        return cut
    progress.clear()
    line = kept[kept.rfind("\n") + 1 :]
    console.out.write("\n")
    console.out.flush()
    console.note(f"↺ the run was taken over ({event.reason}): {len(cut):,} characters rewritten")
    console.out.write(line)
    console.out.flush()
    progress.at_line_start = not line
    return line or "\n"


def show_tool(event: Tool, progress: Progress, console: Console) -> None:
    """On a terminal, the tool step is the status line (it updates); otherwise, unless
    ``-q``, each step is a line on stderr (stdout stays the result's)."""
    line = tool_line(event)
    if progress.enabled:
        progress.state = line
        progress.draw()
    else:
        console.note(line)


def show_result(job_id: str, complete: Complete, text: str, console: Console) -> None:
    if console.as_json:
        console.json({"jobId": job_id, **complete.model_dump(mode="json", by_alias=True)})
        return
    pretty = json.dumps(complete.result, indent=2, ensure_ascii=False)
    structured = set(complete.result) != {"text"}
    if console.out.isatty() and structured and text.strip() != pretty:
        # The model streamed a compact document: show it readable too (terminals only).
        console.out.write(pretty + "\n")
    if console.interactive:
        usage = complete.token_usage
        console.note(
            f"✓ complete · {complete.total_length:,} chars · {usage.input_tokens} in / "
            f"{usage.output_tokens} out tokens · {complete.model} · "
            f"{complete.execution_time_ms / 1000:.1f} s"
        )
