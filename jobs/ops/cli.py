"""``python -m jobs ops ...``: what is running, for whom, and why that one failed.

The ops commands read the service's Redis directly (``REDIS_URL``, ``JOBS_REDIS_PREFIX``,
``REDIS_CLUSTER`` — the service's own settings), so they work whatever state the service
instances are in. They only ever SCAN; only ``purge --yes`` writes.

- ``list [--status S] [--owner O]`` — id, owner, agent, status, age, TTL, error code
- ``show ID`` — the record, every key's TTL, the lease and readers, every stored event
- ``tail ID [--text]`` — the stored events, then new ones as they arrive, to the terminal one
- ``purge --status S [--owner O] [--older-than SECONDS] [--yes]`` — a dry run unless ``--yes``
- ``stats`` — jobs by status, streams and events, memory used by job keys
- ``webhooks`` — webhook deliveries due or retrying, and the dead letters: job, owner, agent,
  status, attempts, last error
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from jobs.errors import StoreUnavailable
from jobs.events import TERMINAL, EventName, JobStatus, now_ms
from jobs.exits import Exit
from jobs.redis.connection import unavailable_as_domain_error
from jobs.redis.keys import JOB_ID_RE, Keys

if TYPE_CHECKING:  # loaded by run_command only: the client commands need no Redis client
    from jobs.ops.inspection import Inspector, JobDetail, JobSummary, Stats
    from jobs.redis.connection import Redis

PURGEABLE = [s.value for s in JobStatus if s is not JobStatus.RUNNING]


def duration(seconds: float | None) -> str:
    """``42s``, ``3m12s``, ``2h05m``; ``-`` for unknown."""
    if seconds is None:
        return "-"
    whole = max(int(seconds), 0)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def size(n_bytes: int | None) -> str:
    if n_bytes is None:
        return "-"
    value = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def moment(ms: int | None) -> str:
    if ms is None:
        return "-"
    when = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")
    return f"{when} ({duration((now_ms() - ms) / 1000)} ago)"


def table(out: TextIO, jobs: list[JobSummary]) -> None:
    now = now_ms()
    rows = [("ID", "OWNER", "AGENT", "STATUS", "AGE", "TTL", "CODE")]
    rows += [
        (
            job.id,
            job.owner or "-",
            job.agent or "-",
            job.status,
            duration(job.age_s(now)),
            duration(job.ttl_s),
            job.error_code or "",
        )
        for job in jobs
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        out.write("\n")


def data_json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


async def cmd_list(inspector: Inspector, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    jobs = await inspector.find(status=args.status, owner=args.owner)
    if args.json:
        out.write(json.dumps([job.to_json() for job in jobs], ensure_ascii=False) + "\n")
    elif jobs:
        table(out, jobs)
    else:
        err.write("no jobs\n")
    return Exit.OK


def _show(out: TextIO, detail: JobDetail) -> None:
    job, record = detail.summary, detail.record
    status = job.status
    if job.error:
        status += f" ({job.error.get('code')}: {job.error.get('message')})"
    lines = [
        ("job", job.id),
        ("status", status),
        ("owner", job.owner or "-"),
        ("agent", job.agent or "-"),
        ("created", moment(int(record["createdAt"]) if "createdAt" in record else None)),
        ("started", moment(int(record["startedAt"]) if "startedAt" in record else None)),
        ("runner", job.runner or "-"),
        ("lease", f"held by {job.lease}" if job.lease else "none"),
        ("input", record.get("input", "-")),
        ("keys", " · ".join(f"{k} {duration(v)}" for k, v in detail.ttls_s.items()) or "-"),
        ("readers", str(len(detail.readers))),
        ("events", str(len(detail.entries))),
    ]
    if record.get("cancel"):
        lines.insert(2, ("cancel", "requested"))
    for name, value in lines:
        out.write(f"{name:<9} {value}\n")
    for entry in detail.entries:
        out.write(f"  {entry.id:<18} {entry.event:<9} {data_json(entry.data)}\n")


async def cmd_show(inspector: Inspector, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    detail = await inspector.detail(args.job_id)
    if detail is None:
        err.write(f"no keys for job {args.job_id} (never existed, or expired)\n")
        return Exit.NOT_FOUND
    if args.json:
        document = {
            **detail.summary.to_json(),
            "record": detail.record,
            "ttlS": detail.ttls_s,
            "readers": [{"stream": m, "expiresAt": s} for m, s in detail.readers],
            "events": [
                {
                    "id": e.id,
                    "event": e.event,
                    "data": e.data,
                    **({"owner": e.owner} if e.owner else {}),
                }
                for e in detail.entries
            ],
        }
        out.write(json.dumps(document, ensure_ascii=False) + "\n")
    else:
        _show(out, detail)
    return Exit.OK


async def cmd_tail(inspector: Inspector, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    summaries = await inspector.summaries([args.job_id])
    if not summaries:
        err.write(f"no keys for job {args.job_id} (never existed, or expired)\n")
        return Exit.NOT_FOUND
    warned = False
    async for entry in inspector.follow(args.job_id):
        if entry is None:
            # Idle: is there still something to wait for?
            current = await inspector.summaries([args.job_id])
            if not current:
                err.write("the job's keys expired before it ended\n")
                return Exit.NOT_FOUND
            job = current[0]
            if job.status == JobStatus.RUNNING and job.lease is None and not warned:
                warned = True
                err.write(
                    "warning: the run's lease has expired (its instance died?); the job "
                    "ends as RUNNER_LOST once a client attaches\n"
                )
            continue
        if args.text:
            if entry.event == EventName.DELTA and isinstance(entry.data, dict):
                out.write(str(entry.data.get("text", "")))
        else:
            out.write(f"{entry.id:<18} {entry.event:<9} {data_json(entry.data)}\n")
        out.flush()
        if entry.event in TERMINAL:
            if args.text:
                out.write("\n")
            return Exit.OK
    return Exit.OK  # pragma: no cover - follow never ends by itself


async def cmd_purge(
    inspector: Inspector, args: argparse.Namespace, out: TextIO, err: TextIO
) -> int:
    jobs = await inspector.find(status=args.status, owner=args.owner)
    if args.older_than is not None:
        now = now_ms()
        jobs = [job for job in jobs if (job.age_s(now) or 0) >= args.older_than]
    if not args.yes:
        if jobs:
            table(out, jobs)
        err.write(
            f"dry run: {len(jobs)} {args.status} job(s) would be deleted; add --yes to delete\n"
        )
        return Exit.OK
    deleted = 0
    for job in jobs:
        deleted += await inspector.purge(job)
    kept = len(jobs) - deleted
    message = f"deleted {deleted} {args.status} job(s)"
    if kept:
        message += f"; {kept} changed status meanwhile and were kept"
    if args.json:
        out.write(json.dumps({"deleted": deleted, "kept": kept}) + "\n")
    err.write(message + "\n")
    return Exit.OK


def _stats(out: TextIO, stats: Stats) -> None:
    counts = " · ".join(f"{status} {count}" for status, count in stats.by_status.items())
    out.write(f"jobs      {sum(stats.by_status.values())}  ({counts})\n")
    out.write(f"streams   {stats.streams}  ({stats.events} events)\n")
    out.write(
        f"memory    job keys {size(stats.job_memory_bytes)} in {stats.job_keys} keys · "
        f"other keys {size(stats.other_memory_bytes)} in {stats.other_keys} keys · "
        f"Redis used {size(stats.redis_used_memory_bytes)}\n"
    )
    out.write(f"config    {stats.custom_agents} custom agents (no TTL: keep Redis persistent)\n")


async def cmd_stats(
    inspector: Inspector, args: argparse.Namespace, out: TextIO, err: TextIO
) -> int:
    stats = await inspector.stats()
    if args.json:
        out.write(json.dumps(stats.to_json()) + "\n")
    else:
        _stats(out, stats)
    return Exit.OK


async def cmd_webhooks(
    inspector: Inspector, args: argparse.Namespace, out: TextIO, err: TextIO
) -> int:
    from jobs.running.webhooks import backlog

    with unavailable_as_domain_error():
        due, dead = await backlog(inspector.redis, inspector.keys)
    if args.json:
        out.write(json.dumps({"due": due, "dead": [d.to_json() for d in dead]}) + "\n")
        return Exit.OK
    out.write(f"due or retrying  {due}\ndead letters     {len(dead)}\n")
    for letter in dead:
        out.write(
            f"{letter.job_id}  {letter.owner}  {letter.agent}  {letter.status}  "
            f"{letter.attempts} attempts  died {moment(letter.died_at)}  {letter.last_error}\n"
        )
    return Exit.OK


Command = Callable[["Inspector", argparse.Namespace, TextIO, TextIO], Awaitable[int]]


def job_id(value: str) -> str:
    if JOB_ID_RE.fullmatch(value) is None:
        raise argparse.ArgumentTypeError("job ids are 32 lowercase hexadecimal characters")
    return value


def add_commands(commands: Any) -> None:
    """Add ``ops`` and its sub-commands to ``python -m jobs``'s sub-parsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--redis-url",
        default=os.environ.get("REDIS_URL"),
        help="the service's Redis (REDIS_URL); redis+cluster://... for a cluster",
    )
    common.add_argument(
        "--prefix",
        default=os.environ.get("JOBS_REDIS_PREFIX", "jobs"),
        help="key prefix (JOBS_REDIS_PREFIX, default jobs)",
    )
    common.add_argument("--json", action="store_true", help="print JSON")
    ops = commands.add_parser("ops", help="inspect and manage jobs in Redis (operators)")
    sub = ops.add_subparsers(dest="ops_command", required=True, metavar="COMMAND")

    def command(name: str, handler: Command, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(
            name, parents=[common], help=help_text, description=help_text
        )
        parser.set_defaults(ops_handler=handler)
        return parser

    listing = command("list", cmd_list, "list jobs: id, owner, agent, status, age, TTL")
    listing.add_argument("--status", choices=[s.value for s in JobStatus])
    listing.add_argument("--owner")
    command("show", cmd_show, "show a job's record and events").add_argument("job_id", type=job_id)
    tail = command("tail", cmd_tail, "follow a job's events until it ends")
    tail.add_argument("job_id", type=job_id)
    tail.add_argument("--text", action="store_true", help="print only the delta text")
    purge = command("purge", cmd_purge, "delete jobs' keys (a dry run unless --yes)")
    purge.add_argument("--status", required=True, choices=PURGEABLE)
    purge.add_argument("--owner")
    purge.add_argument("--older-than", type=float, metavar="SECONDS", help="only older jobs")
    purge.add_argument("--yes", action="store_true", help="really delete")
    command("stats", cmd_stats, "jobs by status, streams, memory used by job keys")
    command("webhooks", cmd_webhooks, "webhook deliveries due, and the dead letters")


def connect_redis(url: str) -> Redis:
    from jobs.redis.connection import connect, is_cluster_url, plain_url

    cluster = os.environ.get("REDIS_CLUSTER", "").lower() in ("1", "true", "yes", "on")
    return connect(plain_url(url), cluster=cluster or is_cluster_url(url))


def run_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if not args.redis_url:
        err.write("python -m jobs ops: set REDIS_URL (or --redis-url) to the service's Redis\n")
        return Exit.USAGE
    handler: Command = args.ops_handler
    from jobs.ops.inspection import Inspector

    async def main() -> int:
        redis = connect_redis(args.redis_url)
        try:
            return await handler(Inspector(redis, Keys(args.prefix)), args, out, err)
        finally:
            await redis.aclose()

    try:
        return asyncio.run(main())
    except StoreUnavailable as exc:
        err.write(f"error: STORE_UNAVAILABLE: {exc}\n")
        return Exit.UNAVAILABLE
    except KeyboardInterrupt:
        return Exit.INTERRUPTED
