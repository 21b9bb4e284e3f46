"""The service's small HTTP server: programme audio for receivers, ``/healthz``, ``/metrics``.

stdlib ``ThreadingHTTPServer`` on its own thread, started and stopped by the caller. Routes:

- ``GET|HEAD /audio/<sha256>.mp3``: only a sha256 in the caller's allow-list (the catalogue and
  the configured programme audio) is served, from the path the caller gave for it. The URL must
  be exactly that shape (64 lowercase hex digits, ``.mp3``; no percent-escapes, no dots, no
  other extension), the file is opened without following a symbolic link, must be a regular
  file, and must still hash to its sha256 (checked once per change of the file), else the
  receiver gets an error instead of bytes it would reject. ``ETag``, ``Range``/``If-Range``
  and ``If-None-Match`` let receivers on 3G resume and revalidate; bytes go out with
  ``sendfile`` (never read whole into memory).
- ``GET /healthz``: 200 when every check passes, else 503; a JSON body names each part.
- ``GET /metrics``: Prometheus text format.
- every other ``GET`` path: the web pages (:class:`Pages`, given by the caller), if any.

``/metrics`` and the pages answer as :mod:`access` decides (loopback only, or HTTP Basic auth
with the password file); ``/healthz`` and ``/audio/`` are open to every client.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import socketserver
import stat
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO, Protocol

from ipfm_scheduler import __version__
from ipfm_scheduler.audio.catalogue import Catalogue
from ipfm_scheduler.config.settings import AudioFile, HttpSettings
from ipfm_scheduler.errors import HttpUnavailable, ValueInvalid
from ipfm_scheduler.i18n import _
from ipfm_scheduler.service.http.access import REALM, Access, Admission
from ipfm_scheduler.service.http.health import Check, HealthChecks
from ipfm_scheduler.service.http.metrics import Metrics
from ipfm_scheduler.service.http.ranges import (
    RangeNotSatisfiable,
    byte_range,
    none_match,
    range_applies,
)

log = logging.getLogger(__name__)

AUDIO_PATH = re.compile(r"/audio/([0-9a-f]{64})\.mp3")
SHA256 = re.compile(r"[0-9a-f]{64}")
IMMUTABLE = "public, max-age=31536000, immutable"  # a sha256 name never changes its bytes
_HASH_CHUNK = 1024 * 1024
MAX_TARGET = 2048  # a longer request target is refused (414) before anything reads it


@dataclass(frozen=True, slots=True)
class Page:
    """What the pages answer: a status, a content type, the bytes, more headers."""

    status: int
    content_type: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


class Pages(Protocol):
    """The web pages (cli/web): ``path`` and ``query`` as sent (still percent-encoded)."""

    def answer(self, path: str, query: str) -> Page: ...


def audio_allow_list(
    catalogue: Catalogue, programme_audio: Mapping[str, AudioFile] | None = None
) -> dict[str, Path]:
    """What receivers may download: every catalogued recording, and the configured programme
    audio (``programmes.<id>.audio`` in the station file, by its sha256) that lies in the
    audio directory itself. Nothing in a sub-folder (``audio/source/``, the originals) or
    outside the directory is ever served, whatever the configuration says."""
    allowed = catalogue.files()
    home = catalogue.dir.resolve()
    for audio in (programme_audio or {}).values():
        if audio.path.resolve().parent == home:
            allowed[audio.sha256] = audio.path
        else:
            log.warning(
                _("not serving %s: it is not a file of the audio folder %s"), audio.path, home
            )
    return allowed


#: connections the kernel holds for the server before it accepts them (capped by somaxconn)
LISTEN_BACKLOG = 1024


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # the listen backlog: a ward's receivers (or a province's) download a new recording at
    # once; socketserver's 5 made the rest wait for a retransmitted SYN (a second or more)
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int], app: HttpServer) -> None:
        self.app = app
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host up in DNS (getfqdn): slow, and not needed
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]


class HttpServer:
    """The HTTP server the service embeds. ``start()`` binds and serves; ``stop()`` ends it."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8079,
        *,
        audio: Mapping[str, Path] | None = None,
        health: HealthChecks | Mapping[str, Check] | None = None,
        metrics: Metrics | None = None,
        pages: Pages | None = None,
        access: Access | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.pages = pages
        self.access = access or Access(None)
        self.health = health if isinstance(health, HealthChecks) else HealthChecks(health or {})
        self.metrics = metrics
        self._audio: Mapping[str, Path] = {}
        self._verified: dict[str, tuple[int, int, int, int]] = {}
        self._hashing = threading.Lock()  # many receivers at once: one of them hashes
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.set_audio(audio or {})

    @classmethod
    def from_settings(
        cls,
        settings: HttpSettings,
        *,
        audio: Mapping[str, Path] | None = None,
        health: HealthChecks | Mapping[str, Check] | None = None,
        metrics: Metrics | None = None,
        pages: Pages | None = None,
        access: Access | None = None,
    ) -> HttpServer:
        return cls(
            settings.host,
            settings.port,
            audio=audio,
            health=health,
            metrics=metrics,
            pages=pages,
            access=access,
        )

    def set_audio(self, audio: Mapping[str, Path]) -> None:
        """Replace the allow-list: sha256 -> the file to serve for it (e.g. after a reload)."""
        bad = [key for key in audio if not SHA256.fullmatch(key)]
        if bad:
            raise ValueInvalid(_("not a lowercase sha256: {bad}").format(bad=repr(bad[0])))
        self._audio = {key: Path(path) for key, path in audio.items()}

    def audio_path(self, sha256: str) -> Path | None:
        return self._audio.get(sha256)

    @property
    def address(self) -> tuple[str, int]:
        """The address actually bound (with port 0, the port the system chose)."""
        if self._server is None:
            return self.host, self.port
        return self._server.server_name, self._server.server_port

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> None:
        try:
            self._server = _Server((self.host, self.port), self)
        except OSError as exc:
            raise HttpUnavailable(self.host, self.port, exc.strerror or str(exc)) from exc
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="ipfm-http"
        )
        self._thread.daemon = True
        self._thread.start()
        log.info(_("HTTP server listening on %s"), self.url)

    def stop(self, timeout_s: float = 5.0) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout_s)
        self._server = self._thread = None

    def __enter__(self) -> HttpServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def verified(self, sha256: str, f: BinaryIO, info: os.stat_result) -> bool:
        """True if the open file still hashes to ``sha256`` (hashed once per change)."""
        key = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
        if self._verified.get(sha256) == key:
            return True
        with self._hashing:
            if self._verified.get(sha256) == key:
                return True
            digest = hashlib.sha256()
            while chunk := f.read(_HASH_CHUNK):
                digest.update(chunk)
            f.seek(0)
            if digest.hexdigest() != sha256:
                return False
            self._verified[sha256] = key
            return True


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = f"ipfm-scheduler/{__version__}"
    timeout = 30  # a stalled client gives up its thread after this long

    def do_GET(self) -> None:
        self._route(body=True)

    def do_HEAD(self) -> None:
        self._route(body=False)

    def _route(self, *, body: bool) -> None:
        if len(self.path) > MAX_TARGET:
            self._text(414, "request target too long", body)
            return
        path, _sep, query = self.path.partition("?")
        app = self.server.app
        try:
            if path == "/healthz":
                self._healthz(body)
            elif (found := AUDIO_PATH.fullmatch(path)) is not None:
                self._audio(found.group(1), body)
            elif not self._allowed(body):
                return
            elif path == "/metrics" and app.metrics is not None:
                self._send(200, app.metrics.render(), Metrics.content_type, body)
            elif app.pages is not None:
                page = app.pages.answer(path, query)
                headers = {"X-Content-Type-Options": "nosniff", **page.headers}
                self._send(page.status, page.body, page.content_type, body, headers=headers)
            else:
                self._text(404, "not found", body)
        except OSError as exc:  # the client went away (a receiver losing 3G): nothing to do
            log.debug("HTTP %s %s: connection lost: %s", self.command, self.path, exc)
            self.close_connection = True
        except Exception:  # a bug: log it, drop this connection, keep serving the others
            log.exception(_("HTTP %s %s failed (a bug: please report it)"), self.command, self.path)
            self.close_connection = True

    def _allowed(self, body: bool) -> bool:
        """Whether this client may have the pages and /metrics; if not, it has its answer."""
        verdict = self.server.app.access.decide(
            self.client_address[0],
            self.headers.get("Authorization"),
            monotonic=time.monotonic(),
            now=datetime.now(UTC),
        )
        if verdict is Admission.OK:
            return True
        if verdict is Admission.LOGIN:
            login = {"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'}
            self._text(401, "a name and password are needed", body, headers=login)
        elif verdict is Admission.TOO_MANY:
            self._text(429, "too many failed logins: wait a minute", body)
        else:
            self._text(403, "only on the loopback address (see http.users)", body)
        return False

    def _healthz(self, body: bool) -> None:
        results = self.server.app.health.run()
        ok = all(r.ok for r in results.values())
        document = {"ok": ok, "checks": {name: r.to_json() for name, r in results.items()}}
        data = (json.dumps(document, ensure_ascii=False) + "\n").encode()
        self._send(200 if ok else 503, data, "application/json", body, cache="no-store")

    def _audio(self, sha256: str, body: bool) -> None:
        path = self.server.app.audio_path(sha256)
        if path is None:
            return self._text(404, "not found", body)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            log.warning(
                _("audio %s is in the catalogue but %s cannot be opened: %s"),
                sha256,
                path,
                exc.strerror,
            )
            return self._text(404, "not found", body)
        with os.fdopen(fd, "rb") as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):
                return self._text(404, "not found", body)
            if not self.server.app.verified(sha256, f, info):
                log.error(
                    _(
                        "audio file %s no longer matches its sha256 %s; run "
                        "`ipfm-scheduler audio check`"
                    ),
                    path,
                    sha256,
                )
                return self._text(500, "the file changed on disk", body)
            self._send_file(f, sha256, info.st_size, body)
        return None

    def _send_file(self, f: BinaryIO, sha256: str, size: int, body: bool) -> None:
        etag = f'"{sha256}"'
        if none_match(self.headers.get("If-None-Match"), etag):
            self.send_response(304)
            self._audio_headers(etag)
            self.end_headers()
            return
        wanted = self.headers.get("Range")
        if not range_applies(self.headers.get("If-Range"), etag):
            wanted = None
        try:
            part = byte_range(wanted, size)
        except RangeNotSatisfiable:
            unsatisfiable = {"Content-Range": f"bytes */{size}"}
            return self._text(416, "range not satisfiable", body, headers=unsatisfiable)
        first, length = (0, size) if part is None else (part.first, part.length)
        self.send_response(200 if part is None else 206)
        self._audio_headers(etag)
        self.send_header("Content-Type", "audio/mpeg")
        self.send_header("Content-Length", str(length))
        if part is not None:
            self.send_header("Content-Range", part.content_range)
        self.end_headers()
        if body and length:
            self.connection.sendfile(f, first, length)
        return None

    def _audio_headers(self, etag: str) -> None:
        self.send_header("ETag", etag)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Cache-Control", IMMUTABLE)

    def _text(
        self, code: int, text: str, body: bool, *, headers: Mapping[str, str] | None = None
    ) -> None:
        data = f"{text}\n".encode()
        self._send(code, data, "text/plain; charset=utf-8", body, headers=headers)

    def _send(
        self,
        code: int,
        data: bytes,
        content_type: str,
        body: bool,
        *,
        cache: str = "no-cache",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", cache)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if body:
            self.wfile.write(data)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: object) -> None:
        log.debug("HTTP %s %s", self.address_string(), format % args)
