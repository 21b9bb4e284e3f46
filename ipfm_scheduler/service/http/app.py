"""What the service's HTTP server answers, as an ASGI application on Starlette (the only module
that imports it; :mod:`server` runs it on uvicorn). Routes:

- ``GET|HEAD /audio/<sha256>.mp3``: only a sha256 in the host's allow-list (the catalogue and
  the configured programme audio) is served, from the path the host gave for it. The URL must
  be exactly that shape as sent (64 lowercase hex digits, ``.mp3``; no percent-escapes, no dots,
  no other extension), the file is opened without following a symbolic link, must be a regular
  file, and must still hash to its sha256 (checked once per change of the file), else the
  receiver gets an error instead of bytes it would reject; the file verified is the one sent
  (through ``/proc/self/fd``), whatever happens to its name meanwhile. Starlette's
  ``FileResponse`` sends it in chunks (never read whole into memory) and answers ``Range`` and
  ``If-Range``; we add the sha256 as the ``ETag`` and ``If-None-Match`` (304) for receivers
  that revalidate.
- ``GET /healthz``: 200 when every check passes, else 503; a JSON body names each part.
- ``GET /metrics``: Prometheus text format.
- every other ``GET`` path: the web pages (:class:`Pages`, given by the host), if any.

``/metrics`` and the pages answer as :mod:`access` decides (loopback only, or HTTP Basic auth
with the password file); ``/healthz`` and ``/audio/`` are open to every client. Everything that
may block (hashing, a health check, a page, a password check) runs on a thread (:data:`LANES`),
never on the event loop that keeps every other connection going.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol, TypeVar

import anyio
import anyio.to_thread
from starlette.responses import FileResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ipfm_scheduler import __version__
from ipfm_scheduler.i18n import _
from ipfm_scheduler.service.http.access import REALM, Access, Admission
from ipfm_scheduler.service.http.health import HealthChecks
from ipfm_scheduler.service.http.metrics import Metrics

log = logging.getLogger(__name__)
T = TypeVar("T")

AUDIO_PATH = re.compile(rb"/audio/([0-9a-f]{64})\.mp3")
#: Starlette opens the file it sends by name: ``/proc/self/fd/N`` names the very file we opened
#: and verified (Linux), even if the audio folder's entry is replaced meanwhile
FD_DIR = "/proc/self/fd"
IMMUTABLE = "public, max-age=31536000, immutable"  # a sha256 name never changes its bytes
MAX_TARGET = 2048  # a longer request target is refused (414) before anything reads it
SERVER = f"ipfm-scheduler/{__version__}"
#: the one Range we pass to Starlette: a single ``bytes=a-b``, ``a-`` or ``-n`` (anything else,
#: several ranges included, is ignored and the whole file sent, as RFC 9110 allows)
#: threads for what blocks, by lane: /healthz has its own, so that neither the pages nor the
#: receivers' file reads (Starlette's, on anyio's default 40) can keep a probe waiting
LANES = {"health": 4, "work": 16}
ONE_RANGE = re.compile(r"\s*bytes=(?:([0-9]+)-([0-9]*)|-([0-9]+))\s*", re.IGNORECASE)


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


class Host(Protocol):
    """What the application asks of the server that runs it (:class:`server.HttpServer`)."""

    pages: Pages | None
    access: Access
    health: HealthChecks
    metrics: Metrics | None

    def audio_path(self, sha256: str) -> Path | None: ...

    def verified(self, sha256: str, f: BinaryIO, info: os.stat_result) -> bool: ...


def text(code: int, words: str, headers: Mapping[str, str] | None = None) -> Response:
    return _bytes(code, f"{words}\n".encode(), "text/plain; charset=utf-8", headers=headers)


def _bytes(
    code: int,
    data: bytes,
    content_type: str,
    *,
    cache: str = "no-cache",
    headers: Mapping[str, str] | None = None,
) -> Response:
    more = {"Cache-Control": cache, "Server": SERVER, **(headers or {})}
    return Response(data, status_code=code, media_type=content_type, headers=more)


def none_match(header: str | None, etag: str) -> bool:
    """``If-None-Match`` matches (weak comparison): the client's copy is current, answer 304."""
    if header is None:
        return False
    tags = [t.strip().removeprefix("W/") for t in header.split(",") if t.strip()]
    return "*" in tags or etag in tags


class Application:
    """The ASGI application: ``Application(host)`` answers from what ``host`` holds now (its
    allow-list, pages and access may be replaced while it runs)."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self._lanes: dict[str, anyio.CapacityLimiter] = {}

    async def _off_loop(self, lane: str, work: Callable[..., T], *args: object) -> T:
        """``work(*args)`` on a thread of ``lane`` (made on first use, in the server's loop)."""
        limiter = self._lanes.get(lane)
        if limiter is None:
            limiter = self._lanes[lane] = anyio.CapacityLimiter(LANES[lane])
        return await anyio.to_thread.run_sync(work, *args, limiter=limiter)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # no lifespan (the server turns it off), no websocket
            return
        response = await self._answer(scope)
        await response(scope, receive, send)

    async def _answer(self, scope: Scope) -> ASGIApp:
        method: str = scope["method"]
        raw: bytes = scope.get("raw_path") or scope["path"].encode()
        query: bytes = scope.get("query_string", b"")
        path = raw.decode("latin-1")
        try:
            if method not in ("GET", "HEAD"):
                return text(501, "method not implemented")
            if len(raw) + len(query) + 1 > MAX_TARGET:
                return text(414, "request target too long")
            if path == "/healthz":
                return await self._off_loop("health", self._healthz)
            if (found := AUDIO_PATH.fullmatch(raw)) is not None:
                return await self._audio(found.group(1).decode(), scope)
            return await self._guarded(scope, path, query.decode("latin-1"))
        except Exception:  # a bug: log it, answer 500, keep serving the others
            log.exception(_("HTTP %s %s failed (a bug: please report it)"), method, path[:200])
            return text(500, "internal error")

    async def _guarded(self, scope: Scope, path: str, query: str) -> Response:
        """/metrics and the pages, to a client that :mod:`access` lets in."""
        client = (scope.get("client") or ("", 0))[0]
        login = _headers(scope).get("authorization")
        refused = await self._off_loop("work", self._refused, client, login)
        if refused is not None:
            return refused
        host = self.host
        if path == "/metrics" and host.metrics is not None:
            data = await self._off_loop("work", host.metrics.render)
            return _bytes(200, data, Metrics.content_type)
        if host.pages is not None:
            page = await self._off_loop("work", host.pages.answer, path, query)
            more = {"X-Content-Type-Options": "nosniff", **page.headers}
            return _bytes(page.status, page.body, page.content_type, headers=more)
        return text(404, "not found")

    def _refused(self, client: str, authorization: str | None) -> Response | None:
        """None if this client may have the pages and /metrics, else its answer."""
        verdict = self.host.access.decide(
            client, authorization, monotonic=time.monotonic(), now=datetime.now(UTC)
        )
        if verdict is Admission.OK:
            return None
        if verdict is Admission.LOGIN:
            login = {"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'}
            return text(401, "a name and password are needed", headers=login)
        if verdict is Admission.TOO_MANY:
            return text(429, "too many failed logins: wait a minute")
        return text(403, "only on the loopback address (see http.users)")

    def _healthz(self) -> Response:
        results = self.host.health.run()
        ok = all(r.ok for r in results.values())
        document = {"ok": ok, "checks": {name: r.to_json() for name, r in results.items()}}
        data = (json.dumps(document, ensure_ascii=False) + "\n").encode()
        return _bytes(200 if ok else 503, data, "application/json", cache="no-store")

    async def _audio(self, sha256: str, scope: Scope) -> ASGIApp:
        opened = await self._off_loop("work", self._open_verified, sha256)
        if isinstance(opened, Response):
            return opened
        f, info, path = opened
        name = f"{FD_DIR}/{f.fileno()}" if os.path.isdir(FD_DIR) else str(path)
        etag = f'"{sha256}"'
        headers = {"ETag": etag, "Cache-Control": IMMUTABLE, "Server": SERVER}
        asked = _headers(scope)
        if none_match(asked.get("if-none-match"), etag):
            f.close()
            return Response(status_code=304, headers={**headers, "Accept-Ranges": "bytes"})
        wanted = asked.get("range")
        if wanted is not None and (ONE_RANGE.fullmatch(wanted) is None or _backwards(wanted)):
            scope["headers"] = [(k, v) for k, v in scope["headers"] if k.lower() != b"range"]
        return _Held(
            f, FileResponse(name, media_type="audio/mpeg", stat_result=info, headers=headers)
        )

    def _open_verified(self, sha256: str) -> tuple[BinaryIO, os.stat_result, Path] | Response:
        """The file to send, open, and its stat, once it is known to be a regular file (opened
        without following a symbolic link) that still hashes to ``sha256``; or the answer to
        give instead."""
        path = self.host.audio_path(sha256)
        if path is None:
            return text(404, "not found")
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            log.warning(
                _("audio %s is in the catalogue but %s cannot be opened: %s"),
                sha256,
                path,
                exc.strerror,
            )
            return text(404, "not found")
        f = os.fdopen(fd, "rb")
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            f.close()
            return text(404, "not found")
        try:
            verified = self.host.verified(sha256, f, info)
        except BaseException:
            f.close()
            raise
        if not verified:
            f.close()
            log.error(
                _(
                    "audio file %s no longer matches its sha256 %s; run "
                    "`ipfm-scheduler audio check`"
                ),
                path,
                sha256,
            )
            return text(500, "the file changed on disk")
        return f, info, path


class _Held:
    """An ASGI response that closes ``f`` once ``response`` is done (sent, refused or cut)."""

    def __init__(self, f: BinaryIO, response: ASGIApp) -> None:
        self.f, self.response = f, response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.response(scope, receive, send)
        finally:
            self.f.close()


def _backwards(wanted: str | None) -> bool:
    """``bytes=9-2``: a last byte before the first, which RFC 9110 says to ignore."""
    found = ONE_RANGE.fullmatch(wanted or "")
    return found is not None and bool(found.group(2)) and int(found.group(2)) < int(found.group(1))


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name (the first of a repeated one)."""
    found: dict[str, str] = {}
    for name, value in scope["headers"]:
        found.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return found
