"""HttpFetch downloads a programme over real HTTP and checks it, as a receiver must before
playing: right bytes OK, other bytes `checksum`, no file `download`."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ipfm_scheduler.protocol import AudioRef
from ipfm_scheduler.simulator import FetchResult, HttpFetch


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "kh179.mp3").write_bytes(b"ID3" + b"\x00" * 997)

    class Quiet(SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(tmp_path), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *_args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def ref(url: str, data: bytes) -> AudioRef:
    return AudioRef(url, hashlib.sha256(data).hexdigest(), len(data), 1.0)


def test_the_right_file_checks_out_and_is_cached_by_hash(server: str, tmp_path: Path) -> None:
    data = (tmp_path / "kh179.mp3").read_bytes()
    fetch = HttpFetch(timeout_s=5)
    assert fetch(ref(f"{server}/kh179.mp3", data)) is FetchResult.OK
    (tmp_path / "kh179.mp3").unlink()  # cached: no second download
    assert fetch(ref(f"{server}/kh179.mp3", data)) is FetchResult.OK


def test_other_bytes_are_a_checksum_failure(server: str) -> None:
    assert HttpFetch(5)(ref(f"{server}/kh179.mp3", b"something else")) is FetchResult.CHECKSUM


def test_a_missing_file_or_odd_scheme_is_a_download_failure(server: str) -> None:
    assert HttpFetch(5)(ref(f"{server}/missing.mp3", b"x")) is FetchResult.DOWNLOAD
    assert HttpFetch(5)(ref("file:///etc/passwd", b"x")) is FetchResult.DOWNLOAD
