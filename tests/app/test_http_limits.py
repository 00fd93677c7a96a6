"""The HTTP server's own limits, over raw sockets against ``python -m app``: a huge request
head, a head or a body that never finishes, an idle connection, bytes that are not HTTP.

The limits are set tiny here (1-2 s) so that the slack allowed can be generous; nothing
asserts how fast anything is, only that a connection is closed well within its limit.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import SECRET, token
from tests.support.process import ServiceProcess

HEAD_TIMEOUT_S = 1
BODY_TIMEOUT_S = 1
KEEPALIVE_S = 1
SLACK_S = 10
MAX_HEAD = 8192


@pytest.fixture(scope="module")
def service() -> Iterator[ServiceProcess]:
    process = ServiceProcess(
        AUTH_JWT_SECRET=SECRET,
        HTTP_MAX_HEADER_BYTES=str(MAX_HEAD),
        HTTP_HEAD_TIMEOUT_S=str(HEAD_TIMEOUT_S),
        HTTP_BODY_TIMEOUT_S=str(BODY_TIMEOUT_S),
        HTTP_KEEPALIVE_TIMEOUT_S=str(KEEPALIVE_S),
    )
    try:
        yield process.start()
    finally:
        process.close()


def connect(service: ServiceProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", service.port))
    sock.settimeout(SLACK_S + 5)
    return sock


def send(sock: socket.socket, data: bytes) -> None:
    """Send what the server takes; it may close the connection before all of it is sent."""
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(data)


def read_until_closed(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    started = time.monotonic()
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data, time.monotonic() - started


def read_one(sock: socket.socket) -> bytes:
    """One whole response (by its Content-Length) from a connection that stays open."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    _, headers, body = parse(data)
    while len(body) < int(headers["content-length"]):
        more = sock.recv(65536)
        data, body = data + more, body + more
    return data


def parse(response: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def assert_problem(response: bytes, status: int, code: str) -> dict[str, Any]:
    got, headers, body = parse(response)
    assert got == status, response[:500]
    assert headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = json.loads(body)
    assert problem["status"] == status
    assert problem["code"] == code
    return problem


def test_a_huge_header_is_refused_with_431(service: ServiceProcess) -> None:
    with connect(service) as sock:
        send(sock, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8_000_000 + b"\r\n\r\n")
        response, _ = read_until_closed(sock)
    problem = assert_problem(response, 431, "HEADERS_TOO_LARGE")
    assert str(MAX_HEAD) in problem["detail"]


def test_many_headers_in_one_read_are_refused_with_431(service: ServiceProcess) -> None:
    headers = b"".join(b"X-H%d: %s\r\n" % (n, b"v" * 100) for n in range(100))  # ~11 KB
    with connect(service) as sock:
        send(sock, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
        response, _ = read_until_closed(sock)
    assert_problem(response, 431, "HEADERS_TOO_LARGE")


def test_a_head_just_under_the_limit_is_served(service: ServiceProcess) -> None:
    padding = b"p" * (MAX_HEAD - 200)
    with connect(service) as sock:
        send(sock, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + padding + b"\r\n\r\n")
        response, _ = read_until_closed(sock)  # then closed for being idle
    status, _, body = parse(response)
    assert status == 200
    assert json.loads(body) == {"status": "ok"}


@pytest.mark.parametrize(
    "sent", [b"", b"GET /healthz HTTP/1.1\r\n", b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: a"]
)
def test_a_head_that_never_finishes_is_answered_408_and_closed(
    service: ServiceProcess, sent: bytes
) -> None:
    with connect(service) as sock:
        send(sock, sent)
        response, took_s = read_until_closed(sock)
    problem = assert_problem(response, 408, "REQUEST_TIMEOUT")
    assert "headers" in problem["detail"]
    assert took_s < HEAD_TIMEOUT_S + SLACK_S


def test_a_head_trickled_byte_by_byte_is_cut_off(service: ServiceProcess) -> None:
    with connect(service) as sock:
        started = time.monotonic()
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.05)  # always some progress, never a whole head
        response, _ = read_until_closed(sock)
    assert_problem(response, 408, "REQUEST_TIMEOUT")
    assert time.monotonic() - started < HEAD_TIMEOUT_S + SLACK_S


def test_a_body_that_never_finishes_is_answered_408(service: ServiceProcess) -> None:
    with connect(service) as sock:
        send(
            sock,
            b"POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + token().encode() + b"\r\n"
            b"Content-Length: 100\r\n\r\n{",
        )
        started = time.monotonic()
        sock.settimeout(BODY_TIMEOUT_S + SLACK_S)
        response = read_one(sock)
        took_s = time.monotonic() - started
    problem = assert_problem(response, 408, "REQUEST_TIMEOUT")
    assert "body" in problem["detail"]
    assert took_s < BODY_TIMEOUT_S + SLACK_S


def test_a_body_trickled_after_the_answer_does_not_hold_the_connection(
    service: ServiceProcess,
) -> None:
    with connect(service) as sock:
        send(sock, b"POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n{")
        assert_problem(read_one(sock), 401, "UNAUTHORIZED")  # answered before the body is read
        sock.settimeout(0.1)
        started = time.monotonic()
        closed = False
        while not closed and time.monotonic() - started < KEEPALIVE_S + SLACK_S:
            try:
                sock.sendall(b" ")  # each byte would restart a keep-alive timer
                closed = sock.recv(65536) == b""
            except TimeoutError:
                pass
            except (BrokenPipeError, ConnectionResetError):
                closed = True
    assert closed, "the connection is still open"


def test_an_idle_keep_alive_connection_is_closed(service: ServiceProcess) -> None:
    with connect(service) as sock:
        send(sock, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        response, took_s = read_until_closed(sock)
    assert parse(response)[0] == 200
    assert response.count(b"HTTP/1.1") == 1, "nothing but the one answer, then the close"
    assert took_s < KEEPALIVE_S + SLACK_S


def test_a_kept_alive_connection_serves_the_next_request(service: ServiceProcess) -> None:
    with connect(service) as sock:
        for _ in range(2):
            send(sock, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            status, headers, _ = parse(read_one(sock))
            assert status == 200
            assert headers.get("connection") != "close"


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"\x16\x03\x01\x02\x00garbage\r\n\r\n",  # a TLS hello to the plain-HTTP port
        b"POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
    ],
)
def test_bytes_that_are_not_http_get_the_servers_plain_400(
    service: ServiceProcess, request_bytes: bytes
) -> None:
    # Documented in the README: the parser refuses these before there is a request to answer.
    with connect(service) as sock:
        send(sock, request_bytes)
        response, _ = read_until_closed(sock)
    status, headers, body = parse(response)
    assert status == 400
    assert headers["content-type"].startswith("text/plain")
    assert body == b"Invalid HTTP request received."
