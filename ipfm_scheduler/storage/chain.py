"""The airing log's hash chain: each row of ``airings``, ``commands``, ``acks`` and
``week_closures`` carries its place in its table's chain (``chain_seq``: 1, 2, 3, ...) and
``chain_hash`` = sha256(the previous row's hash || the canonical encoding of (table, id, the
row's covered columns)), written in the transaction that writes the row. ``chain_heads`` holds,
per table, the last place and hash: read and moved in the same transaction (locked on
PostgreSQL with SELECT ... FOR UPDATE; SQLite's writer holds the whole database), so that two
writers can't both append after the same row.

Only what a row says once and for all is covered (:data:`COVERED`): what changes legitimately
later (a command's ``state`` and sends, an airing's ``outcome``) is derived from rows that are
themselves chained (the acks), and is left out; so are columns added later unless this list
names them. ``docs/storage.md`` "The hash chain" says what is covered and why. Checking the
chain is :mod:`ipfm_scheduler.storage.chain_check`.

Every row already chained was hashed with :data:`COVERED` as it is: naming one more column here
would make every earlier row fail to verify. Such a change needs a
new :data:`VERSION`, with the place in each chain from which it applies kept in the database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Boolean, Float, LargeBinary, Table, func, select, text
from sqlalchemy.engine import Connection

from ipfm_scheduler.errors import StorageError
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.base import insert_ignoring
from ipfm_scheduler.storage.types import UtcDateTime

GENESIS = "0" * 64  # the "previous hash" of a table's first row
VERSION = "ipfm-chain-1"  # in every encoding: a later change of the rules is a new version

#: the columns each chained table's hash covers, besides its id (in this order)
COVERED: dict[str, tuple[str, ...]] = {
    "airings": (
        "ward", "programme", "planned_start", "planned_local", "week", "expires_at", "origin",
        "priority", "volume", "audio_sha256", "snapshot_id", "makeup_for", "makeup_week",
        "note", "created_at",
    ),
    "commands": (
        "airing_id", "ward", "receiver", "topic", "payload", "expires_at", "created_at",
    ),
    "acks": (
        "command_id", "ward", "receiver", "status", "detail", "played_s", "receiver_at_text",
        "receiver_at", "received_at", "raw", "changed_state", "state_after", "verified",
    ),
    "week_closures": (
        "ward", "programme", "week", "receiver", "completed", "minimum", "verdict", "reason",
        "snapshot_id", "closed_at",
    ),
}  # fmt: skip
CHAINED = tuple(COVERED)


def _utc_text(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise StorageError(
            f"a chained time must be an aware datetime, not {value!r}"
        )  # i18n: internal (the storage's own call gives a naive time)
    return _iso(value)


@lru_cache(maxsize=4096)  # a batch's rows share their times (stored at, expiring at)
def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _digest(value: Any) -> Any:
    return None if value is None else hashlib.sha256(bytes(value)).hexdigest()


def _as(kind: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else kind(value)


def _converter(column: Any) -> Callable[[Any], Any] | None:
    """How a column's value is encoded: the same for what is written and what is read back
    (a float column given an int, bytes back as a memoryview, times in any zone); None: as it
    is (text and whole numbers, which both databases give back as they were written)."""
    kind = column.type
    if isinstance(kind, UtcDateTime):
        return _utc_text
    if isinstance(kind, LargeBinary):
        return _digest  # the bytes' sha256: the encoding stays small
    if isinstance(kind, Boolean):
        return _as(bool)
    if isinstance(kind, Float):
        return _as(float)
    return None


_CONVERT = {
    name: tuple((c, _converter(getattr(t, name).c[c])) for c in columns)
    for name, columns in COVERED.items()
}
_JSON = json.JSONEncoder(separators=(",", ":"))  # ASCII, as json.dumps(..., separators=...)
#: ``_JSON``'s own C encoder, made once (``JSONEncoder.encode`` makes one per call: a sixth of a
#: row's encoding) and without the check for circular values (a row is a flat list): the same
#: bytes (tests/storage/test_chain.py)
_MAKE_C_ENCODER = getattr(json.encoder, "c_make_encoder", None)  # None without CPython's _json
_C_ENCODER: Callable[[Any, int], Sequence[str]] | None = (
    None
    if _MAKE_C_ENCODER is None
    else _MAKE_C_ENCODER(
        None, _JSON.default, json.encoder.encode_basestring_ascii, None, ":", ",",
        False, False, True,
    )
)  # fmt: skip


def encode(table: str, row: Mapping[Any, Any]) -> bytes:
    """The canonical bytes of ``row`` of ``table``: (version, table, id, covered columns), as
    compact ASCII JSON (any text encodes, a lone surrogate included) with the columns in
    :data:`COVERED`'s order."""
    values = {
        name: convert(row[name]) if convert else row[name] for name, convert in _CONVERT[table]
    }
    body = [VERSION, table, row["id"], values]
    if _C_ENCODER is None:
        return _JSON.encode(body).encode("ascii")
    return "".join(_C_ENCODER(body, 0)).encode("ascii")


def link(previous: str, table: str, row: Mapping[Any, Any]) -> str:
    """The hash of ``row``, following the row whose hash is ``previous``."""
    return hashlib.sha256(bytes.fromhex(previous) + encode(table, row)).hexdigest()


@dataclass(slots=True)
class Head:
    """A table's chain head: the last place taken and its hash (``seq`` 0: empty)."""

    table: str
    seq: int
    hash: str

    @property
    def pin(self) -> str:
        """``table:seq:hash``, as `report` prints it and `audit verify --head` takes it."""
        return f"{self.table}:{self.seq}:{self.hash}"


def read_heads(conn: Connection) -> dict[str, Head]:
    """Every chained table's head as recorded (without locking: for readers)."""
    h = t.chain_heads
    found = {r.table_name: Head(r.table_name, r.seq, r.hash) for r in conn.execute(select(h))}
    return {name: found.get(name, Head(name, 0, GENESIS)) for name in CHAINED}


def combined(heads: Mapping[str, Head]) -> str:
    """One hash for all the tables' heads (what a printed report pins)."""
    text_ = ";".join(f"{name}:{heads[name].seq}:{heads[name].hash}" for name in CHAINED)
    return hashlib.sha256(text_.encode("ascii")).hexdigest()


class Appender:
    """Appends rows to one table's chain inside an open transaction: :meth:`open` takes the
    head (locked until the transaction ends), :meth:`add` gives each new row its id (when the
    table numbers its rows), place and hash, :meth:`close` moves the head and checks that every
    row linked was written (a row lost to an ``ON CONFLICT DO NOTHING`` would leave a gap)."""

    def __init__(self, conn: Connection, table: Table, head: Head) -> None:
        self.conn = conn
        self.table = table
        self.start = head.seq
        self.head = head

    @classmethod
    def open(cls, conn: Connection, table: Table) -> Appender:
        h = t.chain_heads
        head = select(h.c.seq, h.c.hash).where(h.c.table_name == table.name).with_for_update()
        row = conn.execute(head).one_or_none()
        if row is None:  # the head row exists before it is locked (a new database, or one
            # emptied by hand)
            seed = insert_ignoring(conn, h, ["table_name"]).values(
                table_name=table.name, seq=0, hash=GENESIS
            )
            conn.execute(seed)
            row = conn.execute(head).one()
        return cls(conn, table, Head(table.name, int(row.seq), str(row.hash)))

    def new_ids(self, count: int) -> list[int]:
        """``count`` ids for new rows of a table that numbers its rows (taken before the
        insert: the hash covers the id)."""
        if count <= 0:
            return []
        if self.conn.dialect.name == "postgresql":
            # the sequence's name looked up once (in the statement, once per row: 100,000
            # look-ups for a week's verdicts)
            sequence = self.conn.execute(
                text("SELECT pg_get_serial_sequence(:name, 'id')"), {"name": self.table.name}
            ).scalar_one()
            statement = text("SELECT nextval(CAST(:seq AS regclass)) FROM generate_series(1, :n)")
            return [
                int(i)
                for i in self.conn.execute(statement, {"seq": sequence, "n": count}).scalars()
            ]
        last = self.conn.execute(select(func.max(self.table.c.id))).scalar_one_or_none()
        first = int(last or 0) + 1
        return list(range(first, first + count))

    def add(self, rows: Sequence[dict[str, Any]]) -> None:
        """Give ``rows`` (in the order they are written) their ids if they have none, their
        places and hashes."""
        missing = [row for row in rows if row.get("id") is None]
        for row, new_id in zip(missing, self.new_ids(len(missing)), strict=True):
            row["id"] = new_id
        head = self.head
        seq, previous = head.seq, head.hash
        name = self.table.name
        absent = [c for c in COVERED[name] if rows and c not in rows[0]]
        if absent:  # the database would fill them in: the hash would cover another value
            raise StorageError(
                f"{name}: rows to chain lack the columns {', '.join(absent)}"
            )  # i18n: internal (the storage's own insert left a column out)
        for row in rows:
            seq += 1
            previous = link(previous, name, row)
            row["chain_seq"] = seq
            row["chain_hash"] = previous
        self.head = Head(name, seq, previous)

    def close(self) -> None:
        """Move the head, after checking that every row linked is in the table."""
        if self.head.seq == self.start:
            return
        table = self.table
        # bounded on both sides: with one bound PostgreSQL's generic plan of the prepared
        # statement guesses a third of the table and scans it all (20 to 40 ms a batch at
        # 100,000 commands, issue 15); with two it takes the index
        linked = table.c.chain_seq.between(self.start + 1, self.head.seq)
        written = self.conn.execute(select(func.count()).where(linked)).scalar_one()
        if written != self.head.seq - self.start:
            raise StorageError(
                f"{table.name}: {self.head.seq - self.start} rows were linked into the hash "
                f"chain but {written} written; nothing was recorded"
            )  # i18n: internal (the storage's own insert wrote fewer rows than it linked)
        h = t.chain_heads
        self.conn.execute(
            h.update()
            .where(h.c.table_name == table.name)
            .values(seq=self.head.seq, hash=self.head.hash)
        )
