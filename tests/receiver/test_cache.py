"""AudioCache over a real HTTP server (stdlib, on 127.0.0.1): a good file is kept and found
again without a second download; a wrong or oversize one is refused and leaves nothing behind;
a server error or a refused connection is a download failure; a full cache evicts the least
recently used unpinned file, never a pinned one."""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ipfm_scheduler.errors import ValueInvalid
from ipfm_scheduler.protocol import AudioRef
from ipfm_scheduler.receiver.cache import AudioCache
from ipfm_scheduler.receiver.core import FetchResult

KB = 1024


@dataclass
class Server:
    """Serves ``files`` by path; counts the requests; ``/boom`` answers 500, ``/endless`` sends
    bytes without end (and no Content-Length)."""

    url: str
    files: dict[str, bytes] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    endless_sent: list[int] = field(default_factory=list)

    def ref(self, path: str, data: bytes, fmt: str = "mp3") -> AudioRef:
        self.files[path] = data
        return AudioRef(f"{self.url}{path}", sha(data), len(data), 3.0, fmt)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests[self.path] += 1
            if self.path == "/boom":
                self.send_error(500, "disk on fire")
            elif self.path == "/endless":
                self._endless()
            elif self.path in state.files:
                body = state.files[self.path]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_error(404)

        def _endless(self) -> None:
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            sent = 0
            try:
                while sent < 64 * 1024 * KB:  # 64 MiB at most, if the client never stops
                    self.wfile.write(b"\xff" * (16 * KB))
                    sent += 16 * KB
            except OSError:
                pass  # the client hung up: what the test wants
            state.endless_sent.append(sent)

        def log_message(self, *_args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def files_in(folder: Path) -> list[str]:
    """Every file in the folder, hidden ones (downloads under way) included."""
    return sorted(p.name for p in folder.iterdir())


def make_old(cache: AudioCache, audio: AudioRef, age: int) -> None:
    """Set the file's last use ``age`` seconds after 2001-09-09 (long ago: older is smaller)."""
    path = cache.path_for(audio.sha256)
    assert path is not None
    os.utime(path, ns=(0, 10**18 - age * 10**9))


def test_a_good_file_is_kept_by_sha256_and_found_again_without_a_second_download(
    server: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, "ipfm_scheduler.receiver.cache")
    data = os.urandom(200 * KB)
    audio = server.ref("/kh179.mp3", data)
    cache = AudioCache(tmp_path, 10 * 1024 * KB, who="cam-trung/loa-01")

    assert cache.fetch(audio, timeout_s=5) is FetchResult.OK
    assert cache.fetch(audio, timeout_s=5) is FetchResult.OK

    assert server.requests["/kh179.mp3"] == 1
    path = cache.path_for(audio.sha256)
    assert path == tmp_path / f"{audio.sha256}.mp3"
    assert path.read_bytes() == data
    assert files_in(tmp_path) == [path.name]
    assert f"cam-trung/loa-01: audio {audio.sha256[:12]} downloaded from " in caplog.text
    assert f"{len(data)} bytes in " in caplog.text


def test_a_wrong_checksum_keeps_nothing(server: Server, tmp_path: Path):
    audio = server.ref("/kh179.mp3", b"ID3" + b"\x00" * 997)
    wrong = AudioRef(audio.url, sha(b"other bytes"), audio.bytes, 3.0)
    cache = AudioCache(tmp_path, 1024 * KB)

    assert cache.fetch(wrong, timeout_s=5) is FetchResult.CHECKSUM

    assert files_in(tmp_path) == []
    assert cache.path_for(wrong.sha256) is None


def test_a_short_file_is_a_checksum_failure(server: Server, tmp_path: Path):
    data = b"ID3" + b"\x00" * 997
    server.files["/short.mp3"] = data[:500]
    audio = AudioRef(f"{server.url}/short.mp3", sha(data), len(data), 3.0)

    assert AudioCache(tmp_path, 1024 * KB).fetch(audio, timeout_s=5) is FetchResult.CHECKSUM
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("path", ["/boom", "/missing.mp3"])
def test_a_server_error_is_a_download_failure(
    server: Server, tmp_path: Path, path: str, caplog: pytest.LogCaptureFixture
):
    audio = AudioRef(f"{server.url}{path}", sha(b"x"), 1, 3.0)

    assert AudioCache(tmp_path, 1024 * KB).fetch(audio, timeout_s=5) is FetchResult.DOWNLOAD

    assert files_in(tmp_path) == []
    assert "the server answered HTTP" in caplog.text
    assert "Traceback" not in caplog.text


def test_a_refused_connection_is_a_download_failure(tmp_path: Path):
    with socket.socket() as sock:  # a port nobody listens on (bound, never listening)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        audio = AudioRef(f"http://127.0.0.1:{port}/kh179.mp3", sha(b"x"), 1, 3.0)

        assert AudioCache(tmp_path, 1024 * KB).fetch(audio, timeout_s=5) is FetchResult.DOWNLOAD

    assert files_in(tmp_path) == []


def test_a_url_that_is_not_http_is_a_download_failure(tmp_path: Path):
    audio = AudioRef("file:///etc/passwd", sha(b"x"), 1, 3.0)
    assert AudioCache(tmp_path, 1024 * KB).fetch(audio, timeout_s=5) is FetchResult.DOWNLOAD


def test_an_oversize_body_is_cut_off_and_nothing_kept(server: Server, tmp_path: Path):
    audio = AudioRef(f"{server.url}/endless", sha(b"x" * 100 * KB), 100 * KB, 3.0)

    assert AudioCache(tmp_path, 1024 * 1024 * KB).fetch(audio, timeout_s=5) is FetchResult.CHECKSUM

    assert files_in(tmp_path) == []
    assert server.requests["/endless"] == 1


def test_a_file_bigger_than_the_whole_cache_is_refused_without_downloading(
    server: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    audio = server.ref("/big.mp3", os.urandom(20 * KB))

    assert AudioCache(tmp_path, 10 * KB).fetch(audio, timeout_s=5) is FetchResult.DOWNLOAD

    assert server.requests["/big.mp3"] == 0
    assert "more than the whole cache" in caplog.text


def test_a_full_cache_evicts_the_least_recently_used_unpinned_file(server: Server, tmp_path: Path):
    cache = AudioCache(tmp_path, 35 * KB)
    a, b, c, d = (server.ref(f"/{n}.mp3", os.urandom(10 * KB)) for n in "abcd")
    for audio in (a, b, c):
        assert cache.fetch(audio, timeout_s=5) is FetchResult.OK
    for age, audio in enumerate((a, b, c), start=1):  # c the oldest, then b, then a
        make_old(cache, audio, age)
    assert cache.path_for(a.sha256) is not None  # used now
    cache.pin(c.sha256)  # the oldest, but pinned: b goes

    assert cache.fetch(d, timeout_s=5) is FetchResult.OK

    assert cache.path_for(b.sha256) is None
    assert all(cache.path_for(x.sha256) for x in (a, c, d))
    assert cache.size() == 30 * KB


def test_a_pinned_file_is_never_evicted_even_over_the_limit(server: Server, tmp_path: Path):
    cache = AudioCache(tmp_path, 25 * KB)
    a, b, c = (server.ref(f"/{n}.mp3", os.urandom(10 * KB)) for n in "abc")
    for audio in (a, b):
        assert cache.fetch(audio, timeout_s=5) is FetchResult.OK
        cache.pin(audio.sha256)
    cache.pin(a.sha256)
    cache.unpin(a.sha256)  # pins are counted: a is still pinned once

    assert cache.fetch(c, timeout_s=5) is FetchResult.OK

    assert all(cache.path_for(x.sha256) for x in (a, b, c))
    cache.unpin(b.sha256)
    make_old(cache, b, 2)
    make_old(cache, c, 1)
    d = server.ref("/d.mp3", os.urandom(1 * KB))
    assert cache.fetch(d, timeout_s=5) is FetchResult.OK
    assert cache.path_for(b.sha256) is None  # unpinned, and the least recently used
    assert cache.path_for(a.sha256) is not None


def test_leftover_partial_downloads_are_cleared_at_start(tmp_path: Path):
    (tmp_path / f".{'0' * 64}-abc.part").write_bytes(b"half a file")
    kept = tmp_path / f"{'1' * 64}.mp3"
    kept.write_bytes(b"a whole file")

    cache = AudioCache(tmp_path, 1024 * KB)

    assert files_in(tmp_path) == [kept.name]
    assert cache.path_for("1" * 64) == kept


def test_concurrent_fetches_of_one_file_download_it_once(server: Server, tmp_path: Path):
    audio = server.ref("/kh179.mp3", os.urandom(300 * KB))
    cache = AudioCache(tmp_path, 10 * 1024 * KB)
    results: list[FetchResult] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.fetch(audio, timeout_s=5)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert results == [FetchResult.OK] * 4
    assert server.requests["/kh179.mp3"] == 1
    assert files_in(tmp_path) == [f"{audio.sha256}.mp3"]


@pytest.mark.parametrize("size", [0, -1, 1.5])
def test_the_cache_size_must_be_a_positive_whole_number(tmp_path: Path, size: object):
    with pytest.raises(ValueInvalid, match="audio cache size"):
        AudioCache(tmp_path, size)  # type: ignore[arg-type]
