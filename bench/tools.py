"""Median cost of one workspace tool call on the shipped sample tree.

``python -m bench.tools [--calls 300]``: each call goes through ``Workspace.run`` (input
validation, the hop to the tool thread pool and back), after a warm-up of 20 calls.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from jobs.tools import Workspace

CALLS: list[tuple[str, dict[str, object]]] = [
    ("Glob", {"pattern": "**/*.tsx"}),
    ("Grep", {"pattern": "(?i)checkout", "glob": "*.{ts,tsx}"}),
    ("Grep", {"pattern": "(a+)+$"}),
    ("Read", {"path": "src/pages/checkout.tsx"}),
    ("Read", {"path": "../../etc/passwd"}),
]


async def measure(calls: int) -> None:
    with Workspace.open(None) as ws:
        for name, tool_input in CALLS:
            for _ in range(20):
                await ws.run(name, tool_input)
            samples = []
            for _ in range(calls):
                started = time.perf_counter()
                await ws.run(name, tool_input)
                samples.append((time.perf_counter() - started) * 1e6)
            median = statistics.median(samples)
            p90 = statistics.quantiles(samples, n=10)[-1]
            print(f"{name:5} {tool_input!s:55} median {median:6.0f} µs  p90 {p90:6.0f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    asyncio.run(measure(parser.parse_args().calls))


if __name__ == "__main__":
    main()
