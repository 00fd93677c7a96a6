"""``python -m bench``: measure the service against the limits of its own stack.

Starts, on loopback: a ``redis-server``; the service (``python -m app``: demo backend, HS256
JWT verification, 100 ms throttle, one uvicorn worker); the baseline (``bench.baseline``, same
uvicorn settings); and runs the load generator (``bench.load``) in its own process against
each. Prints one table: the service's numbers, the baseline's, their ratio and the target.

    python -m bench                  # the full run (a few minutes)
    python -m bench --quick          # seconds: proves the harness works (CI runs this)
    python -m bench --only streams --streams 100,1000

Timings are printed, never asserted: a shared machine makes them noisy, so the ratios to a
baseline measured in the same run are what to read.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis

from auth import mint_token
from tests.support.process import ServiceProcess
from tests.support.redis_server import RedisServer, free_port

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-" + "0123456789abcdef" * 3
TOKENS_PER_SECOND = 50
THROTTLE_MS = 100
HOST = "127.0.0.1"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def load(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one scenario in a separate load-generator process."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.load"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


class Proc:
    """CPU time and memory of a process, from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.tick = os.sysconf("SC_CLK_TCK")

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.tick

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0


class PeakRss:
    """Samples a process's RSS every 100 ms in a thread, keeping the peak."""

    def __init__(self, proc: Proc) -> None:
        self.proc = proc
        self.peak = proc.rss_kib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, self.proc.rss_kib())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class RedisCost:
    """Commands (``INFO commandstats``, scripts' inner commands included) and round trips
    (``total_reads_processed``: a pipeline is one read) that Redis served."""

    client: redis.Redis

    def snapshot(self) -> tuple[int, int]:
        stats: Any = self.client.info("commandstats")
        calls = sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_info")
        reads: Any = self.client.info("stats")
        return calls, int(reads["total_reads_processed"])

    @staticmethod
    def per(before: tuple[int, int], after: tuple[int, int], count: int) -> str:
        count = max(count, 1)
        return f"{(after[0] - before[0]) / count:.2f} / {(after[1] - before[1]) / count:.2f}"


@dataclass
class Table:
    rows: list[tuple[str, str, str, str, str, str]] = field(default_factory=list)

    def add(
        self,
        measure: str,
        service: str,
        baseline: str = "",
        ratio: str = "",
        target: str = "",
        ok: bool | None = None,
    ) -> None:
        mark = "" if ok is None else ("ok" if ok else "MISS")
        self.rows.append((measure, service, baseline, ratio, target, mark))

    def render(self) -> str:
        header = ("measure", "service", "baseline", "ratio", "target", "")
        widths = [max(len(row[i]) for row in [header, *self.rows]) for i in range(6)]

        def line(row: tuple[str, ...]) -> str:
            return "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()

        return "\n".join(
            [line(header), line(tuple("-" * w for w in widths)), *map(line, self.rows)]
        )


@dataclass
class Bench:
    service: ServiceProcess
    baseline_port: int
    cost: RedisCost
    proc: Proc
    baseline_proc: Proc
    table: Table = field(default_factory=Table)
    next_user: int = 0

    def tokens(self, count: int) -> list[str]:
        """Tokens for ``count`` users never used before in this run (fresh rate limits)."""
        first, self.next_user = self.next_user, self.next_user + count
        return [mint_token(SECRET, f"user-{n}") for n in range(first, first + count)]

    def start(self, concurrency: int, duration_s: float) -> None:
        """``POST /jobs`` (JWT, validation, rate limit, store) against ``POST /set``."""
        # Each user stays under its 10 creations a minute, as a real client must.
        users = max(concurrency, int(duration_s * 4000) // 8 + 1)
        spec = {
            "scenario": "start",
            "host": HOST,
            "duration_s": duration_s,
            "concurrency": concurrency,
        }
        before = self.cost.snapshot()
        ours = load(
            spec | {"port": self.service.port, "path": "/jobs", "tokens": self.tokens(users)}
        )
        after = self.cost.snapshot()
        base = load(spec | {"port": self.baseline_port, "path": "/set", "tokens": ["-"]})
        ours_rps = len(ours["latencies_ms"]) / ours["elapsed_s"]
        base_rps = len(base["latencies_ms"]) / base["elapsed_s"]
        o50, o99 = percentile(ours["latencies_ms"], 50), percentile(ours["latencies_ms"], 99)
        b50, b99 = percentile(base["latencies_ms"], 50), percentile(base["latencies_ms"], 99)
        t = self.table
        t.add(
            f"start, {concurrency} conn: requests/s",
            f"{ours_rps:.0f}",
            f"{base_rps:.0f}",
            f"{ours_rps / base_rps:.2f}x",
            ">= 0.8x",
            ours_rps >= 0.8 * base_rps,
        )
        t.add(
            f"start, {concurrency} conn: p50 / p99 ms",
            f"{o50:.2f} / {o99:.2f}",
            f"{b50:.2f} / {b99:.2f}",
            f"{o99 / b99:.2f}x",
            "p99 <= 1.5x",
            o99 <= 1.5 * b99,
        )
        if ours["errors"]:
            t.add(f"start, {concurrency} conn: not 201", str(ours["errors"]), "", "", "0", False)
        t.add(
            f"start, {concurrency} conn: Redis cmds / round trips per job",
            RedisCost.per(before, after, len(ours["latencies_ms"])),
            "1.00 / 1.00",
        )

    def first_delta(self, attaches: int) -> None:
        """Attach to ``attaches`` pending jobs: arriving 10 ms apart (each stream then stays
        open: ``attaches`` concurrent streams at the end), and all in the same instant."""
        for label, spacing_ms in (("10 ms apart", 10), ("all at once", 0)):
            spec = {
                "scenario": "ttfd",
                "host": HOST,
                "count": attaches,
                "spacing_ms": spacing_ms,
                "priority": "low",
            }
            ours = load(spec | {"port": self.service.port, "tokens": self.tokens(attaches)})
            base = load(
                spec
                | {
                    "port": self.baseline_port,
                    "baseline": True,
                    "events": 3,
                    "interval_ms": 0,
                    "tokens": ["-"],
                }
            )
            first, base_first = ours["first_delta_ms"], base["first_delta_ms"]
            p99 = percentile(first, 99)
            target = "p99 <= 10 ms" if spacing_ms else ""
            self.table.add(
                f"first delta, {attaches} attaches {label}: p50 / p99 ms",
                f"{percentile(first, 50):.1f} / {p99:.1f}",
                f"{percentile(base_first, 50):.1f} / {percentile(base_first, 99):.1f}",
                f"{p99 / max(percentile(base_first, 99), 0.001):.2f}x",
                target,
                p99 <= 10 if spacing_ms else None,
            )

    def warm_up(self, count: int, priority: str) -> None:
        """Streams of the same shape first, unmeasured: the imports, caches and allocator
        arenas any instance has after its first minutes must not count as memory per stream."""
        load(self.streams_spec(count, priority))

    def streams_spec(self, count: int, priority: str) -> dict[str, Any]:
        """``count`` new jobs of ``priority`` (one user each), attached to all at once."""
        return {
            "scenario": "streams",
            "host": HOST,
            "port": self.service.port,
            "count": count,
            "tokens": self.tokens(count),
            "priority": priority,
        }

    def streams(self, count: int, *, priority: str = "critical") -> None:
        """``count`` jobs streaming at once, each at 50 tokens/s through the 100 ms window."""
        time.sleep(1)
        idle_rss = self.proc.rss_kib()
        cpu_before = self.proc.cpu_s()
        before = self.cost.snapshot()
        spec = self.streams_spec(count, priority)
        with PeakRss(self.proc) as rss:
            ours = load(spec)
        after = self.cost.snapshot()
        cpu_s = self.proc.cpu_s() - cpu_before
        deltas = max(1, ours["deltas"])
        base_cpu_before = self.baseline_proc.cpu_s()
        base = load(
            {
                "scenario": "streams",
                "host": HOST,
                "port": self.baseline_port,
                "baseline": True,
                "count": count,
                "events": max(1, deltas // count),
                "interval_ms": THROTTLE_MS,
                "tokens": ["-"],
            }
        )
        base_cpu_s = self.baseline_proc.cpu_s() - base_cpu_before
        lag50, lag99 = percentile(ours["lags_ms"], 50), percentile(ours["lags_ms"], 99)
        b50, b99 = percentile(base["lags_ms"], 50), percentile(base["lags_ms"], 99)
        per_stream = (rss.peak - idle_rss) / count
        gated = count <= 1000  # the targets are for up to 1000 streams
        t = self.table
        t.add(
            f"{count} streams: events/s",
            f"{ours['deltas'] / ours['elapsed_s']:.0f}",
            f"{base['deltas'] / base['elapsed_s']:.0f}",
        )
        t.add(
            f"{count} streams: delta lag p50 / p99 ms",
            f"{lag50:.0f} / {lag99:.0f}",
            f"{b50:.0f} / {b99:.0f}",
            "",
            "p99 <= 150 ms" if gated else "",
            lag99 <= 150 if gated else None,
        )
        base_events = max(1, base["deltas"])
        t.add(
            f"{count} streams: CPU ms / 1000 events",
            f"{cpu_s * 1e6 / deltas:.0f}",
            f"{base_cpu_s * 1e6 / base_events:.0f}",
            f"{(cpu_s / deltas) / max(base_cpu_s / base_events, 1e-9):.2f}x",
        )
        t.add(
            f"{count} streams: RSS KiB / stream",
            f"{per_stream:.1f}",
            "",
            "",
            "<= 64 KiB" if gated else "",
            per_stream <= 64 if gated else None,
        )
        t.add(
            f"{count} streams: lossless",
            f"{ours['lossless']}/{count}",
            "",
            "",
            "all",
            ours["lossless"] == count,
        )
        if set(ours["endings"]) != {"complete"}:
            t.add(
                f"{count} streams: endings",
                json.dumps(ours["endings"]),
                "",
                "",
                "all complete",
                False,
            )
        t.add(
            f"{count} streams: Redis cmds / round trips per event",
            RedisCost.per(before, after, deltas + count),
        )
        t.add(
            f"{count} streams: Redis cmds / round trips per job",
            RedisCost.per(before, after, count),
        )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a tiny run, seconds long")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per start run")
    parser.add_argument("--streams", default="100,500,1000,2000", help="stream counts")
    parser.add_argument("--attaches", type=int, default=100, help="attaches for first delta")
    parser.add_argument("--only", default="start,ttfd,streams", help="parts to run")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.streams, args.attaches = 0.5, "10", 10
    parts = set(args.only.split(","))

    binary = shutil.which("redis-server")
    if binary is None:
        print("python -m bench: redis-server is not on the PATH", file=sys.stderr)
        return 2
    store = RedisServer(binary=binary)
    store.start()
    service = ServiceProcess(
        REDIS_URL=store.url,
        AUTH_JWT_SECRET=SECRET,
        DEMO_TOKENS_PER_SECOND=str(TOKENS_PER_SECOND),
        STREAM_THROTTLE_MS=str(THROTTLE_MS),
        LOG_LEVEL="warning",
    )
    baseline_port = free_port()
    baseline = subprocess.Popen(  # noqa: S603 - our own module, with our own interpreter
        [
            sys.executable,
            "-m",
            "bench.baseline",
            "--port",
            str(baseline_port),
            "--redis-url",
            store.url,
        ],
        cwd=ROOT,
    )
    try:
        service.start()
        _wait(f"http://{HOST}:{baseline_port}/sse?events=0")
        assert service.process is not None
        bench = Bench(
            service,
            baseline_port,
            RedisCost(store.client()),
            Proc(service.process.pid),
            Proc(baseline.pid),
        )
        if "start" in parts:
            for concurrency in (1, 64):
                bench.start(concurrency, args.duration)
        if "ttfd" in parts:
            bench.first_delta(args.attaches)
        if "streams" in parts:
            counts = [int(n) for n in args.streams.split(",") if n]
            priority = "low" if args.quick else "critical"
            if counts:
                bench.warm_up(min(100, counts[0]), priority)
            for count in counts:
                bench.streams(count, priority=priority)
    finally:
        baseline.terminate()
        baseline.wait(10)
        service.close()
        store.close()
    print(
        f"\n{platform.node()}: {os.cpu_count()} CPUs, {platform.python_implementation()} "
        f"{platform.python_version()}; demo backend at {TOKENS_PER_SECOND} tokens/s, "
        f"{THROTTLE_MS} ms window, one uvicorn worker; load generator in its own process\n"
    )
    print(bench.table.render())
    return 0


def _wait(url: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main())
