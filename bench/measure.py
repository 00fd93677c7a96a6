"""What ``python -m bench`` measures with: the load generator run in its own process, a
server process's CPU time and peak memory, the Redis work a scenario caused, and the table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[1]


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
    def per(used: tuple[int, int], count: int) -> str:
        """``used`` (commands, round trips) per one of ``count`` things."""
        count = max(count, 1)
        return f"{used[0] / count:.2f} / {used[1] / count:.2f}"


@dataclass
class Table:
    rows: list[tuple[str, str, str, str, str, str]] = field(default_factory=list)

    def add(
        self,
        measure: str,
        service: str,
        peer: str = "",
        ratio: str = "",
        target: str = "",
        ok: bool | None = None,
    ) -> None:
        mark = "" if ok is None else ("ok" if ok else "MISS")
        self.rows.append((measure, service, peer, ratio, target, mark))

    def render(self) -> str:
        header = ("measure", "service", "naive peer", "ratio", "target", "")
        widths = [max(len(row[i]) for row in [header, *self.rows]) for i in range(6)]

        def line(row: tuple[str, ...]) -> str:
            return "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()

        return "\n".join(
            [line(header), line(tuple("-" * w for w in widths)), *map(line, self.rows)]
        )


def lags(run: dict[str, Any]) -> tuple[float, float]:
    """A streams run's delta lag, p50 and p99."""
    return percentile(run["lags_ms"], 50), percentile(run["lags_ms"], 99)


def ratio(ours: float, peer: float) -> str:
    return f"{ours / peer:.2f}x" if peer > 0 else "-"
