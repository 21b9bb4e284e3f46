"""Checking the airing log's hash chain (`ipfm-scheduler audit verify`): every chained table
is read in chain order, each row's hash recomputed from the previous one and its covered
columns (:mod:`ipfm_scheduler.storage.chain`), and the end compared with the recorded head.
The first break of each table is named: the row, and what was done to it as far as can be
told (changed, deleted, inserted). Only reads.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.engine import Connection, RowMapping

from ipfm_scheduler.i18n import NP_, _, ngettext, pgettext
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.chain import CHAINED, COVERED, GENESIS, Head, link, read_heads

PAGE = 500  # rows read at a time (an ack keeps up to 64 KiB)


class BreakKind(StrEnum):
    CHANGED = "changed"  # a covered column no longer matches the row's hash
    DELETED = "deleted"  # a place in the chain has no row any more
    INSERTED = "inserted"  # a row the airing log did not write
    CHANGED_OR_INSERTED = "changed or inserted"  # the row's hash fits neither neighbour
    REWRITTEN = "rewritten"  # the rows chain together but not to the recorded head
    PIN = "not as pinned"  # the chain differs from a head printed earlier (--head)

    @property
    def words(self) -> str:
        """The kind as people read it, in the language spoken (the value stays English)."""
        return pgettext(_KIND_CONTEXT, _KIND_WORDS[self])


_KIND_CONTEXT = "chain break"
_KIND_WORDS = {
    BreakKind.CHANGED: NP_("chain break", "changed"),
    BreakKind.DELETED: NP_("chain break", "deleted"),
    BreakKind.INSERTED: NP_("chain break", "inserted"),
    BreakKind.CHANGED_OR_INSERTED: NP_("chain break", "changed or inserted"),
    BreakKind.REWRITTEN: NP_("chain break", "rewritten"),
    BreakKind.PIN: NP_("chain break", "not as pinned"),
}


@dataclass(frozen=True, slots=True)
class Break:
    table: str
    row_id: str | None  # the row named (None: no row to name, e.g. deleted at the end)
    kind: BreakKind
    why: str  # a sentence for people, in the language spoken when the check ran

    @property
    def what(self) -> str:
        """The break without its table: ``row 12: changed: ...``."""
        if self.row_id is None:
            return _("{kind}: {why}").format(kind=self.kind.words, why=self.why)
        return _("row {row}: {kind}: {why}").format(
            row=self.row_id, kind=self.kind.words, why=self.why
        )

    def __str__(self) -> str:
        return (
            f"{self.table} {self.what}" if self.row_id is not None else f"{self.table}: {self.what}"
        )


@dataclass(frozen=True, slots=True)
class Pin:
    """A head printed earlier (by `report`): place ``seq`` of ``table`` had hash ``hash``."""

    table: str
    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.table}:{self.seq}:{self.hash}"


@dataclass(frozen=True, slots=True)
class TableCheck:
    table: str
    rows: int  # rows in the chain (places taken)
    head: str  # the hash of its last place, as recomputed
    broken: Break | None


def check_chain(conn: Connection, pins: Sequence[Pin] = ()) -> list[TableCheck]:
    """Every chained table checked, in :data:`CHAINED` order, in one snapshot of the database
    (rows the service appends meanwhile are not seen: on PostgreSQL the transaction is
    REPEATABLE READ; an SQLite reader's transaction already is one snapshot)."""
    if conn.dialect.name == "postgresql" and not conn.in_transaction():
        conn.execution_options(isolation_level="REPEATABLE READ")
    heads = read_heads(conn)
    return [_check(conn, getattr(t, name), heads[name], pins) for name in CHAINED]


def _rows(conn: Connection, table: Table) -> Iterator[RowMapping]:
    """The chained rows of ``table`` in chain order, a page at a time."""
    columns = [table.c.id, table.c.chain_seq, table.c.chain_hash]
    columns += [table.c[name] for name in COVERED[table.name]]
    after = 0
    while True:
        query = select(*columns).where(table.c.chain_seq > after)
        page = conn.execute(query.order_by(table.c.chain_seq).limit(PAGE)).mappings().all()
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1]["chain_seq"]


def _check(conn: Connection, table: Table, head: Head, pins: Sequence[Pin]) -> TableCheck:
    name = table.name
    wanted = {p.seq: p for p in pins if p.table == name}
    rows = _rows(conn, table)
    seq, previous, last_id = 0, GENESIS, None
    for row in rows:
        if row["chain_seq"] != seq + 1:
            return TableCheck(name, seq, previous, _gap(name, seq, row, last_id))
        computed = _link(previous, name, row)
        if computed is None or computed != row["chain_hash"]:
            return TableCheck(name, seq, previous, _mismatch(name, row, previous, head, rows))
        seq, previous, last_id = seq + 1, computed, row["id"]
        pin = wanted.pop(seq, None)
        if pin is not None and pin.hash != computed:
            why = _(
                "place {seq} of the chain (this row) was {pinned} when pinned, and is "
                "{computed} now: this row or one before it was changed, deleted or inserted, "
                "and the chain written again"
            ).format(seq=seq, pinned=pin.hash, computed=computed)
            return TableCheck(name, seq, previous, Break(name, str(row["id"]), BreakKind.PIN, why))
    broken = _against_head(name, seq, previous, head, last_id)
    if broken is not None and broken.kind is BreakKind.INSERTED:  # name the first one
        first = select(table.c.id).where(table.c.chain_seq == head.seq + 1)
        broken = Break(name, str(conn.execute(first).scalar_one()), broken.kind, broken.why)
    broken = broken or _unchained(conn, table)
    if broken is None and wanted:
        pin = min(wanted.values(), key=lambda p: p.seq)
        why = ngettext(
            "the chain has {seq} row, but a head pinned place {place}: rows were deleted",
            "the chain has {seq} rows, but a head pinned place {place}: rows were deleted",
            seq,
        ).format(seq=seq, place=pin.seq)
        broken = Break(name, None, BreakKind.PIN, why)
    return TableCheck(name, seq, previous, broken)


def _link(previous: Any, name: str, row: RowMapping) -> str | None:
    """The hash ``row`` should have; None when a value changed by hand can't even be encoded
    (text where bytes were, a hash that is not hex): it matches nothing."""
    try:
        return link(previous, name, row)
    except (TypeError, ValueError, AttributeError):
        return None


def _gap(name: str, seq: int, row: RowMapping, last_id: Any) -> Break:
    if row["chain_seq"] == seq + 2:
        missing = _("place {place}").format(place=seq + 1)
    else:
        missing = _("places {first} to {last}").format(first=seq + 1, last=row["chain_seq"] - 1)
    if last_id is not None:
        why = _("the chain's {missing} (after row {after} and before row {row}) has no row")
    else:
        why = _("the chain's {missing} (at the start and before row {row}) has no row")
    why = why.format(missing=missing, after=last_id, row=row["id"])
    return Break(name, str(row["id"]), BreakKind.DELETED, why)


def _mismatch(
    name: str, row: RowMapping, previous: str, head: Head, rows: Iterator[RowMapping]
) -> Break:
    """Why ``row``'s hash does not follow: the next row (or the recorded head) tells whether
    the stored hash is the one the log wrote (then the row's content changed) or not."""
    row_id, stored = str(row["id"]), row["chain_hash"]
    following = next(rows, None)
    if following is not None and following["chain_seq"] == row["chain_seq"] + 1:
        if _link(stored, name, following) == following["chain_hash"]:
            why = _("its content no longer gives the hash the next row is chained to")
            return Break(name, row_id, BreakKind.CHANGED, why)
    elif following is None:
        if head.seq == row["chain_seq"] and head.hash == stored:
            why = _("its content no longer gives the hash recorded as the chain's head")
            return Break(name, row_id, BreakKind.CHANGED, why)
        if head.seq == row["chain_seq"] - 1 and head.hash == previous:
            why = _("it comes after the last row the airing log wrote (place {place})").format(
                place=head.seq
            )
            return Break(name, row_id, BreakKind.INSERTED, why)
    why = _("its hash follows neither from the row before it nor into the row after it")
    return Break(name, row_id, BreakKind.CHANGED_OR_INSERTED, why)


def _against_head(name: str, seq: int, computed: str, head: Head, last_id: Any) -> Break | None:
    """The chain's end against the head recorded with the last write."""
    if seq == head.seq and computed == head.hash:
        return None
    if seq < head.seq:
        if last_id is not None:
            why = ngettext(
                "the log wrote {rows} row, and the chain ends at place {seq} after row {row}",
                "the log wrote {rows} rows, and the chain ends at place {seq} after row {row}",
                head.seq,
            ).format(rows=head.seq, seq=seq, row=last_id)
        else:
            why = ngettext(
                "the log wrote {rows} row, and the chain ends at place {seq}",
                "the log wrote {rows} rows, and the chain ends at place {seq}",
                head.seq,
            ).format(rows=head.seq, seq=seq)
        return Break(name, None, BreakKind.DELETED, why)
    if seq > head.seq:
        why = _("the log's recorded head is place {place}, but the chain goes on to {seq}").format(
            place=head.seq, seq=seq
        )
        return Break(name, None, BreakKind.INSERTED, why)
    why = _("every row follows from the one before, but not to the recorded head")
    return Break(name, None, BreakKind.REWRITTEN, why)


def _unchained(conn: Connection, table: Table) -> Break | None:
    """A row with no place in the chain was not written by the airing log."""
    c = table.c
    query = select(c.id).where((c.chain_seq.is_(None)) | (c.chain_hash.is_(None)))
    found = conn.execute(query.order_by(c.id).limit(1)).scalar_one_or_none()
    if found is None:
        return None
    why = _("it has no place in the hash chain: the airing log did not write it")
    return Break(table.name, str(found), BreakKind.INSERTED, why)
