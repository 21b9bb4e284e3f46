"""GET|HEAD /audio/<sha256>.mp3 over real sockets: ranges, ETags, and no path tricks."""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ipfm_scheduler.errors import HttpUnavailable, ValueInvalid
from ipfm_scheduler.service.http.server import HttpServer

if TYPE_CHECKING:
    from tests.service.conftest import Served


def test_the_whole_file_with_its_headers(served: Served) -> None:
    status, headers, body = served.request(served.file_path)
    assert status == 200
    assert body == served.data
    assert headers["Content-Type"] == "audio/mpeg"
    assert headers["Content-Length"] == "100000"
    assert headers["ETag"] == f'"{served.sha256}"'
    assert headers["Accept-Ranges"] == "bytes"


def test_head_gives_the_headers_without_the_body(served: Served) -> None:
    status, headers, body = served.request(served.file_path, method="HEAD")
    assert (status, body) == (200, b"")
    assert headers["Content-Length"] == "100000"


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=0-99", 0, 99),  # the first bytes
        ("bytes=1000-1999", 1000, 1999),  # the middle
        ("bytes=-500", 99_500, 99_999),  # the last 500 (suffix)
        ("bytes=99000-", 99_000, 99_999),  # open end: resuming a download
        ("bytes=99990-200000", 99_990, 99_999),  # an end past the file is cut to it
        ("bytes=-250000", 0, 99_999),  # a suffix longer than the file is the file
    ],
)
def test_a_single_range_gets_206_with_exactly_those_bytes(
    served: Served, header: str, first: int, last: int
) -> None:
    status, headers, body = served.request(served.file_path, {"Range": header})
    assert status == 206
    assert body == served.data[first : last + 1]
    assert headers["Content-Range"] == f"bytes {first}-{last}/100000"
    assert headers["Content-Length"] == str(last - first + 1)


@pytest.mark.parametrize("header", ["bytes=100000-", "bytes=250000-250100", "bytes=-0"])
def test_a_range_past_the_end_gets_416(served: Served, header: str) -> None:
    status, headers, body = served.request(served.file_path, {"Range": header})
    assert status == 416
    assert headers["Content-Range"] == "bytes */100000"
    assert served.data not in body


@pytest.mark.parametrize("header", ["bytes=0-1,5-9", "items=0-9", "bytes=9-2", "bytes=x-"])
def test_a_range_we_do_not_serve_gets_the_whole_file(served: Served, header: str) -> None:
    """Several ranges, another unit or a malformed range: ignored, as RFC 9110 allows."""
    status, _, body = served.request(served.file_path, {"Range": header})
    assert (status, body) == (200, served.data)


@pytest.mark.parametrize("tag", ['"{sha}"', 'W/"{sha}"', '"other", "{sha}"', "*"])
def test_a_current_etag_gets_304_without_a_body(served: Served, tag: str) -> None:
    status, headers, body = served.request(
        served.file_path, {"If-None-Match": tag.format(sha=served.sha256)}
    )
    assert (status, body) == (304, b"")
    assert headers["ETag"] == f'"{served.sha256}"'


def test_another_etag_gets_the_file(served: Served) -> None:
    status, _, body = served.request(served.file_path, {"If-None-Match": '"' + "0" * 64 + '"'})
    assert (status, body) == (200, served.data)


def test_if_range_with_another_version_gets_the_whole_file(served: Served) -> None:
    """A receiver holding part of another file must not splice two files together."""
    headers = {"Range": "bytes=50000-", "If-Range": '"' + "0" * 64 + '"'}
    status, _, body = served.request(served.file_path, headers)
    assert (status, body) == (200, served.data)


def test_a_receiver_resumes_an_interrupted_download_and_checks_the_sha256(
    served: Served,
) -> None:
    """The simulated receiver: the connection drops after 37 kB; it resumes from there with
    If-Range, and the bytes it assembles hash to the sha256 of the command."""
    conn = served.connect()
    conn.request("GET", served.file_path)
    response = conn.getresponse()
    etag = response.getheader("ETag")
    part = response.read(37_000)
    conn.sock.shutdown(socket.SHUT_RDWR)  # the 3G link drops
    conn.close()

    headers = {"Range": f"bytes={len(part)}-", "If-Range": etag or ""}
    status, _, rest = served.request(served.file_path, headers)

    assert status == 206
    assert hashlib.sha256(part + rest).hexdigest() == served.sha256


def test_keep_alive_serves_several_requests_on_one_connection(served: Served) -> None:
    conn = served.connect()
    try:
        for _ in range(3):
            conn.request("GET", served.file_path, headers={"Range": "bytes=0-9"})
            response = conn.getresponse()
            assert response.read() == served.data[:10]
    finally:
        conn.close()


def test_a_query_string_is_ignored(served: Served) -> None:
    status, _, body = served.request(served.file_path + "?nocache=1")
    assert (status, body) == (200, served.data)


TRICKS = [
    "/audio/../catalogue.json",
    "/audio/%2e%2e/catalogue.json",
    "/audio/..%2fcatalogue.json",
    "/audio/%2E%2E%2Fcatalogue.json",
    "/audio/{sha}.mp3/../../catalogue.json",
    "/audio/./{sha}.mp3",
    "/audio//{sha}.mp3",
    "/audio/{sha}%2emp3",
    "/audio%2f{sha}.mp3",
    "/audio/{SHA}.mp3",
    "/audio/{sha}.wav",
    "/audio/{sha}.mp3.bak",
    "/audio/{sha}.mp3%00",
    "/audio/{sha}",
    "/audio/",
    "/catalogue.json",
    "/{sha}.mp3",
    "/audio/{other}.mp3",
]


@pytest.mark.parametrize("path", TRICKS)
def test_path_tricks_reach_nothing(served: Served, path: str) -> None:
    """Only the exact /audio/<allowed sha256>.mp3 is served; everything else is 404."""
    other = hashlib.sha256(b"not allowed").hexdigest()
    (served.audio_dir / f"{other}.mp3").write_bytes(b"not allowed")
    target = path.format(sha=served.sha256, SHA=served.sha256.upper(), other=other)
    status, _, body = served.request(target)
    assert status == 404
    assert body == b"not found\n"


def test_a_symbolic_link_is_not_followed(served: Served, tmp_path: Path) -> None:
    """An allowed name that is a symlink (even to the right bytes) is not served."""
    outside = tmp_path / "outside.mp3"
    outside.write_bytes(served.data)
    link = served.audio_dir / f"{served.sha256}.mp3"
    link.unlink()
    link.symlink_to(outside)
    status, _, body = served.request(served.file_path)
    assert status == 404
    assert served.data not in body


def test_a_file_changed_on_disk_is_not_served_under_its_old_sha256(served: Served) -> None:
    """Receivers would reject it by checksum: the server says so with 500 instead."""
    assert served.request(served.file_path, {"Range": "bytes=0-0"})[0] == 206
    path = served.audio_dir / f"{served.sha256}.mp3"
    path.write_bytes(served.data[:-1] + bytes([served.data[-1] ^ 1]))
    os.utime(path, ns=(1, 1))  # a new mtime, as any rewrite gives
    status, _, body = served.request(served.file_path)
    assert status == 500
    assert body == b"the file changed on disk\n"


def test_the_allow_list_can_be_replaced_while_running(served: Served) -> None:
    served.server.set_audio({})
    assert served.request(served.file_path)[0] == 404
    with pytest.raises(ValueInvalid, match="not a lowercase sha256"):
        served.server.set_audio({"../etc/passwd": Path("/etc/passwd")})


def test_unknown_paths_and_methods_are_refused(served: Served) -> None:
    assert served.request("/")[0] == 404
    assert served.request(served.file_path, method="POST")[0] == 501
    assert served.request(served.file_path, method="DELETE")[0] == 501


def test_a_busy_port_is_reported_plainly(served: Served) -> None:
    host, port = served.server.address
    with pytest.raises(HttpUnavailable, match=rf"cannot serve HTTP on 127.0.0.1:{port}: .*in use"):
        HttpServer(host, port).start()


def test_stop_closes_the_port(served: Served) -> None:
    host, port = served.server.address
    served.server.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, port), timeout=2).close()
