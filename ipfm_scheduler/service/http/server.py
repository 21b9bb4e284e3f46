"""The service's HTTP server: programme audio for receivers, ``/healthz``, ``/metrics``, the
pages (:mod:`app` says what each answers).

uvicorn (the only module that imports it) runs :class:`app.Application` on its own thread and
event loop, started and stopped by the caller: one thread for every connection at once (a
thousand receivers downloading, slow clients holding theirs open) instead of one thread each, so
``/healthz`` keeps answering under the crowd (bench/http_load.py, docs/service.md). The
socket is bound here, before the thread starts, so that a busy port is reported at once.

Limits: a request's line and headers together at most 16 KB (h11's bound; 431 beyond), an idle
keep-alive connection is closed after 5 s, at most ``MAX_CONNECTIONS`` connections at once (a
new one beyond gets 503 and is closed) and a listen backlog of ``LISTEN_BACKLOG``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import socket
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

import uvicorn

from ipfm_scheduler.audio.catalogue import Catalogue
from ipfm_scheduler.config.settings import AudioFile, HttpSettings
from ipfm_scheduler.errors import HttpUnavailable, ValueInvalid
from ipfm_scheduler.i18n import _
from ipfm_scheduler.service.http.access import Access
from ipfm_scheduler.service.http.app import Application, Pages
from ipfm_scheduler.service.http.health import Check, HealthChecks
from ipfm_scheduler.service.http.metrics import Metrics

log = logging.getLogger(__name__)
# uvicorn's own "Started server process" and such say nothing the service's log needs (it says
# "HTTP server listening on ..." itself); its warnings and errors still go through
logging.getLogger("uvicorn.error").setLevel(logging.WARNING)

SHA256 = re.compile(r"[0-9a-f]{64}")
_HASH_CHUNK = 1024 * 1024
#: connections the kernel holds for the server before it accepts them (capped by somaxconn)
LISTEN_BACKLOG = 1024
#: connections served at once; past it a new one gets 503 (a receiver retries), rather than the
#: process running out of file descriptors. Keep systemd's LimitNOFILE above it.
MAX_CONNECTIONS = 4096
MAX_HEAD = 16 * 1024  # a request's line and headers
IDLE_S = 5  # an idle keep-alive connection is closed after this long
LOOP, PARSER = "asyncio", "h11"  # uvloop and httptools: no clear gain (bench/http_load.py)
STOP_S = 2.0  # downloads still going when the service stops are cut after this long


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


def listening_socket(host: str, port: int) -> socket.socket:
    """The server's socket, bound and listening (``LISTEN_BACKLOG``) but accepting nothing yet."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except OSError as exc:
        sock.close()
        raise HttpUnavailable(host, port, exc.strerror or str(exc)) from exc
    return sock


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
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
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
        if self._socket is None:
            return self.host, self.port
        host, port = self._socket.getsockname()[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self) -> None:
        self._socket = listening_socket(self.host, self.port)
        config = uvicorn.Config(
            Application(self),
            lifespan="off",
            loop=LOOP,
            http=PARSER,
            ws="none",
            log_config=None,  # the service's logging, as configured
            access_log=False,
            server_header=False,  # the application names itself
            proxy_headers=False,  # access is decided on the TCP peer, never on X-Forwarded-For
            backlog=LISTEN_BACKLOG,
            limit_concurrency=MAX_CONNECTIONS,
            timeout_keep_alive=IDLE_S,
            timeout_graceful_shutdown=int(STOP_S),
            h11_max_incomplete_event_size=MAX_HEAD,
        )
        self._server = uvicorn.Server(config)
        sockets = [self._socket]
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._server.serve(sockets),), name="ipfm-http", daemon=True
        )
        self._thread.start()
        log.info(_("HTTP server listening on %s"), self.url)

    def stop(self, timeout_s: float = 5.0) -> None:
        server, thread, sock = self._server, self._thread, self._socket
        if server is None:
            return
        server.should_exit = True
        if thread is not None:
            thread.join(timeout_s)
        if sock is not None:
            sock.close()
        self._server = self._thread = self._socket = None

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
