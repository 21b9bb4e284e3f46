"""The HTTP server's bounds over real sockets: the request's size, idle and slow clients, and the
number of connections at once (uvicorn's, configured in service/http/server.py)."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import pytest

from ipfm_scheduler.service.http import server as http_server
from ipfm_scheduler.service.http.app import Page
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


def test_no_file_stays_open_after_answers_of_every_kind(served: Served) -> None:
    """Each download holds the verified file open while it is sent, then closes it: after
    whole files, ranges, 304s, 416s and a connection cut halfway, nothing is left open."""

    def open_files() -> int:
        return sum(1 for fd in Path("/proc/self/fd").iterdir() if "mp3" in _target(fd))

    assert open_files() == 0
    for headers in ({}, {"Range": "bytes=10-99"}, {"Range": "bytes=200000-"},
                    {"If-None-Match": f'"{served.sha256}"'}):  # fmt: skip
        assert served.request(served.file_path, headers)[0] in (200, 206, 304, 416)
    with socket.create_connection(served.server.address, timeout=10) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(f"GET {served.file_path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert sock.recv(1024).startswith(b"HTTP/1.1 200 ")
    # the server sees the cut and ends the response: wait for it, on its own terms
    deadline = time.monotonic() + 10
    while open_files() and time.monotonic() < deadline:
        served.request("/healthz")  # a round trip through the server's loop
    assert open_files() == 0


def _target(fd: Path) -> str:
    try:
        return os.readlink(fd)
    except OSError:
        return ""


def test_head_of_healthz_has_the_headers_and_no_body(served: Served) -> None:
    status, headers, body = served.request("/healthz", method="HEAD")
    assert (status, body) == (200, b"")
    assert int(headers["Content-Length"]) > 0


class _Broken:
    def answer(self, path: str, query: str) -> Page:
        raise RuntimeError("a bug in a page")


def test_a_page_that_fails_gets_500_and_the_server_goes_on(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    served.server.pages = _Broken()
    status, _, body = served.request("/wards/x")
    assert (status, body) == (500, b"internal error\n")
    assert "a bug: please report it" in caplog.text
    assert "RuntimeError: a bug in a page" in caplog.text
    assert served.request("/healthz")[0] == 200


def test_the_bytes_sent_are_those_of_the_file_verified(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The folder's entry replaced right after the check (as a careless copy would do): the
    receiver still gets the verified file's bytes, not the new ones under the old name."""
    check = served.server.verified
    path = served.audio_dir / f"{served.sha256}.mp3"

    def verified_then_replaced(sha256: str, f: BinaryIO, info: os.stat_result) -> bool:
        ok = check(sha256, f, info)
        other = path.with_suffix(".new")
        other.write_bytes(b"other bytes" * 1000)
        os.replace(other, path)
        return ok

    monkeypatch.setattr(served.server, "verified", verified_then_replaced)
    status, _, body = served.request(served.file_path)
    assert (status, body) == (200, served.data)


def test_a_forwarded_for_header_does_not_change_who_the_client_is(served: Served) -> None:
    """/metrics is for the loopback address: a header claiming another client is not read."""
    status, _, _ = served.request("/metrics", {"X-Forwarded-For": "203.0.113.9"})
    assert status == 200


def test_stop_ends_within_seconds_while_slow_clients_hold_connections(served: Served) -> None:
    with ExitStack() as stack:
        for _ in range(5):
            sock = stack.enter_context(socket.create_connection(served.server.address, 10))
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        reader = stack.enter_context(socket.create_connection(served.server.address, 10))
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        reader.sendall(f"GET {served.file_path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert reader.recv(64).startswith(b"HTTP/1.1 200 ")
        started = time.monotonic()
        served.server.stop()
        assert time.monotonic() - started < http_server.STOP_S + 2
