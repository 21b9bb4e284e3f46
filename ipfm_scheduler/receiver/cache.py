"""The receiver's audio cache: programmes downloaded once, checked, kept by sha256.

    cache = AudioCache(Path("/var/cache/ipfm-receiver"), max_bytes=2 * 1024**3)
    result = cache.fetch(command.audio)     # from a worker thread: OK, CHECKSUM or DOWNLOAD
    cache.pin(sha256)                       # a command will play it: never evicted
    path = cache.path_for(sha256)           # the player's file (touched: recently used)
    cache.unpin(sha256)                     # played (or given up)

A download streams (stdlib urllib) into a temporary file in the cache folder, never the whole
file in memory; it reads at most ``audio.bytes`` + 1 KiB, and the file is renamed to
``<sha256>.<format>`` (atomically) only when its size and sha256 are the ones announced. A
failed or wrong download leaves nothing behind. ``timeout_s`` bounds each wait for the server
(connecting, each read), not the whole download: a slow but live link still finishes.

After a file is kept, the least recently used files go (oldest modification time first: a use
touches the file) until the folder holds at most ``max_bytes``; a pinned file, and the file just
fetched, never go. A file bigger than ``max_bytes`` on its own is refused (``DOWNLOAD``).

Thread-safe: downloads run outside the lock (one at a time per sha256), bookkeeping inside it.
One log line per download: kept (bytes, seconds), or why not.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

from ipfm_scheduler.errors import ValueInvalid
from ipfm_scheduler.i18n import _
from ipfm_scheduler.protocol import AudioRef

# FetchResult moves to ipfm_scheduler.receiver.core (the receiver's core defines it there);
# until that lands it is the simulator's, so the class is defined once.
from ipfm_scheduler.receiver.core import FetchResult

log = logging.getLogger(__name__)

SLACK_BYTES = 1024  # read this much past the announced size, to tell "more" from "exactly"
CHUNK_BYTES = 64 * 1024
USER_AGENT = "ipfm-receiver"
_CACHED_NAME = re.compile(r"([0-9a-f]{64})\.([a-z0-9]{1,16})")
_PART_SUFFIX = ".part"


class _Refused(Exception):
    """One download gone wrong: the result to give and a reason for the log."""

    def __init__(self, result: FetchResult, reason: str) -> None:
        super().__init__(reason)
        self.result = result
        self.reason = reason


class AudioCache:
    """Programme files in ``folder``, at most ``max_bytes`` of them (see the module docs)."""

    def __init__(self, folder: Path, max_bytes: int, *, who: str = "") -> None:
        if type(max_bytes) is not int or max_bytes <= 0:
            raise ValueInvalid(
                _("audio cache size {size} must be a positive whole number").format(
                    size=repr(max_bytes)
                )
            )
        self.folder = Path(folder)
        self.max_bytes = max_bytes
        self._who = f"{who}: " if who else ""
        self._lock = threading.Lock()
        self._pins: dict[str, int] = {}
        self._fetching: dict[str, threading.Lock] = {}
        self.folder.mkdir(parents=True, exist_ok=True)
        for leftover in self.folder.glob(f".*{_PART_SUFFIX}"):  # a download cut by a crash
            leftover.unlink(missing_ok=True)

    # ---- what the agent and the player call ---------------------------------------------------

    def fetch(self, audio: AudioRef, timeout_s: float = 60.0) -> FetchResult:
        """Make sure ``audio`` is in the cache, downloading it if it is not."""
        if audio.bytes > self.max_bytes:
            log.warning(
                _(
                    "%saudio %s not downloaded: it is %d bytes, more than the whole cache "
                    "(max %d bytes; raise the cache size in the receiver's config)"
                ),
                self._who,
                _short(audio.sha256),
                audio.bytes,
                self.max_bytes,
            )
            return FetchResult.DOWNLOAD
        with self._lock:
            one_at_a_time = self._fetching.setdefault(audio.sha256, threading.Lock())
        with one_at_a_time:
            if self._cached(audio):
                log.info(_("%saudio %s already in the cache"), self._who, _short(audio.sha256))
                return FetchResult.OK
            return self._download(audio, timeout_s)

    def path_for(self, sha256: str) -> Path | None:
        """The cached file with this sha256, touched as just used; None if it is not cached."""
        with self._lock:
            path = self._find(sha256)
            if path is not None:
                try:
                    os.utime(path)
                except FileNotFoundError:
                    return None
            return path

    def pin(self, sha256: str) -> None:
        """Keep this file whatever happens (a command will play it); pins are counted."""
        with self._lock:
            self._pins[sha256] = self._pins.get(sha256, 0) + 1

    def unpin(self, sha256: str) -> None:
        """Undo one :meth:`pin`; the file may be evicted once no pin is left."""
        with self._lock:
            left = self._pins.get(sha256, 0) - 1
            if left > 0:
                self._pins[sha256] = left
            else:
                self._pins.pop(sha256, None)

    def size(self) -> int:
        """The bytes the cached files take."""
        with self._lock:
            return sum(size for _, size, _ in self._entries())

    # ---- downloading --------------------------------------------------------------------------

    def _cached(self, audio: AudioRef) -> bool:
        """Already here with the announced size (its sha256 was checked when it was kept)."""
        path = self.path_for(audio.sha256)
        try:
            return path is not None and path.stat().st_size == audio.bytes
        except FileNotFoundError:  # evicted meanwhile
            return False

    def _download(self, audio: AudioRef, timeout_s: float) -> FetchResult:
        began = time.monotonic()
        fd, name = tempfile.mkstemp(dir=self.folder, prefix=f".{audio.sha256}-", suffix=".part")
        part = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                size = _stream(audio, out, timeout_s)
                out.flush()
                os.fsync(out.fileno())
            final = self.folder / f"{audio.sha256}.{audio.format}"
            with self._lock:
                os.replace(part, final)
                evicted = self._evict(keep=final)
        except _Refused as refused:
            part.unlink(missing_ok=True)
            log.warning(
                _("%saudio %s from %s not kept (%s): %s"),
                self._who,
                _short(audio.sha256),
                audio.url,
                refused.result,
                refused.reason,
            )
            return refused.result
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        seconds = time.monotonic() - began
        log.info(
            _("%saudio %s downloaded from %s: %d bytes in %.1f s%s"),
            self._who,
            _short(audio.sha256),
            audio.url,
            size,
            seconds,
            _("; evicted {files} (least recently used)").format(files=", ".join(evicted))
            if evicted
            else "",
        )
        return FetchResult.OK

    # ---- eviction -----------------------------------------------------------------------------

    def _entries(self) -> list[tuple[Path, int, int]]:
        """(path, size, mtime in ns) of every cached file (not the downloads under way)."""
        found = []
        for path in self.folder.iterdir():
            if _CACHED_NAME.fullmatch(path.name) is None:
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            found.append((path, stat.st_size, stat.st_mtime_ns))
        return found

    def _find(self, sha256: str) -> Path | None:
        for path in self.folder.glob(f"{sha256}.*"):
            found = _CACHED_NAME.fullmatch(path.name)
            if found is not None and found.group(1) == sha256:
                return path
        return None

    def _evict(self, keep: Path) -> list[str]:
        """Delete the least recently used unpinned files until the cache fits (lock held)."""
        entries = sorted(self._entries(), key=lambda entry: entry[2])
        total = sum(size for _, size, _ in entries)
        evicted = []
        for path, size, _used in entries:
            if total <= self.max_bytes:
                break
            sha256 = path.name.partition(".")[0]
            if path == keep or self._pins.get(sha256, 0) > 0:
                continue
            path.unlink(missing_ok=True)
            total -= size
            evicted.append(_short(sha256))
        if total > self.max_bytes:
            log.warning(
                _(
                    "%saudio cache holds %d bytes, more than its %d: the rest is pinned (to be "
                    "played)"
                ),
                self._who,
                total,
                self.max_bytes,
            )
        return evicted


def _stream(audio: AudioRef, out: BinaryIO, timeout_s: float) -> int:
    """Copy ``audio.url`` into ``out`` (a binary file), checking size and sha256; the size."""
    if urlsplit(audio.url).scheme not in ("http", "https"):
        raise _Refused(FetchResult.DOWNLOAD, _("the url is not http(s)"))
    digest = hashlib.sha256()
    size = 0
    limit = audio.bytes + SLACK_BYTES
    request = urllib.request.Request(audio.url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            while chunk := response.read(min(CHUNK_BYTES, limit + 1 - size)):
                size += len(chunk)
                if size > limit:
                    raise _Refused(
                        FetchResult.CHECKSUM,
                        _("the server sent more than the {bytes} bytes announced (cut off)").format(
                            bytes=audio.bytes
                        ),
                    )
                digest.update(chunk)
                out.write(chunk)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise _Refused(FetchResult.DOWNLOAD, _reason(exc)) from exc
    if size != audio.bytes:
        raise _Refused(
            FetchResult.CHECKSUM,
            _("got {size} bytes, {bytes} announced").format(size=size, bytes=audio.bytes),
        )
    if digest.hexdigest() != audio.sha256:
        raise _Refused(
            FetchResult.CHECKSUM,
            _("its sha256 is {sha256}").format(sha256=_short(digest.hexdigest())),
        )
    return size


def _reason(exc: BaseException) -> str:
    """A download error in one plain line."""
    if isinstance(exc, urllib.error.HTTPError):
        return _("the server answered HTTP {code} {reason}").format(
            code=exc.code, reason=exc.reason
        )
    if isinstance(exc, urllib.error.URLError):
        return _("cannot reach the server ({reason})").format(reason=exc.reason)
    if isinstance(exc, TimeoutError):
        return _("the server stopped answering (timed out)")
    if isinstance(exc, http.client.IncompleteRead):
        return _("the connection closed before the end of the file")
    return str(exc) or type(exc).__name__


def _short(sha256: str) -> str:
    return sha256[:12]
