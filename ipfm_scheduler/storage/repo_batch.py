"""Batch methods for the service: one transaction for many airings, sends or acks.

Dispatching one airing slot to 10,000 receivers one row per transaction would spend its time
committing. These methods do the same as ``ensure_airing`` + ``add_commands``, ``record_send``
and ``record_ack`` (same rules, same idempotence, the command state only moving forwards via
core.commands), for a whole batch in one transaction, with multi-row statements.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, func, literal, select, true
from sqlalchemy.engine import Connection

from ipfm_scheduler.core.commands import CommandState, after_publish
from ipfm_scheduler.core.expand import PlannedAiring
from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.bulk import CHUNK, chunks, insert_rows_ignoring
from ipfm_scheduler.storage.records import (
    AiringOutcome,
    NewCommand,
    SendOutcome,
    airing_outcome,
)
from ipfm_scheduler.storage.repo_commands import CommandRepository
from ipfm_scheduler.storage.types import UtcDateTime, to_utc


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
    request_id: int | None = None  # a manual request this airing answers (its airing_id is set)


@dataclass(frozen=True, slots=True)
class StoredBatchAiring:
    airing_id: int
    created: bool
    commands_added: int


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
            insert_rows_ignoring(conn, t.airings, rows, ["ward", "programme", "planned_start"])
            ids = existing | _airing_ids(conn, [k for k in keys if k not in existing])
            airing_ids = [ids[k] for k in keys]
            earlier = {ids[k] for k in existing}
            added = self._insert_commands(conn, items, airing_ids, earlier, now)
            # a new airing is written `open` when it has commands; one that existed and got new
            # commands becomes `open` again (a new command is pending)
            reopened = {a for a in added if a in earlier}
            _set_outcomes(conn, dict.fromkeys(reopened, AiringOutcome.OPEN))
            _link_requests(conn, items, airing_ids)
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
        elif item.commands:
            row["outcome"] = AiringOutcome.OPEN.value
        return row

    def _insert_commands(
        self,
        conn: Connection,
        items: Sequence[AiringBatchItem],
        airing_ids: Sequence[int],
        earlier: set[int],
        now: datetime,
    ) -> dict[int, int]:
        """Insert the commands of ``items`` that their airing lacks; only airings that existed
        before (``earlier``) can have some already. Returns airing id -> commands added."""
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
        for chunk in chunks(sorted({a for a, _ in wanted if a in earlier})):
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
        insert_rows_ignoring(conn, c, rows, ["airing_id", "receiver"])
        added: dict[int, int] = defaultdict(int)
        for row in rows:
            added[row["airing_id"]] += 1
        return added

    # ---------------------------------------------------------------- sends

    def record_sends(self, results: Sequence[tuple[str, SendOutcome]], *, now: datetime) -> None:
        """``record_send`` for many attempts, in order, in one transaction.

        Set-based: per outcome, one INSERT ... SELECT of the attempt rows and one UPDATE per
        500 commands (a command listed twice is handled in a second pass, after the first).
        """
        if not results:
            return
        now = to_utc(now, "now")
        with self._write() as conn:
            for group in _passes(results):
                for outcome, ids in group.items():
                    for chunk in chunks(sorted(ids)):
                        _note_attempts(conn, chunk, SendOutcome(outcome), now)

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


def _airing_ids(
    conn: Connection, keys: Sequence[tuple[str, str, datetime]]
) -> dict[tuple[str, str, datetime], int]:
    """Ids of the airings with these (ward, programme, planned start) keys that exist."""
    if not keys:
        return {}
    a = t.airings
    wanted = set(keys)
    found: dict[tuple[str, str, datetime], int] = {}
    starts = sorted({start for _, _, start in keys})
    when = a.c.planned_start.in_(starts) if len(starts) <= CHUNK else true()
    for chunk in chunks(sorted({ward for ward, _, _ in keys})):
        for r in conn.execute(
            select(a.c.id, a.c.ward, a.c.programme, a.c.planned_start).where(
                a.c.ward.in_(chunk), when
            )
        ):
            key = (r.ward, r.programme, r.planned_start)
            if key in wanted:
                found[key] = r.id
    return found


# States a PUBACK moves, and where to (from core.commands: a PUBACK only moves a command that no
# broker had accepted yet; any later state stands).
_PUBACK_MOVES = {s.value: after_publish(s).value for s in CommandState if after_publish(s) is not s}


def _passes(results: Sequence[tuple[str, SendOutcome]]) -> list[dict[str, list[str]]]:
    """Split ``results`` into passes in which each command appears once, in order."""
    passes: list[dict[str, list[str]]] = []
    seen: dict[str, int] = defaultdict(int)
    for command_id, outcome in results:
        n = seen[command_id]
        seen[command_id] += 1
        if n == len(passes):
            passes.append(defaultdict(list))
        passes[n][SendOutcome(outcome).value].append(command_id)
    return passes


def _note_attempts(
    conn: Connection, ids: Sequence[str], outcome: SendOutcome, now: datetime
) -> None:
    """One attempt for each of ``ids`` (existing commands; others are ignored)."""
    c, sa = t.commands, t.send_attempts
    attempt = select(
        c.c.id, c.c.attempts + 1, literal(now, UtcDateTime()), literal(outcome.value)
    ).where(c.c.id.in_(ids))
    conn.execute(sa.insert().from_select(["command_id", "attempt", "at", "outcome"], attempt))
    values: dict[str, Any] = {"attempts": c.c.attempts + 1, "last_attempt_at": now}
    if outcome is SendOutcome.PUBACK:
        moved = c.c.state.in_(list(_PUBACK_MOVES))
        values |= {
            "first_sent_at": func.coalesce(c.c.first_sent_at, literal(now, UtcDateTime())),
            "last_sent_at": now,
            "state": case(
                *((c.c.state == old, new) for old, new in _PUBACK_MOVES.items()), else_=c.c.state
            ),
            "state_at": case((moved, literal(now, UtcDateTime())), else_=c.c.state_at),
        }
    conn.execute(c.update().where(c.c.id.in_(ids)).values(values))


def update_commands(conn: Connection, changes: dict[str, dict[str, Any]], **common: Any) -> None:
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


def _link_requests(
    conn: Connection, items: Sequence[AiringBatchItem], airing_ids: Sequence[int]
) -> None:
    """Note on each manual request the airing stored for it (also one it joined), in the
    transaction that stores it: a request whose service is interrupted before it is finished
    still tells which airing it became."""
    links = [
        {"b_id": item.request_id, "b_airing": airing_id}
        for item, airing_id in zip(items, airing_ids, strict=True)
        if item.request_id is not None
    ]
    if links:
        mr = t.manual_requests
        statement = mr.update().where(mr.c.id == bindparam("b_id"))
        conn.execute(statement.values(airing_id=bindparam("b_airing")), links)


def _set_outcomes(conn: Connection, outcomes: dict[int, AiringOutcome]) -> None:
    if not outcomes:
        return
    a = t.airings
    statement = a.update().where(a.c.id == bindparam("b_id")).values(outcome=bindparam("b_out"))
    conn.execute(statement, [{"b_id": k, "b_out": v.value} for k, v in outcomes.items()])


def refresh_outcomes_of(conn: Connection, airing_ids: Sequence[int]) -> None:
    """Recompute the outcome of these airings from their commands' states."""
    states: dict[int, list[CommandState]] = defaultdict(list)
    c = t.commands
    for chunk in chunks(list(airing_ids)):
        for r in conn.execute(select(c.c.airing_id, c.c.state).where(c.c.airing_id.in_(chunk))):
            states[r.airing_id].append(CommandState(r.state))
    _set_outcomes(conn, {a: airing_outcome(states[a]) for a in airing_ids})
