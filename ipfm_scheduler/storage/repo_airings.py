"""Airings and the play commands that carry them to each receiver."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection, Row

from ipfm_scheduler.core.commands import CommandState
from ipfm_scheduler.core.expand import PlannedAiring
from ipfm_scheduler.core.model import Origin, Priority
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.errors import StorageError, ValueInvalid
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.base import insert_ignore, insert_ignore_many
from ipfm_scheduler.storage.records import (
    AiringOutcome,
    AiringRecord,
    NewCommand,
    airing_outcome,
)
from ipfm_scheduler.storage.repo_config import ConfigRepository
from ipfm_scheduler.storage.types import to_utc

SHA256_LEN = 64


class AiringRepository(ConfigRepository):
    def ensure_airing(
        self,
        planned: PlannedAiring,
        *,
        priority: Priority,
        audio_sha256: str,
        snapshot_id: int,
        now: datetime,
        makeup_for: int | None = None,
        makeup_week: IsoWeek | None = None,
        note: str | None = None,
    ) -> tuple[int, bool]:
        """Record ``planned`` once: returns its id, and whether this call created it.

        Idempotent on (ward, programme, planned start): a restart that plans the same airing
        again gets the existing id and ``False``; nothing is changed.
        """
        row = self._airing_row(planned, priority, audio_sha256, snapshot_id, now)
        row |= {"makeup_for": makeup_for, "note": note}
        row["makeup_week"] = None if makeup_week is None else str(makeup_week)
        with self._write() as conn:
            created = insert_ignore(conn, t.airings, row, ["ward", "programme", "planned_start"])
            airing_id = conn.execute(
                select(t.airings.c.id).where(
                    t.airings.c.ward == planned.ward,
                    t.airings.c.programme == planned.programme,
                    t.airings.c.planned_start == row["planned_start"],
                )
            ).scalar_one()
        return int(airing_id), created

    def _airing_row(
        self,
        planned: PlannedAiring,
        priority: Priority,
        audio_sha256: str,
        snapshot_id: int,
        now: datetime,
    ) -> dict[str, Any]:
        if len(audio_sha256) != SHA256_LEN or audio_sha256.strip("0123456789abcdef"):
            raise ValueInvalid(f"audio sha256 {audio_sha256!r} is not 64 lowercase hex digits")
        local = planned.start.astimezone(self.snapshot_timezone(snapshot_id))
        return {
            "ward": planned.ward,
            "programme": planned.programme,
            "planned_start": to_utc(planned.start),
            "planned_local": local.isoformat(timespec="seconds"),
            "week": str(IsoWeek.of(local.date())),
            "expires_at": to_utc(planned.expires),
            "origin": Origin(planned.origin).value,
            "priority": Priority(priority).value,
            "volume": planned.volume,
            "audio_sha256": audio_sha256,
            "snapshot_id": snapshot_id,
            "outcome": AiringOutcome.PLANNED.value,
            "created_at": to_utc(now, "now"),
        }

    def add_commands(
        self, airing_id: int, commands: Iterable[NewCommand], *, now: datetime
    ) -> list[str]:
        """Record a play command per receiver of an airing (state ``pending``).

        Idempotent on (airing, receiver): a receiver that already has a command keeps it (its id
        and bytes never change). Returns the ids of the commands that are now recorded for the
        receivers given, old or new.
        """
        now = to_utc(now, "now")
        wanted = list(commands)
        with self._write() as conn:
            airing = _airing_row(conn, airing_id)
            rows = [
                {
                    "id": c.id,
                    "airing_id": airing_id,
                    "ward": airing.ward,
                    "receiver": c.receiver,
                    "topic": c.topic,
                    "payload": c.payload,
                    "state": CommandState.PENDING.value,
                    "expires_at": airing.expires_at,
                    "created_at": now,
                    "attempts": 0,
                    "state_at": now,
                }
                for c in wanted
            ]
            insert_ignore_many(conn, t.commands, rows, ["airing_id", "receiver"])
            refresh_outcome(conn, airing_id)
            found = conn.execute(
                select(t.commands.c.receiver, t.commands.c.id).where(
                    t.commands.c.airing_id == airing_id
                )
            ).all()
        by_receiver = {r.receiver: r.id for r in found}
        return [by_receiver[c.receiver] for c in wanted]

    def airing(self, airing_id: int) -> AiringRecord:
        with self._read() as conn:
            records = _records(conn, [_airing_row(conn, airing_id)])
        return records[0]

    def week_airings(
        self, ward: str, programme: str, start: datetime, end: datetime
    ) -> list[AiringRecord]:
        """Airings of ``programme`` in ``ward`` planned in [start, end), oldest first, each with
        its commands' states: what the make-up rule needs to tell "short" from "pending"."""
        with self._read() as conn:
            rows = conn.execute(
                select(t.airings)
                .where(
                    t.airings.c.ward == ward,
                    t.airings.c.programme == programme,
                    t.airings.c.planned_start >= to_utc(start, "start"),
                    t.airings.c.planned_start < to_utc(end, "end"),
                )
                .order_by(t.airings.c.planned_start)
            ).all()
            return _records(conn, rows)

    def completed_counts(
        self, ward: str, programme: str, start: datetime, end: datetime
    ) -> dict[str, int]:
        """Receiver id -> distinct airings in [start, end) it confirmed ``completed``."""
        a, c = t.airings, t.commands
        query = (
            select(c.c.receiver, func.count(func.distinct(c.c.airing_id)))
            .join(a, a.c.id == c.c.airing_id)
            .where(
                a.c.ward == ward,
                a.c.programme == programme,
                a.c.planned_start >= to_utc(start, "start"),
                a.c.planned_start < to_utc(end, "end"),
                c.c.state == CommandState.COMPLETED.value,
            )
            .group_by(c.c.receiver)
        )
        with self._read() as conn:
            return {receiver: int(n) for receiver, n in conn.execute(query).all()}

    def next_airings(self, now: datetime, *, limit: int = 20) -> list[AiringRecord]:
        """Airings that have not expired yet, soonest first (for `status`)."""
        with self._read() as conn:
            rows = conn.execute(
                select(t.airings)
                .where(t.airings.c.expires_at > to_utc(now, "now"))
                .order_by(t.airings.c.planned_start, t.airings.c.id)
                .limit(limit)
            ).all()
            return _records(conn, rows)


def _airing_row(conn: Connection, airing_id: int) -> Row[Any]:
    row = conn.execute(select(t.airings).where(t.airings.c.id == airing_id)).one_or_none()
    if row is None:
        raise StorageError(f"no airing {airing_id} in the database")
    return row


def _records(conn: Connection, rows: Sequence[Row[Any]]) -> list[AiringRecord]:
    states: dict[int, dict[str, CommandState]] = defaultdict(dict)
    ids = [r.id for r in rows]
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        for airing_id, receiver, state in conn.execute(
            select(t.commands.c.airing_id, t.commands.c.receiver, t.commands.c.state).where(
                t.commands.c.airing_id.in_(chunk)
            )
        ).all():
            states[airing_id][receiver] = CommandState(state)
    return [
        AiringRecord(
            id=r.id,
            ward=r.ward,
            programme=r.programme,
            start=r.planned_start,
            local=r.planned_local,
            expires_at=r.expires_at,
            origin=Origin(r.origin),
            priority=Priority(r.priority),
            outcome=AiringOutcome(r.outcome),
            commands=dict(sorted(states[r.id].items())),
        )
        for r in rows
    ]


def refresh_outcome(conn: Connection, airing_id: int) -> AiringOutcome:
    """Recompute an airing's outcome from its commands' states, and store it."""
    states = conn.execute(
        select(t.commands.c.state).where(t.commands.c.airing_id == airing_id)
    ).scalars()
    outcome = airing_outcome(CommandState(s) for s in states)
    conn.execute(
        t.airings.update()
        .where(and_(t.airings.c.id == airing_id, t.airings.c.outcome != outcome.value))
        .values(outcome=outcome.value)
    )
    return outcome
