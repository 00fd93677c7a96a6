"""``python -m jobs``: the client CLI (start, attach, run, status, cancel, agents) and the
operators' commands (``ops list|show|tail|purge|stats``). ``--help`` on any command says more;
the README lists the exit codes."""

from __future__ import annotations

import argparse
import sys

from jobs.client import cli
from jobs.ops import cli as ops


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cli.add_commands(commands)
    ops.add_commands(commands)
    args = parser.parse_args(argv)
    if args.command == "ops":
        return ops.run_command(args, sys.stdout, sys.stderr)
    return cli.run_command(args, sys.stdout, sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
