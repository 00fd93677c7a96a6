"""What importing some modules loads, seen from a fresh interpreter (the test process has
loaded everything already)."""

from __future__ import annotations

import json
import subprocess
import sys


def loaded_by(*modules: str) -> set[str]:
    """The full names of every module loaded by importing ``modules`` in a new process."""
    code = f"import json, sys\nimport {', '.join(modules)}\nprint(json.dumps(sorted(sys.modules)))"
    probe = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return set(json.loads(probe.stdout))
