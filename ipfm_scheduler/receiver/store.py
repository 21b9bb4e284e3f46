"""What a receiver remembers across restarts (docs/protocol.md "Duplicates and delivery").

* the command ids it has seen, with the sha256 of their bytes, their latest ack, and when they
  may be forgotten (``expires_at``; the core passes a time safely after the command's window);
* the command that is playing (so that after a crash it is answered ``failed``/``interrupted``
  and never played again);
* the plays accepted and not yet started (so that a restart fetches and arms them again);
* an outbox: every ack, until the broker confirmed it (PUBACK), so that it is sent again after a
  reconnect.

:class:`MemoryStore` keeps it in memory (the simulator, tests); :class:`SqliteStore` in one small
SQLite file in the receiver's state folder (stdlib ``sqlite3``, WAL, schema version in
``PRAGMA user_version``). Both are thread-safe.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

from ipfm_scheduler.core.commands import AckStatus
from ipfm_scheduler.errors import ProtocolError, StorageError, ValueInvalid
from ipfm_scheduler.i18n import _
from ipfm_scheduler.protocol import Ack, PlayCommand, command_from_object

T = TypeVar("T")
SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class SeenCommand:
    """A command id this receiver has seen: its bytes' digest and its latest ack."""

    digest: bytes
    latest: Ack | None
    expires_at: datetime  # forgotten after this


@dataclass(frozen=True, slots=True)
class NowPlaying:
    command: PlayCommand
    started: datetime


class Store(Protocol):
    """The receiver's memory; every method is one atomic change (or read)."""

    def seen(self, command_id: str) -> SeenCommand | None: ...
    def remember(self, command_id: str, digest: bytes, expires_at: datetime) -> None: ...
    def record_ack(self, ack: Ack, expires_at: datetime, *, latest: bool = True) -> None:
        """Put ``ack`` in the outbox (replacing an undelivered one of the same id and status)
        and, when ``latest`` and the id is remembered, make it the id's latest ack."""

    def pending_acks(self) -> list[tuple[str, Ack]]:
        """(command id, ack) not yet confirmed by the broker, oldest first."""

    def delivered(self, command_id: str, status: AckStatus | str) -> None: ...
    def schedule(self, command: PlayCommand) -> None: ...
    def unschedule(self, command_id: str) -> None: ...
    def scheduled(self) -> list[PlayCommand]:
        """The plays accepted and not yet started, in the order they were accepted."""

    def set_playing(self, playing: NowPlaying | None) -> None: ...
    def playing(self) -> NowPlaying | None: ...
    def forget_expired(self, now: datetime) -> int:
        """Forget the ids (and undelivered acks) whose ``expires_at`` passed; how many ids."""

    def close(self) -> None: ...


class MemoryStore:
    """The store in memory: everything is lost with the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, SeenCommand] = {}
        self._outbox: dict[tuple[str, str], tuple[Ack, datetime]] = {}
        self._scheduled: dict[str, PlayCommand] = {}
        self._playing: NowPlaying | None = None

    def seen(self, command_id: str) -> SeenCommand | None:
        with self._lock:
            return self._seen.get(command_id)

    def remember(self, command_id: str, digest: bytes, expires_at: datetime) -> None:
        with self._lock:
            self._seen[command_id] = SeenCommand(digest, None, expires_at)

    def record_ack(self, ack: Ack, expires_at: datetime, *, latest: bool = True) -> None:
        with self._lock:
            key = (ack.id, ack.status.value)
            self._outbox.pop(key, None)  # a newer one of the same kind goes to the end
            self._outbox[key] = (ack, expires_at)
            seen = self._seen.get(ack.id)
            if latest and seen is not None:
                self._seen[ack.id] = SeenCommand(seen.digest, ack, seen.expires_at)

    def pending_acks(self) -> list[tuple[str, Ack]]:
        with self._lock:
            return [(ack.id, ack) for ack, _ in self._outbox.values()]

    def delivered(self, command_id: str, status: AckStatus | str) -> None:
        with self._lock:
            self._outbox.pop((command_id, AckStatus(status).value), None)

    def schedule(self, command: PlayCommand) -> None:
        with self._lock:
            self._scheduled[command.id] = command

    def unschedule(self, command_id: str) -> None:
        with self._lock:
            self._scheduled.pop(command_id, None)

    def scheduled(self) -> list[PlayCommand]:
        with self._lock:
            return list(self._scheduled.values())

    def set_playing(self, playing: NowPlaying | None) -> None:
        with self._lock:
            self._playing = playing

    def playing(self) -> NowPlaying | None:
        with self._lock:
            return self._playing

    def forget_expired(self, now: datetime) -> int:
        with self._lock:
            gone = [cid for cid, seen in self._seen.items() if seen.expires_at < now]
            for cid in gone:
                del self._seen[cid]
            for key in [k for k, (_, until) in self._outbox.items() if until < now]:
                del self._outbox[key]
            return len(gone)

    def close(self) -> None:
        pass


_SCHEMA = """
CREATE TABLE seen (id TEXT PRIMARY KEY, digest BLOB NOT NULL, expires_at INTEGER NOT NULL,
                   latest TEXT);
CREATE INDEX seen_expires_at ON seen (expires_at);
CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL,
                     status TEXT NOT NULL, ack TEXT NOT NULL, expires_at INTEGER NOT NULL,
                     UNIQUE (id, status));
CREATE TABLE scheduled (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
                        command TEXT NOT NULL);
CREATE TABLE playing (slot INTEGER PRIMARY KEY CHECK (slot = 1), command TEXT NOT NULL,
                      started TEXT NOT NULL);
"""


class SqliteStore:
    """The store in one SQLite file (created with its folder if missing)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise self._unusable(exc) from exc
        try:
            self._open()
        except (sqlite3.Error, StorageError) as exc:
            self._db.close()
            if isinstance(exc, StorageError):
                raise
            raise self._unusable(exc) from exc

    def _unusable(self, exc: BaseException) -> StorageError:
        return StorageError(
            _(
                "{path}: the receiver's state file can't be used ({error}); move it aside to "
                "start afresh (the commands it remembers are then forgotten)"
            ).format(path=self.path, error=exc)
        )

    def _open(self) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a seen id must survive a power cut
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            with self._transaction() as db:
                db.executescript(f"BEGIN; {_SCHEMA} PRAGMA user_version = {SCHEMA_VERSION};")
        elif version != SCHEMA_VERSION:
            raise StorageError(
                _(
                    "{path}: the receiver's state file has schema version {version}, this "
                    "program knows version {known} (written by a newer ipfm-receiver?)"
                ).format(path=self.path, version=version, known=SCHEMA_VERSION)
            )

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic change (``executescript`` callers open the transaction themselves)."""
        try:
            yield self._db
            if self._db.in_transaction:
                self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                with self._transaction() as db:
                    return work(db)
            except sqlite3.Error as exc:
                raise StorageError(
                    _("{path}: the receiver's state file: {error}").format(
                        path=self.path, error=exc
                    )
                ) from exc

    def seen(self, command_id: str) -> SeenCommand | None:
        row = self._run(
            lambda db: db.execute(
                "SELECT digest, latest, expires_at FROM seen WHERE id = ?", (command_id,)
            ).fetchone()
        )
        if row is None:
            return None
        latest = _ack_from(row[1]) if row[1] is not None else None
        return SeenCommand(bytes(row[0]), latest, _from_us(row[2]))

    def remember(self, command_id: str, digest: bytes, expires_at: datetime) -> None:
        self._run(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO seen (id, digest, expires_at) VALUES (?, ?, ?)",
                (command_id, digest, _to_us(expires_at)),
            )
        )

    def record_ack(self, ack: Ack, expires_at: datetime, *, latest: bool = True) -> None:
        text = _ack_text(ack)

        def work(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM outbox WHERE id = ? AND status = ?", (ack.id, ack.status.value))
            db.execute(
                "INSERT INTO outbox (id, status, ack, expires_at) VALUES (?, ?, ?, ?)",
                (ack.id, ack.status.value, text, _to_us(expires_at)),
            )
            if latest:
                db.execute("UPDATE seen SET latest = ? WHERE id = ?", (text, ack.id))

        self._run(work)

    def pending_acks(self) -> list[tuple[str, Ack]]:
        rows = self._run(
            lambda db: db.execute("SELECT id, ack FROM outbox ORDER BY seq").fetchall()
        )
        return [(cid, _ack_from(text)) for cid, text in rows]

    def delivered(self, command_id: str, status: AckStatus | str) -> None:
        value = AckStatus(status).value
        self._run(
            lambda db: db.execute(
                "DELETE FROM outbox WHERE id = ? AND status = ?", (command_id, value)
            )
        )

    def schedule(self, command: PlayCommand) -> None:
        text = _command_text(command)
        self._run(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO scheduled (id, command) VALUES (?, ?)", (command.id, text)
            )
        )

    def unschedule(self, command_id: str) -> None:
        self._run(lambda db: db.execute("DELETE FROM scheduled WHERE id = ?", (command_id,)))

    def scheduled(self) -> list[PlayCommand]:
        rows = self._run(
            lambda db: db.execute("SELECT command FROM scheduled ORDER BY seq").fetchall()
        )
        return [_command_from(text) for (text,) in rows]

    def set_playing(self, playing: NowPlaying | None) -> None:
        def work(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM playing")
            if playing is not None:
                db.execute(
                    "INSERT INTO playing (slot, command, started) VALUES (1, ?, ?)",
                    (_command_text(playing.command), playing.started.isoformat()),
                )

        self._run(work)

    def playing(self) -> NowPlaying | None:
        row = self._run(lambda db: db.execute("SELECT command, started FROM playing").fetchone())
        if row is None:
            return None
        return NowPlaying(_command_from(row[0]), datetime.fromisoformat(row[1]))

    def forget_expired(self, now: datetime) -> int:
        def work(db: sqlite3.Connection) -> int:
            moment = _to_us(now)
            db.execute("DELETE FROM outbox WHERE expires_at < ?", (moment,))
            return db.execute("DELETE FROM seen WHERE expires_at < ?", (moment,)).rowcount

        return self._run(work)

    def close(self) -> None:
        with self._lock:
            self._db.close()


# ---- values as text (lossless: times with their fraction and offset) ---------------------------


def _ack_text(ack: Ack) -> str:
    return json.dumps(
        {"id": ack.id, "status": ack.status.value, "at": ack.at.isoformat(),
         "detail": ack.detail, "played_s": ack.played_s},
        ensure_ascii=False,
    )  # fmt: skip


def _ack_from(text: str) -> Ack:
    obj = _decode(text)
    return Ack(
        obj["id"], AckStatus(obj["status"]), datetime.fromisoformat(obj["at"]),
        obj["detail"], obj["played_s"],
    )  # fmt: skip


def _command_text(command: PlayCommand) -> str:
    obj = command.to_json()
    for name in ("start_at", "expires_at", "issued_at"):
        obj[name] = getattr(command, name).isoformat()
    return json.dumps(obj, ensure_ascii=False)


def _command_from(text: str) -> PlayCommand:
    try:
        command = command_from_object(_decode(text))
    except (ProtocolError, ValueInvalid) as exc:
        raise StorageError(
            _("a stored play can't be read back: {error}").format(error=exc)
        ) from exc
    if not isinstance(command, PlayCommand):
        raise StorageError(_("a stored play is not a play command"))
    return command


def _decode(text: str) -> dict[str, Any]:
    obj = json.loads(text)
    if not isinstance(obj, dict):
        raise StorageError(
            _("a stored value is not an object: {text}").format(text=repr(text[:80]))
        )
    return obj


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _to_us(moment: datetime) -> int:
    """Microseconds since 1970 (exact, unlike a float timestamp)."""
    return (moment - _EPOCH) // _MICROSECOND


def _from_us(microseconds: int) -> datetime:
    return _EPOCH + microseconds * _MICROSECOND
