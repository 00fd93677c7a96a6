"""The client commands of ``python -m jobs``: start, attach, run, status, result, list,
cancel, agents.

They drive the service over HTTP with :mod:`jobs.client`. ``attach`` and ``run`` write the
output text to stdout as it arrives — exactly the text, nothing else, when stdout is not a
terminal — and resume by themselves after a dropped connection. On a terminal a progress line
is drawn on stderr (and cleared before any text is written to the same terminal); a
structured result is printed pretty after the text. ``--json`` prints JSON documents instead.

Every call is retried on connection errors, 503 and 429 after the service's ``Retry-After``
(bounded; ``--no-retry`` turns it off), every ``start`` carries an automatic
``Idempotency-Key`` (so a retried start never makes a second job), and a first attach waits
out ``TOO_MANY_STREAMS``: a script may start and attach to more jobs than the limits allow at
once, and they are served as the limits free up.

Exit codes (:class:`Exit`) tell scripts what happened without parsing any output.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from enum import IntEnum
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit

from jobs.client.api import DEFAULT_URL, JobsClient
from jobs.client.errors import (
    ClientError,
    JobCancelled,
    JobFailed,
    ProblemError,
    StreamEnded,
    UsageError,
)
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
from jobs.client.retry import Retries


class Exit(IntEnum):
    """The exit codes of ``python -m jobs`` (documented in the README)."""

    OK = 0  # done: the job completed, or the command succeeded
    FAILED = 1  # the run ended with an error event (its code is printed)
    USAGE = 2  # bad arguments or input
    CANCELLED = 3  # the run was cancelled (CANCELLED) or abandoned (ABANDONED)
    UNAUTHORIZED = 4  # 401: no token, or the token was refused
    FORBIDDEN = 5  # 403: another user's job
    NOT_FOUND = 6  # 404: no such job, or it expired
    FINISHED = 7  # 410, or 204: the job has finished and there is nothing to resume
    REJECTED = 8  # any other 4xx: invalid input (422), too many requests (429), ...
    UNAVAILABLE = 9  # 5xx, the service cannot be reached, or reconnecting gave up
    NOT_FINISHED = 10  # result: the job is still pending or running
    INTERRUPTED = 130  # Ctrl-C

    @classmethod
    def of(cls, error: ClientError) -> Exit:
        if isinstance(error, JobFailed):
            return cls.CANCELLED if isinstance(error, JobCancelled) else cls.FAILED
        if isinstance(error, StreamEnded):
            return cls.FINISHED
        if isinstance(error, ProblemError):
            by_status = {401: cls.UNAUTHORIZED, 403: cls.FORBIDDEN, 404: cls.NOT_FOUND}
            if error.status in by_status:
                return by_status[error.status]
            if error.status == 410:
                return cls.FINISHED
            return cls.UNAVAILABLE if error.status >= 500 else cls.REJECTED
        return cls.UNAVAILABLE


def read_input(value: str) -> dict[str, Any]:
    """``--input``: a JSON object, ``@file.json``, or ``@-`` for stdin."""
    if value.startswith("@"):
        path = value[1:]
        try:
            text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()  # noqa: SIM115
        except OSError as exc:
            raise UsageError(f"cannot read --input file: {exc}") from None
    else:
        text = value
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--input is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise UsageError("--input must be a JSON object")
    return parsed


#: The input field a step line quotes, in order of preference: each tool's ``phrase`` in
#: ``jobs.tools.registry`` (a test checks; the client does not import the tools).
STEP_FIELDS = ("pattern", "file_path", "path")


def tool_line(event: Tool) -> str:
    """A tool step for people: ``⋯ Grep "checkout"`` when it starts, ``✓ Grep: 12 matches in
    3 files`` when it ends (``✗`` when the tool refused)."""
    if event.phase == "call":
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
        code = Exit.of(error)
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


async def cmd_start(client: JobsClient, args: argparse.Namespace, console: Console) -> int:
    job = await client.start(args.agent, read_input(args.input), background=args.background)
    if console.as_json:
        console.json(job.model_dump(mode="json", by_alias=True))
    else:
        console.out.write(job.job_id + "\n")
    return Exit.OK


async def cmd_attach(client: JobsClient, args: argparse.Namespace, console: Console) -> int:
    try:
        complete, text = await follow(
            client, args.job_id, console, last_event_id=args.last_event_id
        )
    except (KeyboardInterrupt, asyncio.CancelledError):
        console.note(f"detached; the job goes on: python -m jobs attach {args.job_id}")
        raise
    show_result(args.job_id, complete, text, console)
    return Exit.OK


async def cmd_run(client: JobsClient, args: argparse.Namespace, console: Console) -> int:
    job = await client.start(args.agent, read_input(args.input))
    if console.interactive:
        console.note(f"job {job.job_id}")
    try:
        complete, text = await follow(client, job.job_id, console, last_event_id=None)
    except (KeyboardInterrupt, asyncio.CancelledError):
        # Nobody will read this run any more: stop it rather than pay for its tokens.
        try:
            await asyncio.wait_for(asyncio.shield(client.cancel(job.job_id)), 5)
            console.note(f"cancelled job {job.job_id}")
        except (ClientError, TimeoutError):
            console.note(f"could not cancel job {job.job_id}")
        raise
    show_result(job.job_id, complete, text, console)
    return Exit.OK


async def cmd_status(client: JobsClient, args: argparse.Namespace, console: Console) -> int:
    state = await client.status(args.job_id)
    document = state.model_dump(mode="json", by_alias=True, exclude_none=True)
    if console.as_json:
        console.json(document)
        return Exit.OK
    for name, value in document.items():
        shown = json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else value
        console.out.write(f"{name}: {shown}\n")
    return Exit.OK


async def cmd_result(client: JobsClient, args: argparse.Namespace, console: Console) -> int:
    """A finished job's result (kept ``RESULT_TTL_S``): the text for a text result, else the
    result as JSON; a failed or cancelled job's error, with its exit code."""
    state = await client.result(args.job_id)
    if console.as_json:
        console.json(state.model_dump(mode="json", by_alias=True, exclude_none=True))
    if state.status in ("pending", "running"):
        console.note(f"job {args.job_id} is still {state.status.value}")
        return Exit.NOT_FINISHED
    if state.error is not None:
        if not console.as_json:
            console.err.write(f"{state.status.value}: {state.error.code}: {state.error.message}\n")
        return Exit.CANCELLED if state.status == "cancelled" else Exit.FAILED
    if not console.as_json:
        result = state.result or {}
        text = result.get("text") if set(result) == {"text"} else None
        if isinstance(text, str):
            console.out.write(text if text.endswith("\n") else text + "\n")
        else:
            console.out.write(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return Exit.OK


async def cmd_list(client: JobsClient, args: argparse.Namespace, console: Console) -> int:
    """Your jobs, newest first: one page of ``--limit``, or all of them with ``--all``."""
    found = []
    cursor = None
    while True:
        page = await client.list_jobs(
            status=args.status, agent=args.agent, limit=args.limit, cursor=cursor
        )
        found += page.jobs
        if not args.all or page.next is None:
            break
        cursor = parse_qs(urlsplit(page.next).query)["cursor"][0]
    if console.as_json:
        console.json(
            [job.model_dump(mode="json", by_alias=True, exclude_none=True) for job in found]
        )
        return Exit.OK
    for job in found:
        code = job.error.code if job.error else ""
        console.out.write(f"{job.job_id}\t{job.status.value}\t{job.agent or '-'}\t{code}\n")
    return Exit.OK


async def cmd_cancel(client: JobsClient, args: argparse.Namespace, console: Console) -> int:
    await client.cancel(args.job_id)
    if console.as_json:
        console.json({"jobId": args.job_id, "cancelled": True})
    elif console.interactive:
        console.note(f"cancel requested for job {args.job_id}")
    return Exit.OK


async def cmd_agents(client: JobsClient, args: argparse.Namespace, console: Console) -> int:
    if args.action != "list":
        return await _custom_agent(client, args, console)
    agents = await client.agents()
    if console.as_json:
        console.json([agent.model_dump(mode="json", by_alias=True) for agent in agents])
        return Exit.OK
    for agent in agents:
        console.out.write(f"{agent.name}\t{agent.description}\n")
    return Exit.OK


async def _custom_agent(client: JobsClient, args: argparse.Namespace, console: Console) -> int:
    """``agents show|set|delete AGENT``: your custom agent for AGENT."""
    if not args.agent:
        raise UsageError(f"agents {args.action} needs the agent's name, e.g. feature-suggestion")
    if args.action == "delete":
        await client.delete_custom_agent(args.agent)
        if console.as_json:
            console.json({"agent": args.agent, "deleted": True})
        return Exit.OK
    if args.action == "set":
        if args.input is None:
            raise UsageError("agents set needs --input '{...}', @file.json or @-")
        stored = await client.set_custom_agent(args.agent, read_input(args.input))
    else:
        stored = await client.custom_agent(args.agent)
    console.json(stored.model_dump(mode="json", by_alias=True, exclude_none=True))
    return Exit.OK


Command = Callable[[JobsClient, argparse.Namespace, Console], Awaitable[int]]


def add_commands(commands: Any) -> None:
    """Add the client commands to ``python -m jobs``'s sub-parsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        default=os.environ.get("JOBS_URL", DEFAULT_URL),
        help=f"the service's base URL (JOBS_URL, default {DEFAULT_URL})",
    )
    common.add_argument(
        "--token", default=os.environ.get("JOBS_TOKEN"), help="bearer token (JOBS_TOKEN)"
    )
    common.add_argument("--json", action="store_true", help="print JSON documents")
    common.add_argument("-q", "--quiet", action="store_true", help="no progress or notes")
    common.add_argument(
        "--no-retry",
        action="store_true",
        help="fail at once on 429, 503 or a connection error (default: wait and retry)",
    )

    def command(name: str, handler: Command, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(
            name, parents=[common], help=help_text, description=help_text
        )
        parser.set_defaults(handler=handler)
        return parser

    def job_input(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--agent", required=True, help="e.g. feature-suggestion, chat")
        parser.add_argument(
            "--input", required=True, help="the input: '{...}', @file.json, or @- for stdin"
        )

    start = command("start", cmd_start, "create a job; print its id")
    job_input(start)
    start.add_argument(
        "--background", action="store_true", help="run it now, watched or not (poll `result`)"
    )
    attach = command("attach", cmd_attach, "stream a job's text; print its result")
    attach.add_argument("job_id")
    attach.add_argument(
        "--last-event-id", help="resume after this event id (0-0 replays a finished job)"
    )
    job_input(command("run", cmd_run, "start a job and attach to it (Ctrl-C cancels it)"))
    command("status", cmd_status, "show a job's status").add_argument("job_id")
    command("result", cmd_result, "print a finished job's result").add_argument("job_id")
    listing = command("list", cmd_list, "list your jobs, newest first")
    listing.add_argument(
        "--status", choices=("pending", "running", "completed", "failed", "cancelled")
    )
    listing.add_argument("--agent")
    listing.add_argument("--limit", type=int, help="jobs per page (1-100, default 20)")
    listing.add_argument("--all", action="store_true", help="follow every page")
    command("cancel", cmd_cancel, "cancel a pending or running job").add_argument("job_id")
    agents = command(
        "agents",
        cmd_agents,
        "list the agents, or show, set or delete your custom agent for one of them",
    )
    agents.add_argument(
        "action", nargs="?", default="list", choices=("list", "show", "set", "delete")
    )
    agents.add_argument("agent", nargs="?", help="the agent (for show, set, delete)")
    agents.add_argument("--input", help="set: the custom agent, '{...}', @file.json or @-")


def run_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    console = Console(out, err, as_json=args.json, quiet=args.quiet)
    handler: Command = args.handler

    async def main() -> int:
        retries = Retries.off() if args.no_retry else Retries()
        async with JobsClient(args.url, token=args.token, retries=retries) as client:
            return await handler(client, args, console)

    try:
        return asyncio.run(main())
    except UsageError as exc:
        err.write(f"python -m jobs: {exc}\n")
        return Exit.USAGE
    except ClientError as exc:
        return console.failed(exc)
    except KeyboardInterrupt:
        return Exit.INTERRUPTED
