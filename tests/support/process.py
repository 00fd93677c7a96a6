"""The service as a real process (``python -m app``) on a free port: several instances on one
Redis, killed or stopped the way production kills and stops them."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 45


def _die_with_parent() -> None:
    """In the child, before it runs Python: SIGKILL when the test process dies (Linux's
    PR_SET_PDEATHSIG), so a test run that is killed leaves no service behind. Its own session
    (for close()) would otherwise keep it, and an orphaned --workers supervisor restarts its
    workers forever."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG


class ServiceProcess:
    def __init__(self, *args: str, **environment: str | None) -> None:
        """``environment`` is added to the process's; a None value unsets a variable (such as
        the ``AGENT_WORKSPACE=sample`` every test service gets by default)."""
        self.port = free_port()
        self.args = args
        self.environment = environment
        self.process: subprocess.Popen[str] | None = None
        self.log_path = Path(tempfile.gettempdir()) / f"jobs-service-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServiceProcess:
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
        env |= {"LOG_FORMAT": "json", "AGENT_WORKSPACE": "sample"}
        for name, value in self.environment.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        log = self.log_path.open("w")
        # Its own process group, so that close() also reaches the workers of --workers.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app", "--port", str(self.port), *self.args],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log, text=True,
            start_new_session=True, preexec_fn=_die_with_parent,
        )  # fmt: skip
        log.close()
        # Generous: a loaded machine starts Python (and each --workers worker) slowly.
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the service did not start:\n{self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: the process vanishes without any cleanup."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout_s: float = 30) -> int:
        """SIGTERM, as an orchestrator stops an instance; returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout_s)

    def close(self) -> None:
        """Stop the process and everything it started (no orphaned workers)."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.log_path.unlink(missing_ok=True)


#: Starts one more instance; keyword arguments add to (or, None, unset) the group's environment.
StartInstance = Callable[..., ServiceProcess]


@contextlib.contextmanager
def instance_group(**environment: str | None) -> Iterator[StartInstance]:
    """Instances started on demand with ``environment`` (each call may override any of it);
    every one started is closed when the block ends."""
    started: list[ServiceProcess] = []

    def start(**overrides: str | None) -> ServiceProcess:
        service = ServiceProcess(**(environment | overrides)).start()
        started.append(service)
        return service

    try:
        yield start
    finally:
        for service in started:
            service.close()
