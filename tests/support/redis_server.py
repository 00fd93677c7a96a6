"""A real ``redis-server`` on a free loopback port, owned by the test session.

Never the machine's own Redis on 6379: each server gets a fresh port and an empty temporary
directory, keeps nothing on disk, and is stopped at the end. ``stop`` and ``start`` may be
called again to simulate an outage on the same port.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis

_handed_out: set[int] = set()


def free_port(*, below: int = 65536) -> int:
    """A free loopback port under ``below``, never one this process handed out before (the OS
    may offer a just-released port again, and two servers started together would collide)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port < below and port not in _handed_out:
            _handed_out.add(port)
            return port


def require(binary: str, *, package: str = "redis-server") -> str:
    """The path of ``binary``; skips the test without it, but fails when ``CI`` is set."""
    path = shutil.which(binary)
    if path is None:
        message = f"{binary} is not on the PATH (install it: apt-get install {package})"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


class RedisServer:
    def __init__(
        self, *extra_args: str, port: int | None = None, binary: str | None = None
    ) -> None:
        self.binary = binary or require("redis-server")
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="redis-test-"))
        self.extra_args = extra_args
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.dir),
            *self.extra_args,
        ]  # fmt: skip
        with (self.dir / "redis.log").open("ab") as output:
            self.process = subprocess.Popen(args, stdout=output, stderr=subprocess.STDOUT)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        log = (self.dir / "redis.log").read_text()[-2000:]
                        raise RuntimeError(f"redis-server did not start:\n{log}") from None
                    time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
