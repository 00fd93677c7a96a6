"""Print how an environment's versions differ from the lock: ``lock_diff.py LOCK FREEZE``.

Used by scripts/check-latest to say which packages the check runs newer (or older) than the
lock, so a green run names exactly what ``scripts/lock --upgrade`` would move.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s;\\]+)", re.MULTILINE)


def pins(text: str) -> dict[str, str]:
    return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in PIN.findall(text)}


def main(lock_path: str, freeze_path: str) -> int:
    locked = pins(Path(lock_path).read_text())
    installed = pins(Path(freeze_path).read_text())
    changed = [
        f"  {name}: {locked.get(name, 'not locked')} -> {version}"
        for name, version in sorted(installed.items())
        if locked.get(name) != version
    ]
    print("versions against the lock:", *(changed or ["  all as locked"]), sep="\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
