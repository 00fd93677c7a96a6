"""The HTTP/1.1 protocol the server speaks: uvicorn's httptools protocol, with the two limits
it lacks.

uvicorn's httptools protocol (the one ``uvicorn[standard]`` picks) has no bound on the size of
a request head and no timeout for receiving one: a client may send an 8 MB header, held in
memory, or open a connection and send a byte a minute (slowloris). h11 bounds the head but
not its time, and parses several times slower. So :class:`BoundedHttpTools` subclasses the
httptools protocol, through uvicorn's own extension point (``Config(http=<class>)``), and
:class:`ServerConfig` carries its limits (a ``Config`` is what a ``--workers`` child gets):

- a request head (request line and headers) larger than ``max_head_bytes`` is answered 431
  and the connection closed, counted as the bytes arrive, before any of it is parsed further;
- a request head not complete ``head_timeout_s`` after its first byte (or after the connection
  opened, for the first request) is answered 408 and the connection closed;
- a connection whose request was answered before its body was read (401, 413) is closed,
  rather than kept alive while the client trickles the rest of the body.

Both answers are problem documents, like every other error (built by ``app.problems``). An
idle keep-alive connection is closed by uvicorn's own ``timeout_keep_alive``; the time to send
a body is bounded by ``app.middleware.BodyGuard``. Bytes that are not HTTP at all (a garbage
request line, ``Content-Length: -1``) still get uvicorn's plain-text 400: the parser rejects
them before there is a request to answer, and a problem document would claim an HTTP exchange
that never happened.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.problems import problem_bytes


class _Refused(Exception):
    """Stops the parser after the protocol answered and closed the connection itself."""


class ServerConfig(uvicorn.Config):
    """uvicorn's ``Config``, speaking :class:`BoundedHttpTools` with these limits."""

    def __init__(
        self, app: Any, *, max_head_bytes: int, head_timeout_s: float, **options: Any
    ) -> None:
        super().__init__(app, http=BoundedHttpTools, **options)
        self.max_head_bytes = max_head_bytes
        self.head_timeout_s = head_timeout_s


class BoundedHttpTools(HttpToolsProtocol):
    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        if not isinstance(config, ServerConfig):
            raise TypeError("BoundedHttpTools takes its limits from a ServerConfig")
        self.max_head_bytes = config.max_head_bytes
        self.head_timeout_s = config.head_timeout_s
        self._head_bytes = 0
        self._in_head = False
        self._refused = False
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._start_head_timer()  # a connection that never sends a request is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._start_head_timer()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)
        if self._in_head and not self._refused:
            # Counted after parsing: httptools buffers a header until it is complete, so the
            # size must be watched as bytes arrive, not as headers are reported.
            self._head_bytes += len(data)
            if self._head_bytes > self.max_head_bytes:
                self._refuse(431, "HEADERS_TOO_LARGE", self._too_large())

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._stop_head_timer()
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.max_head_bytes:  # a whole head that came in one read
            self._refuse(431, "HEADERS_TOO_LARGE", self._too_large())
            raise _Refused()  # the parser reports it as an error: see send_400_response
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Answered before the body was read (a 401, a 413): the rest of the body could only be
        # read to be dropped, and a client trickling it would hold the connection for ever
        # (each byte would restart the keep-alive timer). Close instead.
        if self.cycle is not None and self.cycle.more_body and not self.transport.is_closing():
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # else the answer was sent already
            super().send_400_response(msg)

    def _too_large(self) -> str:
        return f"the request line and headers are larger than {self.max_head_bytes} bytes"

    def _start_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head behind a response still being sent (a stream): an answer now
            # would land inside that response. Look again later.
            self._start_head_timer()
        elif self._in_head or self.cycle is None:
            detail = f"the request headers did not arrive within {self.head_timeout_s:g} s"
            self._refuse(408, "REQUEST_TIMEOUT", detail)

    def _refuse(self, status: int, code: str, detail: str) -> None:
        self._refused = True
        self._stop_head_timer()
        if not self.transport.is_closing():
            self.transport.write(problem_bytes(status, code, detail))
            self.transport.close()
