"""``python -m jobs run`` shows the agent's tool steps: one line each on stderr when it is
not a terminal (stdout stays the exact text), an updating status line on a terminal (a pty),
nothing with ``-q``. The service runs the demo backend on the shipped sample workspace."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time

from jobs.exits import Exit
from jobs.tools import Workspace
from tests.conftest import StartLive, token
from tests.jobs.client.test_cli import cli, environment
from tests.support.demo import demo_run
from tests.support.process import ROOT

FEATURE = {"pageOrComponent": "checkout page", "featureType": "enhancement", "priorityLevel": "low"}
ARGS = ("run", "--agent", "feature-suggestion", "--input", json.dumps(FEATURE))


def expected_run() -> tuple[str, list[str]]:
    """The demo's text and its tool calls' names, run apart from the CLI on the same
    workspace."""
    with Workspace.open(None) as workspace:
        run = demo_run("feature-suggestion", FEATURE, workspace)
    return run.text, [name for name, _ in run.calls]


def test_tool_steps_are_lines_on_stderr_when_it_is_not_a_terminal(live: StartLive) -> None:
    server = live()
    text, names = expected_run()
    done = cli(server.url, *ARGS)
    assert done.returncode == Exit.OK, done.stderr
    assert done.stdout == text, "stdout is the text, exactly"
    lines = done.stderr.splitlines()
    calls = [line for line in lines if line.startswith("⋯ ")]
    results = [line for line in lines if line.startswith(("✓ ", "✗ "))]
    assert [line.split()[1] for line in calls] == names
    assert len(results) == len(names)
    assert lines[0] == '⋯ Glob "**/*{Checkout,checkout}*" …'
    # Glob and Grep run concurrently in the first step: their results come in either order.
    assert sum(bool(re.fullmatch(r"✓ Grep: \d+ matches in \d+ files", r)) for r in results) == 1, (
        results
    )
    assert "✓ Read: read 69 lines of src/pages/checkout.tsx" in results
    quiet = cli(server.url, *ARGS, "-q")
    assert quiet.returncode == Exit.OK
    assert quiet.stderr == ""
    as_json = cli(server.url, *ARGS, "--json")
    assert json.loads(as_json.stdout)["result"]["context"], "stdout: the result only"
    assert sum(line.startswith("⋯ ") for line in as_json.stderr.splitlines()) == len(names)


def test_on_a_terminal_tool_steps_update_one_line(live: StartLive) -> None:
    server = live()
    _, names = expected_run()
    main, child = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "jobs", *ARGS],
        cwd=ROOT,
        env=environment(server.url, token()) | {"TERM": "xterm"},
        stdin=child,
        stdout=child,
        stderr=child,
    )
    os.close(child)
    seen = b""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the pty closes with the process
                break
            if not chunk:
                break
            seen += chunk
        elif process.poll() is not None:
            break
    assert process.wait(timeout=10) == Exit.OK
    os.close(main)
    screen = seen.decode()
    for name in set(names):
        assert re.search(rf"\r\x1b\[2K\S ⋯ {name}", screen), name
    assert re.search(r"\r\x1b\[2K. ✓ Grep: \d+ matches", screen), "the line updated in place"
    assert "\n⋯ " not in screen, "no tool step printed as a line of its own"
