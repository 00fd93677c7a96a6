"""A real uvicorn server on a free loopback port, in a thread with its own event loop.

Streaming must be tested over a real socket (httpx's ASGITransport buffers whole responses),
and a thread keeps uvicorn away from the main thread's signal handlers.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import uvicorn
from sse_starlette.sse import AppStatus
from starlette.types import ASGIApp


class LiveServer:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            lifespan="on",
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, name=f"uvicorn-{self.port}", daemon=True)
        self.error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        try:
            asyncio.run(self.server.serve(sockets=[self.sock]))
        except BaseException as exc:  # reported by start()/stop() in the test's thread
            self.error = exc

    def start(self) -> LiveServer:
        # sse-starlette keeps a process-global shutdown flag; an earlier server may have set it.
        AppStatus.should_exit = False
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start: {self.error!r}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self.thread.is_alive():
            self.server.should_exit = True
            self.thread.join(15)
        self.sock.close()
        AppStatus.should_exit = False
        if self.thread.is_alive():
            raise RuntimeError("uvicorn did not stop within 15 s")
