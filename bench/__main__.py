"""``python -m bench``: measure the service against a naive peer doing the same work.

Starts, on loopback: a ``redis-server``; the service (``python -m app``: demo backend, HS256
JWT verification, 100 ms throttle, no tools, one uvicorn worker); the naive peer
(``bench.baseline``: the same work done plainly, same uvicorn settings); and runs the load
generator (``bench.load``) in its own process against each, with the same scenarios and specs.
Prints one table: the service's numbers, the peer's, their ratio and the target.

    python -m bench                  # the full run (a few minutes)
    python -m bench --quick          # seconds: proves the harness works (CI runs this)
    python -m bench --only streams --streams 100,1000

Timings are printed, never asserted: a shared machine makes them noisy, so the ratios to the
peer measured in the same run are what to read. Deltas per stream must match: the proof that
both did the same work.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from auth import mint_token
from bench.measure import ROOT, PeakRss, Proc, RedisCost, Table, lags, load, percentile, ratio
from tests.support.process import ServiceProcess
from tests.support.redis_server import RedisServer, free_port

SECRET = "bench-secret-" + "0123456789abcdef" * 3
TOKENS_PER_SECOND = 50
THROTTLE_MS = 100
HOST = "127.0.0.1"


#: One streams run's figures, as ``Bench.stream_run`` returns them.
Run = dict[str, Any]
#: Shows one measure of the service's run and of the peer's.
Both = Callable[[Callable[[Run], str]], tuple[str, str]]

#: How far apart the two may be in deltas per stream and still be doing the same work.
SAME_WORK_EVENTS = 0.5


@dataclass
class Target:
    """One server under test: where it listens and its process (for CPU and memory)."""

    port: int
    proc: Proc


@dataclass
class Bench:
    service: Target
    peer: Target
    cost: RedisCost
    table: Table = field(default_factory=Table)
    next_user: int = 0

    def tokens(self, count: int) -> list[str]:
        """Tokens for ``count`` users never used before in this run (fresh rate limits)."""
        first, self.next_user = self.next_user, self.next_user + count
        return [mint_token(SECRET, f"user-{n}") for n in range(first, first + count)]

    def measured_load(self, target: Target, spec: dict[str, Any]) -> dict[str, Any]:
        """One scenario against ``target``; ``redis``: the commands and round trips it caused."""
        before = self.cost.snapshot()
        out = load(spec | {"port": target.port})
        after = self.cost.snapshot()
        return out | {"redis": (after[0] - before[0], after[1] - before[1])}

    def start(self, concurrency: int, duration_s: float) -> None:
        """``POST /jobs`` on ``concurrency`` keep-alive connections, the same for both."""
        # Each user stays under its 10 creations a minute, as a real client must.
        users = max(concurrency, int(duration_s * 4000) // 8 + 1)
        spec = {
            "scenario": "start",
            "host": HOST,
            "path": "/jobs",
            "duration_s": duration_s,
            "concurrency": concurrency,
        }
        ours = self.measured_load(self.service, spec | {"tokens": self.tokens(users)})
        peer = self.measured_load(self.peer, spec | {"tokens": self.tokens(users)})
        ours_rps = len(ours["latencies_ms"]) / ours["elapsed_s"]
        peer_rps = len(peer["latencies_ms"]) / peer["elapsed_s"]
        o50, o99 = percentile(ours["latencies_ms"], 50), percentile(ours["latencies_ms"], 99)
        p50, p99 = percentile(peer["latencies_ms"], 50), percentile(peer["latencies_ms"], 99)
        gated = concurrency == 64  # the targets are for 64 connections
        t = self.table
        t.add(
            f"start, {concurrency} conn: requests/s",
            f"{ours_rps:.0f}",
            f"{peer_rps:.0f}",
            ratio(ours_rps, peer_rps),
            ">= 1.0x" if gated else "",
            ours_rps >= peer_rps if gated else None,
        )
        t.add(
            f"start, {concurrency} conn: p50 / p99 ms",
            f"{o50:.2f} / {o99:.2f}",
            f"{p50:.2f} / {p99:.2f}",
            ratio(o99, p99),
            "p99 <= 1.2x" if gated else "",
            o99 <= 1.2 * p99 if gated else None,
        )
        if ours["errors"] or peer["errors"]:
            t.add(
                f"start, {concurrency} conn: not 201",
                str(ours["errors"]),
                str(peer["errors"]),
                "",
                "0",
                False,
            )
        t.add(
            f"start, {concurrency} conn: Redis cmds / round trips per job",
            RedisCost.per(ours["redis"], len(ours["latencies_ms"])),
            RedisCost.per(peer["redis"], len(peer["latencies_ms"])),
        )

    def first_delta(self, attaches: int, priority: str) -> None:
        """Attach to ``attaches`` pending jobs: arriving 10 ms apart (each stream then stays
        open: ``attaches`` concurrent streams at the end), and all in the same instant."""
        for label, spacing_ms in (("10 ms apart", 10), ("all at once", 0)):
            spec = {
                "scenario": "ttfd",
                "host": HOST,
                "count": attaches,
                "spacing_ms": spacing_ms,
                "priority": priority,
            }
            ours = load(spec | {"port": self.service.port, "tokens": self.tokens(attaches)})
            peer = load(spec | {"port": self.peer.port, "tokens": self.tokens(attaches)})
            first, peer_first = ours["first_delta_ms"], peer["first_delta_ms"]
            self.table.add(
                f"first delta, {attaches} attaches {label}: p50 / p99 ms",
                f"{percentile(first, 50):.1f} / {percentile(first, 99):.1f}",
                f"{percentile(peer_first, 50):.1f} / {percentile(peer_first, 99):.1f}",
                ratio(percentile(first, 99), percentile(peer_first, 99)),
            )

    def streams_spec(self, count: int, priority: str) -> dict[str, Any]:
        """``count`` new jobs of ``priority`` (one user each), attached to all at once."""
        return {
            "scenario": "streams",
            "host": HOST,
            "count": count,
            "tokens": self.tokens(count),
            "priority": priority,
        }

    def warm_up(self, count: int, priority: str) -> None:
        """Streams of the same shape first, unmeasured, on both: the imports, caches and
        allocator arenas any instance has after its first minutes must not count as memory
        per stream."""
        for target in (self.service, self.peer):
            load(self.streams_spec(count, priority) | {"port": target.port})

    def stream_run(self, target: Target, count: int, priority: str) -> dict[str, Any]:
        """``count`` streams at once against ``target``: the load generator's figures, plus
        the server's CPU seconds, peak RSS growth, and the Redis commands it caused."""
        time.sleep(1)
        idle_rss = target.proc.rss_kib()
        cpu_before = target.proc.cpu_s()
        with PeakRss(target.proc) as rss:
            out = self.measured_load(target, self.streams_spec(count, priority))
        return out | {
            "cpu_s": target.proc.cpu_s() - cpu_before,
            "rss_per_stream": (rss.peak - idle_rss) / count,
        }

    def streams(self, count: int, *, priority: str = "critical") -> None:
        """``count`` jobs streaming at once, each at 50 tokens/s through the 100 ms window:
        the same jobs, tokens and load generator for the service and the naive peer."""
        ours = self.stream_run(self.service, count, priority)
        peer = self.stream_run(self.peer, count, priority)

        def both(show: Callable[[Run], str]) -> tuple[str, str]:
            """One measure shown for the service and for the peer."""
            return show(ours), show(peer)

        self._work_rows(count, ours, peer, both)
        self._cost_rows(count, ours, peer, both)

    def _work_rows(self, count: int, ours: Run, peer: Run, both: Both) -> None:
        """What both delivered: the same work (deltas, no tools), at what pace and lag."""
        t = self.table
        ours_events, peer_events = ours["deltas"] / count, peer["deltas"] / count
        t.add(
            f"{count} streams: deltas / stream",
            f"{ours_events:.2f}",
            f"{peer_events:.2f}",
            "",
            f"same (±{SAME_WORK_EVENTS})",
            abs(ours_events - peer_events) <= SAME_WORK_EVENTS,
        )
        if ours["tools"] or peer["tools"]:
            t.add(f"{count} streams: tool events", *both(lambda r: str(r["tools"])), "", "0", False)
        t.add(f"{count} streams: events/s", *both(lambda r: f"{r['deltas'] / r['elapsed_s']:.0f}"))
        lag99 = percentile(ours["lags_ms"], 99)
        gated = count <= 1000  # the targets are for up to 1000 streams
        t.add(
            f"{count} streams: delta lag p50 / p99 ms",
            *both(lambda r: "{:.0f} / {:.0f}".format(*lags(r))),
            ratio(lag99, percentile(peer["lags_ms"], 99)),
            "p99 <= 150 ms" if gated else "",
            lag99 <= 150 if gated else None,
        )

    def _cost_rows(self, count: int, ours: Run, peer: Run, both: Both) -> None:
        """What it cost each (CPU, memory, Redis work), and whether every stream was whole."""
        t = self.table
        cpu, peer_cpu = ours["cpu_s"] / count, peer["cpu_s"] / count
        t.add(
            f"{count} streams: CPU ms / stream",
            f"{cpu * 1e3:.1f}",
            f"{peer_cpu * 1e3:.1f}",
            ratio(cpu, peer_cpu),
            "<= 1.0x" if count == 100 else "",
            cpu <= peer_cpu if count == 100 else None,
        )
        t.add(
            f"{count} streams: CPU ms / 1000 events",
            *both(lambda r: f"{r['cpu_s'] * 1e6 / max(1, r['deltas']):.0f}"),
        )
        t.add(
            f"{count} streams: RSS KiB / stream",
            *both(lambda r: f"{r['rss_per_stream']:.1f}"),
            ratio(ours["rss_per_stream"], peer["rss_per_stream"]),
        )
        t.add(
            f"{count} streams: lossless",
            *both(lambda r: f"{r['lossless']}/{count}"),
            "",
            "all",
            ours["lossless"] == count and peer["lossless"] == count,
        )
        if set(ours["endings"]) != {"complete"} or set(peer["endings"]) != {"complete"}:
            t.add(
                f"{count} streams: endings",
                *both(lambda r: json.dumps(r["endings"])),
                "",
                "all complete",
                False,
            )
        t.add(
            f"{count} streams: Redis cmds / round trips per event",
            *both(lambda r: RedisCost.per(r["redis"], r["deltas"] + count)),
        )
        t.add(
            f"{count} streams: Redis cmds / round trips per job",
            *both(lambda r: RedisCost.per(r["redis"], count)),
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
    binary = shutil.which("redis-server")
    if binary is None:
        print("python -m bench: redis-server is not on the PATH", file=sys.stderr)
        return 2
    store = RedisServer(binary=binary)
    store.start()
    try:
        table = run(store, args)
    finally:
        store.close()
    print(
        f"\n{platform.node()}: {os.cpu_count()} CPUs, {platform.python_implementation()} "
        f"{platform.python_version()}; demo backend at {TOKENS_PER_SECOND} tokens/s, "
        f"{THROTTLE_MS} ms window, one uvicorn worker; load generator in its own process\n"
    )
    print(table.render())
    return 0


def run(store: RedisServer, args: argparse.Namespace) -> Table:
    """Start the service and the naive peer on ``store``, run the chosen parts against both."""
    parts = set(args.only.split(","))
    # No AGENT_WORKSPACE (the test helper's default is the sample tree): with real auth, the
    # agents run without tools, so the service does the same text at the same pace as the peer.
    service = ServiceProcess(
        REDIS_URL=store.url,
        AUTH_JWT_SECRET=SECRET,
        AGENT_WORKSPACE=None,
        DEMO_TOKENS_PER_SECOND=str(TOKENS_PER_SECOND),
        STREAM_THROTTLE_MS=str(THROTTLE_MS),
        LOG_LEVEL="warning",
    )
    peer_port = free_port()
    peer = subprocess.Popen(  # noqa: S603 - our own module, with our own interpreter
        [
            sys.executable, "-m", "bench.baseline",
            "--port", str(peer_port),
            "--redis-url", store.url,
            "--jwt-secret", SECRET,
            "--tokens-per-second", str(TOKENS_PER_SECOND),
            "--throttle-ms", str(THROTTLE_MS),
        ],
        cwd=ROOT,
    )  # fmt: skip
    try:
        service.start()
        _wait(f"http://{HOST}:{peer_port}/healthz")
        assert service.process is not None
        bench = Bench(
            Target(service.port, Proc(service.process.pid)),
            Target(peer_port, Proc(peer.pid)),
            RedisCost(store.client()),
        )
        if "start" in parts:
            for concurrency in (1, 64):
                bench.start(concurrency, args.duration)
        if "ttfd" in parts:
            bench.first_delta(args.attaches, "low")
        if "streams" in parts:
            counts = [int(n) for n in args.streams.split(",") if n]
            priority = "low" if args.quick else "critical"
            if counts:
                bench.warm_up(min(100, counts[0]), priority)
            for count in counts:
                bench.streams(count, priority=priority)
    finally:
        peer.terminate()
        peer.wait(10)
        service.close()
    return bench.table


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
