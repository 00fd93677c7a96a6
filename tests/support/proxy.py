"""A TCP proxy on a free loopback port, in a thread: the load balancer in front of service
instances, and a network that fails under a test's hand.

- **Fail-over**: each new connection goes to the first target that accepts it, in order: with
  instances A and B, everything reaches A until A stops listening, then B (what a load
  balancer's health checks achieve).
- **Severed connections**: :meth:`Proxy.sever` resets every open connection; both sides get a
  TCP RST, as when a network path dies or a proxy restarts.
- **Offline**: while :attr:`Proxy.offline` is set, new connections are reset as soon as they
  are accepted, so a client keeps failing to reconnect until the test sets it back.

The services behind it are never told anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections import Counter

from tests.support.redis_server import free_port

_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: closing sends RST, not FIN


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close the connection with an RST (a plain abort may send a FIN)."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    writer.transport.abort()


class Proxy:
    def __init__(self, *target_ports: int) -> None:
        self.targets = list(target_ports)
        self.port = free_port()
        #: Connections accepted so far, by the target port they went to.
        self.connections: Counter[int] = Counter()
        #: While set, new connections are reset as soon as they are accepted.
        self.offline = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"proxy-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def accepted(self) -> int:
        return sum(self.connections.values())

    def start(self) -> Proxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the proxy did not start")
        return self

    def sever(self) -> int:
        """Reset every open connection (both sides), now; returns how many there were."""
        severed: list[int] = []
        done = threading.Event()

        def cut() -> None:
            severed.append(self._reset_all())
            done.set()

        assert self._loop is not None
        self._loop.call_soon_threadsafe(cut)
        if not done.wait(5):
            raise RuntimeError("the proxy did not sever its connections")
        return severed[0]

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self._ready.set()
        async with server:
            await self._stop.wait()
            self._reset_all()

    def _reset_all(self) -> int:
        """Reset every open connection; each counts once (its two ends are two writers)."""
        writers = list(self._open)
        for writer in writers:
            _reset(writer)
        return len(writers) // 2

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.offline:
            _reset(writer)
            return
        for port in self.targets:
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue
            self.connections[port] += 1
            break
        else:
            _reset(writer)
            return
        self._open |= {writer, upstream_writer}
        try:
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        finally:
            self._open -= {writer, upstream_writer}
            for end in (writer, upstream_writer):
                end.transport.abort()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while chunk := await source.read(65536):
            sink.write(chunk)
            await sink.drain()
    # One side ended: end the other, as a TCP proxy does.
    with contextlib.suppress(OSError, RuntimeError):
        if sink.can_write_eof():
            sink.write_eof()
