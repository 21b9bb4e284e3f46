"""The HTTP server's bounds over real sockets: the request's size, idle and slow clients, and the
number of connections at once (uvicorn's, configured in service/http/server.py)."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING

import pytest

from ipfm_scheduler.service.http import server as http_server
from ipfm_scheduler.service.http.server import HttpServer

if TYPE_CHECKING:
    from tests.service.conftest import Served


def raw(served: Served, request: bytes) -> bytes:
    """Send ``request`` as it is and read the answer until the server closes."""
    with socket.create_connection(served.server.address, timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_a_long_request_target_gets_414(served: Served) -> None:
    answer = raw(
        served, b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 414 ")


def test_a_request_head_that_does_not_end_is_refused_without_being_served(served: Served) -> None:
    """Headers left incomplete past 16 KB are refused (h11 bounds what it buffers; asyncio
    reads at most 256 KB at a time), so 300 KB of them cannot be a request."""
    big = b"".join(b"X-Big-%d: " % i + b"a" * 1000 + b"\r\n" for i in range(300))
    with socket.create_connection(served.server.address, timeout=10) as sock:
        with contextlib.suppress(ConnectionError):  # it may close before we have sent it all
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n")
        answer = b""
        with contextlib.suppress(ConnectionError):
            while chunk := sock.recv(65536):
                answer += chunk
    assert answer == b"" or answer.startswith(b"HTTP/1.1 4"), answer[:100]
    assert b'"checks"' not in answer


def test_answers_name_the_service(served: Served) -> None:
    _, headers, _ = served.request("/healthz")
    assert headers["Server"].startswith("ipfm-scheduler/")
    _, headers, _ = served.request(served.file_path, {"If-None-Match": f'"{served.sha256}"'})
    assert headers["Server"].startswith("ipfm-scheduler/")


def test_healthz_answers_while_200_slow_clients_hold_connections(served: Served) -> None:
    """Slowloris: 200 connections sending their headers a few bytes at a time never finish;
    the server has a coroutine for each, not a thread, and /healthz answers at once."""
    with ExitStack() as stack:
        for _ in range(200):
            sock = stack.enter_context(socket.create_connection(served.server.address, 10))
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: a")
        started = time.monotonic()
        status, _, _ = served.request("/healthz")
        took = time.monotonic() - started
    assert status == 200
    assert took < 1.0


@pytest.fixture
def small_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[HttpServer]:
    monkeypatch.setattr(http_server, "MAX_CONNECTIONS", 3)
    monkeypatch.setattr(http_server, "IDLE_S", 1)
    with HttpServer("127.0.0.1", 0) as server:
        yield server


def test_past_the_connection_limit_a_request_gets_503(small_server: HttpServer) -> None:
    with ExitStack() as stack:
        for _ in range(3):
            sock = stack.enter_context(socket.create_connection(small_server.address, 10))
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
        with socket.create_connection(small_server.address, timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 503 ")


def test_an_idle_keep_alive_connection_is_closed(small_server: HttpServer) -> None:
    with socket.create_connection(small_server.address, timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        while sock.recv(65536):  # the rest of the answer, then the server's close
            pass
        assert time.monotonic() - started < 5  # IDLE_S is 1 here
