"""The client package is for API consumers: it must not load the server's dependencies."""

from __future__ import annotations

import json
import subprocess
import sys

SERVER_ONLY = ("starlette", "redis", "anthropic", "fakeredis", "sse_starlette", "uvicorn")


def test_the_client_imports_none_of_the_servers_dependencies() -> None:
    code = (
        "import json, sys\n"
        "import jobs.client, jobs.client.cli\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        ).stdout
    )
    assert "jobs" in loaded, "the probe imported the client"
    assert "httpx2" in loaded, "the probe sees what the client does load"
    assert [name for name in SERVER_ONLY if name in loaded] == []
