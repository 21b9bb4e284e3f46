"""Batch methods for the service: one transaction for many airings, sends or acks.

Dispatching one airing slot to 10,000 receivers one row per transaction would spend its time
committing. These methods do the same as ``ensure_airing`` + ``add_commands``, ``record_send``
and ``record_ack`` (same rules, same idempotence, the command state only moving forwards via
core.commands), for a whole batch in one transaction, with multi-row statements.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Connection

from ipfm_scheduler.core.commands import AckStatus, CommandState, after_ack, after_publish
from ipfm_scheduler.core.expand import PlannedAiring
from ipfm_scheduler.core.ids import COMMAND_ID_RE
from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.base import insert_ignore_many
from ipfm_scheduler.storage.records import (
    AckKind,
    AckOutcome,
    AiringOutcome,
    NewCommand,
    ParsedAck,
    SendOutcome,
    airing_outcome,
)
from ipfm_scheduler.storage.repo_commands import MAX_RAW_BYTES, CommandRepository, _mismatch
from ipfm_scheduler.storage.types import safe_text, to_utc

CHUNK = 500  # ids per IN (...) list


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for first in range(0, len(items), size):
        yield items[first : first + size]


@dataclass(frozen=True, slots=True)
class AiringBatchItem:
    """One airing to record with its commands (see :meth:`BatchRepository.store_airings`)."""

    planned: PlannedAiring
    priority: Priority
    audio_sha256: str
    commands: tuple[NewCommand, ...] = ()
    missed: bool = False  # its window closed before anything was sent
    makeup_for: int | None = None
    makeup_week: IsoWeek | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class StoredBatchAiring:
    airing_id: int
    created: bool
    commands_added: int


@dataclass(frozen=True, slots=True)
class AckBatchItem:
    """An ack as it arrived (ward and receiver from its topic) and what the parser made of it."""

    ward: str
    receiver: str
    topic: str
    raw: bytes
    parsed: ParsedAck | str  # the parsed ack, or why it could not be read


@dataclass(frozen=True, slots=True)
class CommandDetail:
    id: str
    receiver: str
    state: CommandState
    detail: str | None


@dataclass(frozen=True, slots=True)
class AiringWithCommands:
    id: int
    ward: str
    programme: str
    start: datetime
    expires_at: datetime
    origin: str
    priority: str
    outcome: str
    makeup_for: int | None
    commands: tuple[CommandDetail, ...]


class BatchRepository(CommandRepository):
    # ---------------------------------------------------------------- airings and commands

    def store_airings(
        self, items: Sequence[AiringBatchItem], *, snapshot_id: int, now: datetime
    ) -> list[StoredBatchAiring]:
        """Record airings and their commands in one transaction.

        Idempotent like ``ensure_airing`` (on ward, programme, planned start) and
        ``add_commands`` (on airing, receiver): a receiver that already has a command keeps it.
        An item marked ``missed`` is recorded, if new, with outcome ``missed`` and no commands.
        Returns, per item: the airing id, whether it was created, how many commands were added.
        """
        now = to_utc(now, "now")
        rows = [self._batch_row(item, snapshot_id, now) for item in items]
        with self._write() as conn:
            keys = [(r["ward"], r["programme"], r["planned_start"]) for r in rows]
            existing = _airing_ids(conn, keys)
            insert_ignore_many(conn, t.airings, rows, ["ward", "programme", "planned_start"])
            ids = existing | _airing_ids(conn, [k for k in keys if k not in existing])
            airing_ids = [ids[k] for k in keys]
            added = self._insert_commands(conn, items, airing_ids, now)
        return [
            StoredBatchAiring(airing_id, key not in existing, added.get(airing_id, 0))
            for key, airing_id in zip(keys, airing_ids, strict=True)
        ]

    def _batch_row(self, item: AiringBatchItem, snapshot_id: int, now: datetime) -> dict[str, Any]:
        row = self._airing_row(item.planned, item.priority, item.audio_sha256, snapshot_id, now)
        row |= {"makeup_for": item.makeup_for, "note": item.note}
        row["makeup_week"] = None if item.makeup_week is None else str(item.makeup_week)
        if item.missed:
            row["outcome"] = AiringOutcome.MISSED.value
        return row

    def _insert_commands(
        self,
        conn: Connection,
        items: Sequence[AiringBatchItem],
        airing_ids: Sequence[int],
        now: datetime,
    ) -> dict[int, int]:
        wanted = {
            (airing_id, c.receiver): (item, c)
            for item, airing_id in zip(items, airing_ids, strict=True)
            if not item.missed
            for c in item.commands
        }
        if not wanted:
            return {}
        c = t.commands
        have: set[tuple[int, str]] = set()
        for chunk in chunks(sorted({a for a, _ in wanted})):
            have |= {
                (r.airing_id, r.receiver)
                for r in conn.execute(
                    select(c.c.airing_id, c.c.receiver).where(c.c.airing_id.in_(chunk))
                )
            }
        rows: list[dict[str, Any]] = [
            {
                "id": command.id,
                "airing_id": airing_id,
                "ward": item.planned.ward,
                "receiver": receiver,
                "topic": command.topic,
                "payload": command.payload,
                "state": CommandState.PENDING.value,
                "expires_at": to_utc(item.planned.expires),
                "created_at": now,
                "attempts": 0,
                "state_at": now,
            }
            for (airing_id, receiver), (item, command) in wanted.items()
            if (airing_id, receiver) not in have
        ]
        insert_ignore_many(conn, c, rows, ["airing_id", "receiver"])
        added: dict[int, int] = defaultdict(int)
        for row in rows:
            added[row["airing_id"]] += 1
        _set_outcomes(conn, dict.fromkeys(added, AiringOutcome.OPEN))  # a new command is pending
        return added

    # ---------------------------------------------------------------- sends

    def record_sends(self, results: Sequence[tuple[str, SendOutcome]], *, now: datetime) -> None:
        """``record_send`` for many attempts, in order, in one transaction."""
        if not results:
            return
        now = to_utc(now, "now")
        c = t.commands
        with self._write() as conn:
            current = {r.id: r for r in _rows_by_id(conn, c, [cid for cid, _ in results])}
            attempts: list[dict[str, Any]] = []
            changes: dict[str, dict[str, Any]] = {}
            for command_id, outcome in results:
                row = current.get(command_id)
                if row is None:
                    continue  # a command unknown here is not ours to note
                change = changes.setdefault(
                    command_id,
                    {
                        "attempts": row.attempts,
                        "state": row.state,
                        "first_sent_at": row.first_sent_at,
                        "last_sent_at": row.last_sent_at,
                        "state_at": row.state_at,
                    },
                )
                change["attempts"] += 1
                attempts.append(
                    {
                        "command_id": command_id,
                        "attempt": change["attempts"],
                        "at": now,
                        "outcome": SendOutcome(outcome).value,
                    }
                )
                if SendOutcome(outcome) is SendOutcome.PUBACK:
                    change["first_sent_at"] = change["first_sent_at"] or now
                    change["last_sent_at"] = now
                    new = after_publish(CommandState(change["state"]))
                    if new.value != change["state"]:
                        change["state"], change["state_at"] = new.value, now
            if attempts:
                conn.execute(t.send_attempts.insert(), attempts)
            _update_commands(conn, changes, last_attempt_at=now)

    # ---------------------------------------------------------------- acks

    def record_acks(self, items: Sequence[AckBatchItem], *, now: datetime) -> list[AckOutcome]:
        """``record_ack`` for many acks, in the order they arrived, in one transaction."""
        if not items:
            return []
        now = to_utc(now, "now")
        ids = [i.parsed.id for i in items if isinstance(i.parsed, ParsedAck)]
        ids = [cid for cid in ids if COMMAND_ID_RE.fullmatch(cid)]
        with self._write() as conn:
            rows = {r.id: r for r in _rows_by_id(conn, t.commands, ids)}
            filer = _AckFiler(rows, now)
            outcomes = [filer.file(item) for item in items]
            if filer.acks:
                conn.execute(t.acks.insert(), filer.acks)
            if filer.quarantined:
                conn.execute(t.ack_quarantine.insert(), filer.quarantined)
            _update_commands(conn, filer.changes)
            airings = {rows[cid].airing_id for cid in filer.changes}
            _refresh_outcomes(conn, sorted(airings))
        return outcomes

    def quarantine(
        self, topic: str, ward: str, receiver: str, raw: bytes, reason: str, *, now: datetime
    ) -> None:
        """Keep a message from a receiver that can't be filed (a topic that is not one of ours,
        an unreadable status), with the reason: never dropped."""
        filer = _AckFiler({}, to_utc(now, "now"))
        filer.quarantine(AckBatchItem(ward, receiver, topic, raw, reason), reason)
        with self._write() as conn:
            conn.execute(t.ack_quarantine.insert(), filer.quarantined)

    # ---------------------------------------------------------------- reads

    def commands_by_id(self, ids: Sequence[str]) -> list[tuple[str, str, str]]:
        """(id, ward, receiver) of the given commands."""
        c = t.commands
        with self._read() as conn:
            found: list[tuple[str, str, str]] = []
            for chunk in chunks(list(ids)):
                found += [
                    (r.id, r.ward, r.receiver)
                    for r in conn.execute(
                        select(c.c.id, c.c.ward, c.c.receiver).where(c.c.id.in_(chunk))
                    )
                ]
        return found

    def airings_with_commands(
        self, start: datetime, end: datetime, wards: Iterable[str] | None = None
    ) -> list[AiringWithCommands]:
        """Airings planned in [start, end) (of ``wards``, or all), each with its commands."""
        a, c = t.airings, t.commands
        query = select(a).where(
            a.c.planned_start >= to_utc(start, "start"), a.c.planned_start < to_utc(end, "end")
        )
        with self._read() as conn:
            if wards is None:
                rows = list(conn.execute(query.order_by(a.c.planned_start, a.c.id)))
            else:
                rows = []
                for chunk in chunks(sorted(set(wards))):
                    rows += list(conn.execute(query.where(a.c.ward.in_(chunk))))
            commands: dict[int, list[CommandDetail]] = defaultdict(list)
            for chunk in chunks([r.id for r in rows]):
                for r in conn.execute(
                    select(c.c.airing_id, c.c.id, c.c.receiver, c.c.state, c.c.detail).where(
                        c.c.airing_id.in_(chunk)
                    )
                ):
                    commands[r.airing_id].append(
                        CommandDetail(r.id, r.receiver, CommandState(r.state), r.detail)
                    )
        return [
            AiringWithCommands(
                r.id,
                r.ward,
                r.programme,
                r.planned_start,
                r.expires_at,
                r.origin,
                r.priority,
                r.outcome,
                r.makeup_for,
                tuple(commands[r.id]),
            )
            for r in rows
        ]

    def offline_receivers(self) -> dict[tuple[str, str], datetime]:
        """(ward, receiver) -> since when, for receivers whose last status says offline."""
        rs = t.receiver_status
        with self._read() as conn:
            rows = conn.execute(select(rs.c.ward, rs.c.receiver, rs.c.since).where(~rs.c.online))
            return {(r.ward, r.receiver): r.since for r in rows}

    def last_closed_week(self) -> IsoWeek | None:
        with self._read() as conn:
            week = conn.execute(select(func.max(t.week_closures.c.week))).scalar_one_or_none()
        return None if week is None else IsoWeek.parse(week)

    def earliest_airing(self) -> datetime | None:
        with self._read() as conn:
            found: datetime | None = conn.execute(
                select(func.min(t.airings.c.planned_start))
            ).scalar_one_or_none()
        return found


class _AckFiler:
    """Files acks in order against the commands read once: the rows to insert and the changes."""

    def __init__(self, rows: dict[str, Any], now: datetime) -> None:
        self.rows = rows
        self.now = now
        self.state = {cid: CommandState(r.state) for cid, r in rows.items()}
        self.acks: list[dict[str, Any]] = []
        self.quarantined: list[dict[str, Any]] = []
        self.changes: dict[str, dict[str, Any]] = {}

    def file(self, item: AckBatchItem) -> AckOutcome:
        if not isinstance(item.parsed, ParsedAck):
            return self.quarantine(item, f"not a valid ack: {item.parsed}")
        ack = item.parsed
        row = self.rows.get(ack.id)
        reason = _mismatch(ack.id, row, item.ward, item.receiver)
        if reason or row is None:
            return self.quarantine(item, reason, ack.id)
        current = self.state[ack.id]
        new = after_ack(current, AckStatus(ack.status))
        changed = new is not current
        at = None if ack.at is None else to_utc(ack.at, "the ack's time")
        self.acks.append(
            {
                "command_id": ack.id,
                "ward": item.ward,
                "receiver": item.receiver,
                "status": AckStatus(ack.status).value,
                "detail": safe_text(ack.detail),
                "played_s": ack.played_s,
                "receiver_at_text": safe_text(ack.at_text) or "",
                "receiver_at": at,
                "received_at": self.now,
                "raw": item.raw[:MAX_RAW_BYTES],
                "changed_state": changed,
                "state_after": new.value,
            }
        )
        if not changed:
            return AckOutcome(AckKind.DUPLICATE, ack.id, new)
        self.state[ack.id] = new
        self.changes[ack.id] = {
            "state": new.value,
            "state_at": self.now,
            "detail": safe_text(ack.detail),
            "played_s": ack.played_s,
            "receiver_at": at,
        }
        return AckOutcome(AckKind.STORED, ack.id, new)

    def quarantine(
        self, item: AckBatchItem, reason: str, command_id: str | None = None
    ) -> AckOutcome:
        size = len(item.raw)
        if size > MAX_RAW_BYTES:
            reason += f" (payload of {size} bytes, first {MAX_RAW_BYTES} kept)"
        self.quarantined.append(
            {
                "topic": safe_text(item.topic),
                "ward": safe_text(item.ward) or None,
                "receiver": safe_text(item.receiver) or None,
                "command_id": safe_text(command_id),
                "raw": item.raw[:MAX_RAW_BYTES],
                "raw_bytes": size,
                "reason": safe_text(reason),
                "received_at": self.now,
            }
        )
        return AckOutcome(AckKind.QUARANTINED, command_id, None, reason)


def _airing_ids(
    conn: Connection, keys: Sequence[tuple[str, str, datetime]]
) -> dict[tuple[str, str, datetime], int]:
    """Ids of the airings with these (ward, programme, planned start) keys that exist."""
    if not keys:
        return {}
    a = t.airings
    wanted = set(keys)
    found: dict[tuple[str, str, datetime], int] = {}
    for chunk in chunks(sorted({start for _, _, start in keys})):
        for r in conn.execute(
            select(a.c.id, a.c.ward, a.c.programme, a.c.planned_start).where(
                a.c.planned_start.in_(chunk)
            )
        ):
            key = (r.ward, r.programme, r.planned_start)
            if key in wanted:
                found[key] = r.id
    return found


def _rows_by_id(conn: Connection, table: Any, ids: Sequence[str]) -> list[Any]:
    rows: list[Any] = []
    unique = sorted(set(ids))
    for chunk in chunks(unique):
        rows += list(conn.execute(select(table).where(table.c.id.in_(chunk))))
    return rows


def _update_commands(conn: Connection, changes: dict[str, dict[str, Any]], **common: Any) -> None:
    """One executemany UPDATE per set of changed columns."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for command_id, values in changes.items():
        merged = values | common
        params = {f"v_{name}": value for name, value in merged.items()}
        groups[tuple(sorted(merged))].append({"b_id": command_id, **params})
    c = t.commands
    for columns, rows in groups.items():
        statement = (
            c.update()
            .where(c.c.id == bindparam("b_id"))
            .values({name: bindparam(f"v_{name}") for name in columns})
        )
        conn.execute(statement, rows)


def _set_outcomes(conn: Connection, outcomes: dict[int, AiringOutcome]) -> None:
    if not outcomes:
        return
    a = t.airings
    statement = a.update().where(a.c.id == bindparam("b_id")).values(outcome=bindparam("b_out"))
    conn.execute(statement, [{"b_id": k, "b_out": v.value} for k, v in outcomes.items()])


def _refresh_outcomes(conn: Connection, airing_ids: Sequence[int]) -> None:
    """Recompute the outcome of these airings from their commands' states."""
    states: dict[int, list[CommandState]] = defaultdict(list)
    c = t.commands
    for chunk in chunks(list(airing_ids)):
        for r in conn.execute(select(c.c.airing_id, c.c.state).where(c.c.airing_id.in_(chunk))):
            states[r.airing_id].append(CommandState(r.state))
    _set_outcomes(conn, {a: airing_outcome(states[a]) for a in airing_ids})
