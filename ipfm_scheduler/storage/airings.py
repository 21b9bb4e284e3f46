"""Airings and the play commands that carry them to each receiver: storing them in batches
(idempotent), and reading them back with their commands' states.

Functions over one open transaction (``Repository`` runs them). Dispatching one airing slot to
10,000 receivers one row per transaction would spend its time committing: a whole batch is one
transaction, with multi-row statements.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, select, true
from sqlalchemy.engine import Connection, Row

from ipfm_scheduler.core.commands import CommandState
from ipfm_scheduler.core.model import Origin, Priority
from ipfm_scheduler.core.records import AiringOutcome, AiringRecord, CommandRecord, airing_outcome
from ipfm_scheduler.core.traffic import AiringToStore, StoredAiring
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.errors import StorageError, ValueInvalid
from ipfm_scheduler.i18n import _
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.base import insert_ignoring
from ipfm_scheduler.storage.bulk import CHUNK, chunks, insert_rows_ignoring
from ipfm_scheduler.storage.chain import Appender
from ipfm_scheduler.storage.types import to_utc

SHA256_LEN = 64

# ---------------------------------------------------------------- writes


def store_airings(
    conn: Connection,
    items: Sequence[AiringToStore],
    *,
    snapshot_id: int,
    zone: ZoneInfo,
    now: datetime,
) -> list[StoredAiring]:
    """Record airings and their commands (state ``pending``).

    Idempotent on (ward, programme, planned start) for an airing and on (airing, receiver) for
    a command: a restart that plans the same airing again gets the existing id, and a receiver
    that already has a command keeps it (its id and bytes never change). An item marked
    ``missed`` is recorded, if new, with outcome ``missed`` and no commands. A make-up notes the
    week it makes up for. Returns, per item: the airing id, whether it was created, how many
    commands were added.
    """
    now = to_utc(now, "now")
    rows = [_airing_row(item, snapshot_id, zone, now) for item in items]
    # the chains' heads first: a writer that stores the same airings waits here, and then
    # finds them stored (always airings before commands, so two writers never deadlock)
    airing_chain = Appender.open(conn, t.airings)
    command_chain = Appender.open(conn, t.commands)
    keys = [(r["ward"], r["programme"], r["planned_start"]) for r in rows]
    existing = _airing_ids(conn, keys)
    new = _first_of_each(rows, keys, existing)
    inserted: set[int] = set()
    if new:  # RETURNING tells which this transaction created
        airing_chain.add(new)
        statement = insert_ignoring(conn, t.airings, ["ward", "programme", "planned_start"])
        inserted = set(conn.execute(statement.returning(t.airings.c.id), new).scalars())
    airing_chain.close()
    ids = existing | _airing_ids(conn, [k for k in keys if k not in existing])
    airing_ids = [ids[k] for k in keys]
    earlier = {a for a in airing_ids if a not in inserted}
    added = _insert_commands(conn, items, airing_ids, earlier, now, chain=command_chain)
    # a new airing is written `open` when it has commands; one that existed and got new
    # commands becomes `open` again (a new command is pending)
    reopened = {a for a in added if a in earlier}
    set_outcomes(conn, dict.fromkeys(reopened, AiringOutcome.OPEN))
    _link_requests(conn, items, airing_ids)
    return [StoredAiring(a, a in inserted, added.get(a, 0)) for a in airing_ids]


def _first_of_each(
    rows: Sequence[dict[str, Any]], keys: Sequence[tuple[str, str, datetime]], existing: Any
) -> list[dict[str, Any]]:
    """The rows to insert: those whose key is not stored yet, the first of each key."""
    new: dict[tuple[str, str, datetime], dict[str, Any]] = {}
    for row, key in zip(rows, keys, strict=True):
        if key not in existing:
            new.setdefault(key, row)
    return list(new.values())


def _airing_row(
    item: AiringToStore, snapshot_id: int, zone: ZoneInfo, now: datetime
) -> dict[str, Any]:
    planned = item.planned
    sha = item.audio_sha256
    if len(sha) != SHA256_LEN or sha.strip("0123456789abcdef"):
        raise ValueInvalid(
            f"audio sha256 {sha!r} is not 64 lowercase hex digits"
        )  # i18n: internal (the catalogue checked it)
    local = planned.start.astimezone(zone)
    makeup = Origin(planned.origin) is Origin.MAKEUP
    if item.missed:
        outcome = AiringOutcome.MISSED
    else:
        outcome = AiringOutcome.OPEN if item.commands else AiringOutcome.PLANNED
    return {
        "id": None,
        "ward": planned.ward,
        "programme": planned.programme,
        "planned_start": to_utc(planned.start),
        "planned_local": local.isoformat(timespec="seconds"),
        "week": str(IsoWeek.of(local.date())),
        "expires_at": to_utc(planned.expires),
        "origin": Origin(planned.origin).value,
        "priority": Priority(item.priority).value,
        "volume": planned.volume,
        "audio_sha256": sha,
        "snapshot_id": snapshot_id,
        "outcome": outcome.value,
        "created_at": now,
        "makeup_for": item.makeup_for,
        "makeup_week": str(IsoWeek.containing(planned.start, planned.zone)) if makeup else None,
        "note": item.note,
    }


def _insert_commands(
    conn: Connection,
    items: Sequence[AiringToStore],
    airing_ids: Sequence[int],
    earlier: set[int],
    now: datetime,
    *,
    chain: Appender,
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
    for chunk in chunks(sorted({a for a, _receiver in wanted if a in earlier})):
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
    chain.add(rows)
    insert_rows_ignoring(conn, c, rows, ["airing_id", "receiver"])
    chain.close()
    added: dict[int, int] = defaultdict(int)
    for row in rows:
        added[row["airing_id"]] += 1
    return added


def _airing_ids(
    conn: Connection, keys: Sequence[tuple[str, str, datetime]]
) -> dict[tuple[str, str, datetime], int]:
    """Ids of the airings with these (ward, programme, planned start) keys that exist."""
    if not keys:
        return {}
    a = t.airings
    wanted = set(keys)
    found: dict[tuple[str, str, datetime], int] = {}
    starts = sorted({key[2] for key in keys})
    when = a.c.planned_start.in_(starts) if len(starts) <= CHUNK else true()
    for chunk in chunks(sorted({key[0] for key in keys})):
        for r in conn.execute(
            select(a.c.id, a.c.ward, a.c.programme, a.c.planned_start).where(
                a.c.ward.in_(chunk), when
            )
        ):
            key = (r.ward, r.programme, r.planned_start)
            if key in wanted:
                found[key] = r.id
    return found


def _link_requests(
    conn: Connection, items: Sequence[AiringToStore], airing_ids: Sequence[int]
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


def set_outcomes(conn: Connection, outcomes: dict[int, AiringOutcome]) -> None:
    if not outcomes:
        return
    a = t.airings
    statement = a.update().where(a.c.id == bindparam("b_id")).values(outcome=bindparam("b_out"))
    conn.execute(statement, [{"b_id": k, "b_out": v.value} for k, v in outcomes.items()])


def refresh_outcomes(conn: Connection, airing_ids: Sequence[int]) -> None:
    """Recompute the outcome of these airings from their commands' states."""
    states: dict[int, list[CommandState]] = defaultdict(list)
    c = t.commands
    for chunk in chunks(list(airing_ids)):
        for r in conn.execute(select(c.c.airing_id, c.c.state).where(c.c.airing_id.in_(chunk))):
            states[r.airing_id].append(CommandState(r.state))
    set_outcomes(conn, {a: airing_outcome(states[a]) for a in airing_ids})


# ---------------------------------------------------------------- reads


def airing(conn: Connection, airing_id: int) -> AiringRecord:
    row = conn.execute(select(t.airings).where(t.airings.c.id == airing_id)).one_or_none()
    if row is None:
        raise StorageError(_("no airing {id} in the database").format(id=airing_id))
    return _records(conn, [row])[0]


def airings_between(
    conn: Connection, start: datetime, end: datetime, wards: Iterable[str] | None = None
) -> list[AiringRecord]:
    """Airings planned in [start, end) (of ``wards``, or all), each with its commands."""
    a = t.airings
    query = select(a).where(
        a.c.planned_start >= to_utc(start, "start"), a.c.planned_start < to_utc(end, "end")
    )
    if wards is None:
        rows = list(conn.execute(query.order_by(a.c.planned_start, a.c.id)))
    else:
        rows = []
        for chunk in chunks(sorted(set(wards))):
            rows += list(conn.execute(query.where(a.c.ward.in_(chunk))))
    return _records(conn, rows)


def week_airings(
    conn: Connection, ward: str, programme: str, start: datetime, end: datetime
) -> list[AiringRecord]:
    """Airings of ``programme`` in ``ward`` planned in [start, end), oldest first, each with
    its commands' states: what the make-up rule needs to tell "short" from "pending"."""
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


def next_airings(conn: Connection, now: datetime, *, limit: int) -> list[AiringRecord]:
    """Airings that have not expired yet, soonest first (for `status`)."""
    rows = conn.execute(
        select(t.airings)
        .where(t.airings.c.expires_at > to_utc(now, "now"))
        .order_by(t.airings.c.planned_start, t.airings.c.id)
        .limit(limit)
    ).all()
    return _records(conn, rows)


def completed_counts(
    conn: Connection, ward: str, programme: str, start: datetime, end: datetime
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
    return {receiver: int(n) for receiver, n in conn.execute(query).all()}


def earliest_airing(conn: Connection) -> datetime | None:
    found: datetime | None = conn.execute(
        select(func.min(t.airings.c.planned_start))
    ).scalar_one_or_none()
    return found


#: a command's state by its stored text: a dict look-up, not ``CommandState(value)`` (~7 us a row)
STATE_OF = {state.value: state for state in CommandState}


def _records(conn: Connection, rows: Sequence[Row[Any]]) -> list[AiringRecord]:
    commands: dict[int, dict[str, CommandRecord]] = defaultdict(dict)
    for airing_id, command_id, receiver, state, detail in _command_tuples(conn, rows):
        commands[airing_id][receiver] = CommandRecord(command_id, receiver, STATE_OF[state], detail)
    return [airing_record(r, commands[r.id]) for r in rows]


def airing_record(r: Row[Any], commands: dict[str, CommandRecord]) -> AiringRecord:
    """An ``airings`` row with its commands (by receiver) as the readers give it."""
    return AiringRecord(
        id=r.id,
        ward=r.ward,
        programme=r.programme,
        start=r.planned_start,
        expires=r.expires_at,
        origin=Origin(r.origin),
        priority=Priority(r.priority),
        commands=dict(sorted(commands.items())),
        outcome=AiringOutcome(r.outcome),
        makeup_for=r.makeup_for,
        local=r.planned_local,
    )


def _command_tuples(conn: Connection, rows: Sequence[Row[Any]]) -> Iterator[Sequence[Any]]:
    """(airing id, id, receiver, state, detail) of the commands of the airings ``rows``.

    A week at 100,000 receivers is 700,000 of them: each chunk is fetched at once from the
    driver's cursor (``fetchall``), as the driver gives the values, not row by row through
    SQLAlchemy's result. That is exact for these columns: whole numbers and text, which no
    type of theirs converts on either database (checked: :func:`_plain`)."""
    c = t.commands
    columns = (c.c.airing_id, c.c.id, c.c.receiver, c.c.state, c.c.detail)
    plain = _plain(conn, columns)
    for chunk in chunks([r.id for r in rows]):
        result = conn.execute(select(*columns).where(c.c.airing_id.in_(chunk)))
        if plain:
            fetched = result.cursor.fetchall()
            result.close()
        else:  # pragma: no cover - a column type that converts (not in this schema)
            fetched = result.all()
        yield from fetched


def _plain(conn: Connection, columns: Sequence[Any]) -> bool:
    """Whether no column of ``columns`` converts what the driver gives (no result processor)."""
    dialect = conn.dialect
    return all(
        col.type.dialect_impl(dialect).result_processor(dialect, None) is None for col in columns
    )
