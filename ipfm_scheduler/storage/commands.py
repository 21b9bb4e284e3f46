"""Sending commands: which to (re)publish, the attempts, and expiry (the command state never
moves back: core.commands, written here as SQL). Functions over one open transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Connection, Row

from ipfm_scheduler.core.commands import CommandState, after_deadline, after_publish
from ipfm_scheduler.core.ids import COMMAND_ID_RE
from ipfm_scheduler.core.traffic import (
    STALLED_FACTOR,
    CommandRef,
    OutgoingCommand,
    SendOutcome,
    SendResult,
)
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.airings import refresh_outcomes
from ipfm_scheduler.storage.bulk import chunks
from ipfm_scheduler.storage.raw import bind_value, ids_per_statement, mark, marks
from ipfm_scheduler.storage.types import to_utc

OPEN_STATES = [s.value for s in CommandState if s.open]
MAX_RAW_BYTES = 64 * 1024  # a hostile receiver can't fill the database through one message


def commands_to_send(
    conn: Connection,
    now: datetime,
    *,
    resend_after: timedelta,
    due_by: datetime | None,
    limit: int,
) -> list[OutgoingCommand]:
    """Commands to publish now, oldest airing first: never accepted by the broker
    (``pending``), or accepted but unanswered (``sent``) with no attempt for ``resend_after``;
    never one that has expired, nor (with ``due_by``) one whose airing starts after ``due_by``
    (a make-up planned for tonight waits until its dispatch time). Also commands a receiver
    acknowledged (``received``/``playing``) whose window has closed with still no final
    answer, and no attempt for ``STALLED_FACTOR`` x ``resend_after``: sent again, the receiver
    repeats its latest ack (receiver-protocol.md), so a lost final ack is recovered instead of
    the airing counting as failed. The bytes are those first recorded."""
    now = to_utc(now, "now")
    c, a = t.commands, t.airings
    waiting = or_(
        c.c.state == CommandState.PENDING.value,
        and_(
            c.c.state == CommandState.SENT.value,
            or_(c.c.last_attempt_at.is_(None), c.c.last_attempt_at <= now - resend_after),
        ),
    )
    stalled = and_(
        c.c.state.in_([CommandState.RECEIVED.value, CommandState.PLAYING.value]),
        c.c.expires_at <= now,
        c.c.last_attempt_at <= now - resend_after * STALLED_FACTOR,
    )
    query = (
        select(c, a.c.planned_start)
        .join(a, a.c.id == c.c.airing_id)
        .where(or_(and_(waiting, c.c.expires_at > now), stalled))
        .order_by(a.c.planned_start, c.c.created_at, c.c.id)
        .limit(limit)
    )
    if due_by is not None:
        query = query.where(a.c.planned_start <= to_utc(due_by, "due_by"))
    return [
        OutgoingCommand(
            id=r.id,
            ward=r.ward,
            receiver=r.receiver,
            topic=r.topic,
            payload=bytes(r.payload),
            expires_at=r.expires_at,
            resend=r.state != CommandState.PENDING.value,
            airing_id=r.airing_id,
            state=CommandState(r.state),
            attempts=r.attempts,
            start=r.planned_start,
        )
        for r in conn.execute(query).all()
    ]


def record_sends(conn: Connection, results: Sequence[SendResult], now: datetime) -> None:
    """Note attempts to publish commands, in order; a PUBACK moves ``pending`` to ``sent``.

    Set-based: per outcome, one INSERT ... SELECT of the attempt rows and one UPDATE per 500
    commands on SQLite, one statement per 10,000 on PostgreSQL (a command listed twice is
    handled in a second pass, after the first).
    """
    now = to_utc(now, "now")
    for group in _passes(results):
        for outcome, ids in group.items():
            for chunk in chunks(sorted(ids), ids_per_statement(conn)):
                _note_attempts(conn, chunk, SendOutcome(outcome), now)


def published(
    rows: Mapping[str, Any], state: dict[str, CommandState], ids: Sequence[str], now: datetime
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """The PUBACKs of commands ``ids`` as ``record_sends`` records them, for a caller that
    writes them with its own change of the rows (``answers.record_acks``): what each sets on
    its command's row, and its attempt row. ``rows``: each command's ``attempts`` and
    ``unsent`` (no PUBACK recorded yet); ``state``: each one's state, moved here."""
    sets: dict[str, dict[str, Any]] = {}
    attempts: list[dict[str, Any]] = []
    for cid in ids:
        attempt = rows[cid].attempts + 1
        sets[cid] = {"attempts": attempt, "last_attempt_at": now, "last_sent_at": now}
        if rows[cid].unsent:
            sets[cid]["first_sent_at"] = now
        outcome = SendOutcome.PUBACK.value
        attempts.append({"command_id": cid, "attempt": attempt, "at": now, "outcome": outcome})
        moved = after_publish(state[cid])
        if moved is not state[cid]:
            state[cid] = moved
            sets[cid] |= {"state": moved.value, "state_at": now}
    return sets, attempts


def expire_overdue(conn: Connection, now: datetime, *, grace: timedelta) -> list[CommandRef]:
    """Open commands whose airing can no longer be playing (expires_at + the programme's
    length + ``grace`` has passed) become ``expired``; returns them, by id."""
    now = to_utc(now, "now")
    c, a, p = t.commands, t.airings, t.snapshot_programmes
    query = (
        select(c.c.id, c.c.ward, c.c.receiver, c.c.state, c.c.airing_id, c.c.expires_at)
        .add_columns(p.c.duration_s)
        .join(a, a.c.id == c.c.airing_id)
        .outerjoin(p, and_(p.c.snapshot_id == a.c.snapshot_id, p.c.programme == a.c.programme))
        .where(c.c.state.in_(OPEN_STATES), c.c.expires_at <= now - grace)
        .with_for_update(of=c)
    )
    expired: list[CommandRef] = []
    airings: set[int] = set()
    for row in conn.execute(query).all():
        length = timedelta(seconds=row.duration_s or 0)
        if row.expires_at + length + grace > now:
            continue
        new = after_deadline(CommandState(row.state))
        conn.execute(c.update().where(c.c.id == row.id).values(state=new.value, state_at=now))
        expired.append(CommandRef(row.id, row.ward, row.receiver))
        airings.add(row.airing_id)
    refresh_outcomes(conn, sorted(airings))
    return sorted(expired, key=lambda ref: ref.id)


def open_commands(conn: Connection) -> dict[CommandState, int]:
    """How many commands wait in each open state (for `status`)."""
    rows = conn.execute(
        select(t.commands.c.state, func.count())
        .where(t.commands.c.state.in_(OPEN_STATES))
        .group_by(t.commands.c.state)
    ).all()
    return {CommandState(state): int(n) for state, n in rows}


def mismatch(command_id: str, row: Row[Any] | None, ward: str, receiver: str) -> str:
    """Why an ack naming ``command_id``, heard from ``ward``/``receiver``, can't be filed
    against the command ``row`` ("" if it can)."""
    if COMMAND_ID_RE.fullmatch(command_id) is None:
        return f"{command_id!r} is not a valid command id"
    if row is None:
        return f"unknown command id {command_id!r}"
    if (row.ward, row.receiver) != (ward, receiver):
        return (
            f"command {command_id} was sent to {row.ward}/{row.receiver}, not to {ward}/{receiver}"
        )
    return ""


# States a PUBACK moves, and where to (from core.commands: a PUBACK only moves a command that no
# broker had accepted yet; any later state stands).
_PUBACK_MOVES = {s.value: after_publish(s).value for s in CommandState if after_publish(s) is not s}


def _passes(results: Sequence[SendResult]) -> list[dict[str, list[str]]]:
    """Split ``results`` into passes in which each command appears once, in order."""
    passes: list[dict[str, list[str]]] = []
    seen: dict[str, int] = defaultdict(int)
    for result in results:
        n = seen[result.command_id]
        seen[result.command_id] += 1
        if n == len(passes):
            passes.append(defaultdict(list))
        passes[n][SendOutcome(result.outcome).value].append(result.command_id)
    return passes


def _note_attempts(
    conn: Connection, ids: Sequence[str], outcome: SendOutcome, now: datetime
) -> None:
    """One attempt for each of ``ids`` (existing commands; others are ignored): statements for
    the driver (storage/raw.py), the time processed as ``UtcDateTime`` stores it.

    SQLite: the attempt rows (INSERT ... SELECT), then the commands' update. PostgreSQL: one
    statement, the update first and the attempt rows from what it returns. There each command's
    row is found once, not twice, and the attempt's foreign key finds the row already locked by
    the update, where the insert first locked it (a write to the row) for the update to write it
    again (issue 15: PostgreSQL waited on these statements for 14 % of a 100,000 slot; in
    process, 0.74 to 0.77 s per 10,000 PUBACKs before, 0.66 to 0.72 after).
    """
    at = bind_value(conn, t.commands, "last_attempt_at", now)
    listed: tuple[Any, ...]
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        among, listed = f"IN ({marks(conn, len(ids))})", tuple(ids)
    else:
        among, listed = "= ANY(%b)", (list(ids),)
    p = mark(conn)
    attempt = "INSERT INTO send_attempts (command_id, attempt, at, outcome) "
    sets, values = f"attempts = attempts + 1, last_attempt_at = {p}", [at]
    if outcome is SendOutcome.PUBACK:
        moves = " ".join(f"WHEN state = {p} THEN {p}" for _ in _PUBACK_MOVES)
        sets += (
            f", first_sent_at = coalesce(first_sent_at, {p}), last_sent_at = {p}, "
            f"state = CASE {moves} ELSE state END, "
            f"state_at = CASE WHEN state IN ({marks(conn, len(_PUBACK_MOVES))}) THEN {p} "
            "ELSE state_at END"
        )
        values += [at, at, *(v for move in _PUBACK_MOVES.items() for v in move)]
        values += [*_PUBACK_MOVES, at]
    update = f"UPDATE commands SET {sets} WHERE id {among}"
    if sqlite:
        conn.exec_driver_sql(
            attempt + f"SELECT id, attempts + 1, {p}, {p} FROM commands WHERE id {among}",
            (at, outcome.value, *listed),
        )
        conn.exec_driver_sql(update, (*values, *listed))
        return
    conn.exec_driver_sql(
        f"WITH moved AS ({update} RETURNING id, attempts) "
        + attempt
        + f"SELECT id, attempts, {p}, {p} FROM moved",
        (*values, *listed, at, outcome.value),
    )
