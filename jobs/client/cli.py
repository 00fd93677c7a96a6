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

Exit codes (:class:`jobs.exits.Exit`) tell scripts what happened without parsing any output.
What the commands write, and how, is :mod:`jobs.client.output`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit

from jobs.client.api import DEFAULT_URL, JobsClient
from jobs.client.errors import ClientError, UsageError
from jobs.client.output import Console, follow, show_result
from jobs.client.retry import Retries
from jobs.events import JobStatus
from jobs.exits import Exit


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


class AgentAction(StrEnum):
    """``agents ACTION``: list the agents, or show, set or delete your custom agent."""

    LIST = "list"
    SHOW = "show"
    SET = "set"
    DELETE = "delete"


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
    if not state.status.finished:
        console.note(f"job {args.job_id} is still {state.status.value}")
        return Exit.NOT_FINISHED
    if state.error is not None:
        if not console.as_json:
            console.err.write(f"{state.status.value}: {state.error.code}: {state.error.message}\n")
        return Exit.CANCELLED if state.status is JobStatus.CANCELLED else Exit.FAILED
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
    if args.action != AgentAction.LIST:
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
    if args.action == AgentAction.DELETE:
        await client.delete_custom_agent(args.agent)
        if console.as_json:
            console.json({"agent": args.agent, "deleted": True})
        return Exit.OK
    if args.action == AgentAction.SET:
        if args.input is None:
            raise UsageError("agents set needs --input '{...}', @file.json or @-")
        stored = await client.set_custom_agent(args.agent, read_input(args.input))
    else:
        stored = await client.custom_agent(args.agent)
    console.json(stored.model_dump(mode="json", by_alias=True, exclude_none=True))
    return Exit.OK


Command = Callable[[JobsClient, argparse.Namespace, Console], Awaitable[int]]


def common_options() -> argparse.ArgumentParser:
    """The options every client command takes (a parent parser)."""
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
    return common


def job_input(parser: argparse.ArgumentParser) -> None:
    """The options of a command that starts a job."""
    parser.add_argument("--agent", required=True, help="e.g. feature-suggestion, chat")
    parser.add_argument(
        "--input", required=True, help="the input: '{...}', @file.json, or @- for stdin"
    )


def add_commands(commands: Any) -> None:
    """Add the client commands to ``python -m jobs``'s sub-parsers."""
    common = common_options()

    def command(name: str, handler: Command, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(
            name, parents=[common], help=help_text, description=help_text
        )
        parser.set_defaults(handler=handler)
        return parser

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
    listing.add_argument("--status", choices=[status.value for status in JobStatus])
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
        "action",
        nargs="?",
        default=AgentAction.LIST.value,
        choices=[action.value for action in AgentAction],
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
