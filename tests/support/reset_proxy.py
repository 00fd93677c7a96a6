"""A TCP proxy on a free loopback port that a test can cut with resets, for real network
drops (``tests.support.proxy`` is the failover proxy in front of several instances; this one
sends RSTs and can refuse reconnects, which a browser test needs).

The browser talks to the service through it. :meth:`TcpProxy.sever` resets every open
connection (both sides get a TCP RST, as when a network path dies); while :attr:`offline` is
set, new connections are reset as soon as they are accepted, so a client keeps failing to
reconnect until the test sets it back. The service itself is never told anything.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST, not FIN


def _reset(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    sock.close()


class _Connection:
    """A client socket and its upstream socket, and the two threads pumping between them."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.severed = False
        self.pumps_running = 2

    def sever(self) -> None:
        # close() would not wake a thread blocked in recv() on the same socket (and the kernel
        # would delay the close until it returns); shutdown(SHUT_RD) does. The pumps then
        # close both sockets, with linger 0: an RST to each side.
        self.severed = True
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):  # already closed
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
                sock.shutdown(socket.SHUT_RD)


class TcpProxy:
    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.listener.settimeout(0.1)
        self.port: int = self.listener.getsockname()[1]
        #: While set, new connections are reset as soon as they are accepted.
        self.offline = False
        self._open: set[_Connection] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, name=f"proxy-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> TcpProxy:
        self._thread.start()
        return self

    def sever(self) -> int:
        """Reset every open connection; returns how many there were."""
        with self._lock:
            connections = list(self._open)
        for connection in connections:
            connection.sever()
        return len(connections)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(5)
        self.listener.close()
        self.sever()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.offline:
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            connection = _Connection(client, upstream)
            with self._lock:
                self._open.add(connection)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=self._pump, args=(connection, source, sink), daemon=True
                ).start()

    def _pump(self, connection: _Connection, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
            if not connection.severed:
                sink.shutdown(socket.SHUT_WR)  # pass a half-close on
        except OSError:
            connection.sever()  # one side is gone: take the other down with it
        with self._lock:
            connection.pumps_running -= 1
            last = connection.pumps_running == 0
            if last:
                self._open.discard(connection)
        if last:
            connection.client.close()
            connection.upstream.close()
