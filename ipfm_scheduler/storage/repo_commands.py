"""Sending commands and filing the receivers' answers (the command state never moves back)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Connection, Row

from ipfm_scheduler.core.commands import (
    CommandState,
    after_deadline,
    after_publish,
)
from ipfm_scheduler.core.ids import COMMAND_ID_RE
from ipfm_scheduler.errors import StorageError
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.records import (
    CommandToSend,
    SendOutcome,
)
from ipfm_scheduler.storage.repo_airings import AiringRepository, refresh_outcome
from ipfm_scheduler.storage.types import to_utc

OPEN_STATES = [s.value for s in CommandState if s.open]
MAX_RAW_BYTES = 64 * 1024  # a hostile receiver can't fill the database through one message


class CommandRepository(AiringRepository):
    def commands_to_send(
        self,
        now: datetime,
        *,
        resend_after: timedelta,
        limit: int = 100,
        due_by: datetime | None = None,
        stalled_after: timedelta | None = None,
    ) -> list[CommandToSend]:
        """Commands to publish now, oldest airing first: never accepted by the broker
        (``pending``), or accepted but unanswered (``sent``) with no attempt for
        ``resend_after``; never one that has expired, nor (with ``due_by``) one whose airing
        starts after ``due_by`` (a make-up planned for tonight waits until its dispatch time).
        With ``stalled_after``, also commands a receiver acknowledged (``received``/``playing``)
        whose window has closed with still no final answer, and no attempt for that long: sent
        again, the receiver repeats its latest ack (docs/protocol.md), so a lost final ack
        is recovered instead of the airing counting as failed. The bytes are those first
        recorded."""
        now = to_utc(now, "now")
        c, a = t.commands, t.airings
        waiting = or_(
            c.c.state == CommandState.PENDING.value,
            and_(
                c.c.state == CommandState.SENT.value,
                or_(c.c.last_attempt_at.is_(None), c.c.last_attempt_at <= now - resend_after),
            ),
        )
        due = and_(waiting, c.c.expires_at > now)
        if stalled_after is not None:
            stalled = and_(
                c.c.state.in_([CommandState.RECEIVED.value, CommandState.PLAYING.value]),
                c.c.expires_at <= now,
                c.c.last_attempt_at <= now - stalled_after,
            )
            due = or_(due, stalled)
        query = (
            select(c, a.c.planned_start)
            .join(a, a.c.id == c.c.airing_id)
            .where(due)
            .order_by(a.c.planned_start, c.c.created_at, c.c.id)
            .limit(limit)
        )
        if due_by is not None:
            query = query.where(a.c.planned_start <= to_utc(due_by, "due_by"))
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [
            CommandToSend(
                id=r.id,
                airing_id=r.airing_id,
                ward=r.ward,
                receiver=r.receiver,
                topic=r.topic,
                payload=bytes(r.payload),
                state=CommandState(r.state),
                attempts=r.attempts,
                start=r.planned_start,
                expires_at=r.expires_at,
            )
            for r in rows
        ]

    def record_send(
        self, command_id: str, *, now: datetime, outcome: SendOutcome | str
    ) -> CommandState:
        """Note an attempt to publish a command; a PUBACK moves ``pending`` to ``sent``.

        Returns the command's state afterwards.
        """
        now = to_utc(now, "now")
        outcome = SendOutcome(outcome)
        with self._write() as conn:
            row = _command_for_update(conn, command_id)
            if row is None:
                raise StorageError(f"no command {command_id} in the database")
            attempt = row.attempts + 1
            conn.execute(
                t.send_attempts.insert().values(
                    command_id=command_id, attempt=attempt, at=now, outcome=outcome.value
                )
            )
            changes: dict[str, Any] = {"attempts": attempt, "last_attempt_at": now}
            state = CommandState(row.state)
            if outcome is SendOutcome.PUBACK:
                changes |= {"last_sent_at": now, "first_sent_at": row.first_sent_at or now}
                new = after_publish(state)
                if new is not state:
                    changes |= {"state": new.value, "state_at": now}
                    state = new
            conn.execute(t.commands.update().where(t.commands.c.id == command_id).values(changes))
            return state

    def expire_overdue(self, now: datetime, *, grace: timedelta) -> list[str]:
        """Open commands whose airing can no longer be playing (expires_at + the programme's
        length + ``grace`` has passed) become ``expired``; returns their ids."""
        now = to_utc(now, "now")
        c, a, p = t.commands, t.airings, t.snapshot_programmes
        query = (
            select(c.c.id, c.c.state, c.c.airing_id, c.c.expires_at, p.c.duration_s)
            .join(a, a.c.id == c.c.airing_id)
            .outerjoin(p, and_(p.c.snapshot_id == a.c.snapshot_id, p.c.programme == a.c.programme))
            .where(c.c.state.in_(OPEN_STATES), c.c.expires_at <= now - grace)
            .with_for_update(of=c)
        )
        expired: list[str] = []
        with self._write() as conn:
            airings: set[int] = set()
            for row in conn.execute(query).all():
                length = timedelta(seconds=row.duration_s or 0)
                if row.expires_at + length + grace > now:
                    continue
                new = after_deadline(CommandState(row.state))
                conn.execute(
                    c.update().where(c.c.id == row.id).values(state=new.value, state_at=now)
                )
                expired.append(row.id)
                airings.add(row.airing_id)
            for airing_id in sorted(airings):
                refresh_outcome(conn, airing_id)
        return sorted(expired)

    def open_commands(self) -> dict[CommandState, int]:
        """How many commands wait in each open state (for `status`)."""
        with self._read() as conn:
            rows = conn.execute(
                select(t.commands.c.state, func.count())
                .where(t.commands.c.state.in_(OPEN_STATES))
                .group_by(t.commands.c.state)
            ).all()
        return {CommandState(state): int(n) for state, n in rows}


def _command_for_update(conn: Connection, command_id: str) -> Row[Any] | None:
    return conn.execute(
        select(t.commands).where(t.commands.c.id == command_id).with_for_update()
    ).one_or_none()


def _mismatch(command_id: str, row: Row[Any] | None, ward: str, receiver: str) -> str:
    if COMMAND_ID_RE.fullmatch(command_id) is None:
        return f"{command_id!r} is not a valid command id"
    if row is None:
        return f"unknown command id {command_id!r}"
    if (row.ward, row.receiver) != (ward, receiver):
        return (
            f"command {command_id} was sent to {row.ward}/{row.receiver}, not to {ward}/{receiver}"
        )
    return ""
