"""A local, bounded, fsynced file of answers not yet stored in the airing log (issue 13, item 5).

When the database stays down (a full disk, PostgreSQL restarting), the answers taken from the
broker are appended here instead of being held in memory or dropped; they are replayed, oldest
first, once the database answers again, and at the service's next start. The broker has already
been told we have them (QoS 1 PUBACK): this file is the only copy.

The file is a sequence of records, each ``length (4 bytes) | crc32 (4 bytes) | JSON body``,
appended and fsynced. How far the replay got is kept beside it (``<name>.pos``, written
atomically), so a restart does not replay what was already stored. A record cut short by a crash
(its length or checksum does not match) ends the file: it is cut off there. The file never grows
beyond ``max_bytes``: beyond that, what does not fit is refused (the caller counts it).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import struct
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ipfm_scheduler.core.traffic import IncomingMessage
from ipfm_scheduler.errors import StorageError
from ipfm_scheduler.i18n import _

log = logging.getLogger(__name__)

HEADER = struct.Struct(">II")
MAX_RECORD_BYTES = 1024 * 1024  # a record longer than this is not one we wrote: the file ends
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Spilled:
    """One answer as it was taken from the broker, and when."""

    at: datetime
    message: IncomingMessage


class SpillFile:
    """The spill file at ``path`` (its folder is created when first written)."""

    def __init__(self, path: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.path = path
        self.pos_path = path.with_name(path.name + ".pos")
        self.max_bytes = max_bytes
        self._pos = self._read_pos()
        self._size = self._file_size()
        if self._pos > self._size:
            self._pos = 0

    # ---------------------------------------------------------------- state

    @property
    def pending(self) -> bool:
        """Records are waiting to be replayed."""
        return self._pos < self._size

    @property
    def size(self) -> int:
        """The file's size in bytes (records replayed included, until it is emptied)."""
        return self._size

    def _file_size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise StorageError(
                _("can't read the spill file {path}: {problem}").format(path=self.path, problem=exc)
            ) from exc

    def _read_pos(self) -> int:
        try:
            text = self.pos_path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return 0
        except (OSError, UnicodeDecodeError) as exc:
            log.warning(_("the spill file's position %s can't be read (%s): replaying from "
                          "its start"), self.pos_path, exc)  # fmt: skip
            return 0
        return int(text) if text.isdigit() else 0

    # ---------------------------------------------------------------- writing

    def append(self, items: list[Spilled]) -> int:
        """Append ``items`` in order, fsynced; returns how many fit (the rest did not: the file
        would have grown beyond ``max_bytes``)."""
        records = [_record(i) for i in items]
        if self._pos and self._size + sum(map(len, records)) > self.max_bytes:
            self._compact()
        fitting: list[bytes] = []
        size = self._size
        for record in records:
            if size + len(record) > self.max_bytes:
                break
            fitting.append(record)
            size += len(record)
        if not fitting:
            return 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            new = not self.path.exists()
            with open(self.path, "ab") as f:
                f.write(b"".join(fitting))
                f.flush()
                os.fsync(f.fileno())
            if new:
                _fsync_dir(self.path.parent)
        except OSError as exc:
            raise StorageError(
                _("can't write the spill file {path}: {problem}").format(
                    path=self.path, problem=exc
                )
            ) from exc
        self._size = size
        return len(fitting)

    def _compact(self) -> None:
        """Drop the records already replayed, so the ones waiting fit with new ones."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            with open(self.path, "rb") as src, open(tmp, "wb") as dst:
                src.seek(self._pos)
                while chunk := src.read(1024 * 1024):
                    dst.write(chunk)
                dst.flush()
                os.fsync(dst.fileno())
            os.replace(tmp, self.path)
            self._write_pos(0)
        except OSError as exc:
            raise StorageError(
                _("can't compact the spill file {path}: {problem}").format(
                    path=self.path, problem=exc
                )
            ) from exc
        self._size -= self._pos
        self._pos = 0

    # ---------------------------------------------------------------- replaying

    def read(self, limit: int) -> list[tuple[Spilled, int]]:
        """Up to ``limit`` records from where the replay stands, each with the position after it
        (give that to :meth:`consume` once they are stored)."""
        items: list[tuple[Spilled, int]] = []
        pos = self._pos
        if not self.pending:
            return items
        try:
            with open(self.path, "rb") as f:
                f.seek(pos)
                while len(items) < limit and pos < self._size:
                    item, length = self._next(f, pos)
                    if item is None:
                        break
                    pos += length
                    items.append((item, pos))
        except OSError as exc:
            raise StorageError(
                _("can't read the spill file {path}: {problem}").format(path=self.path, problem=exc)
            ) from exc
        return items

    def _next(self, f: Any, pos: int) -> tuple[Spilled | None, int]:
        header = f.read(HEADER.size)
        length, crc = HEADER.unpack(header) if len(header) == HEADER.size else (-1, 0)
        body = f.read(length) if 0 <= length <= MAX_RECORD_BYTES else b""
        item = _parse(body) if len(body) == length and zlib.crc32(body) == crc else None
        if item is None:
            self._cut(pos)
            return None, 0
        return item, HEADER.size + length

    def _cut(self, pos: int) -> None:
        """A damaged record (a crash while appending): the file ends before it."""
        log.warning(_("the spill file %s has a damaged record at byte %d (of %d): cut off "
                      "there"), self.path, pos, self._size)  # fmt: skip
        os.truncate(self.path, pos)
        self._size = pos

    def consume(self, pos: int) -> None:
        """The records before ``pos`` are stored: never replay them again."""
        if pos >= self._size:
            self.clear()
            return
        self._write_pos(pos)
        self._pos = pos

    def clear(self) -> None:
        try:
            self.pos_path.unlink(missing_ok=True)
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(
                _("can't remove the spill file {path}: {problem}").format(
                    path=self.path, problem=exc
                )
            ) from exc
        self._pos = self._size = 0

    def _write_pos(self, pos: int) -> None:
        tmp = self.pos_path.with_name(self.pos_path.name + ".tmp")
        try:
            with open(tmp, "w", encoding="ascii") as f:
                f.write(f"{pos}\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.pos_path)
        except OSError as exc:
            raise StorageError(
                _("can't write the spill file's position {path}: {problem}").format(
                    path=tmp, problem=exc
                )
            ) from exc


def _record(item: Spilled) -> bytes:
    m = item.message
    body = {
        "at": item.at.isoformat(),
        "topic": m.topic,
        "payload": base64.b64encode(m.payload).decode("ascii"),
        "retain": m.retain,
        "size": m.size,
        "sha256": m.sha256,
    }
    data = json.dumps(body, separators=(",", ":")).encode()
    return HEADER.pack(len(data), zlib.crc32(data)) + data


def _parse(body: bytes) -> Spilled | None:
    try:
        obj = json.loads(body)
        message = IncomingMessage(
            obj["topic"],
            base64.b64decode(obj["payload"], validate=True),
            bool(obj["retain"]),
            size=obj.get("size"),
            sha256=obj.get("sha256"),
        )
        return Spilled(datetime.fromisoformat(obj["at"]), message)
    except (ValueError, KeyError, TypeError):
        return None


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
