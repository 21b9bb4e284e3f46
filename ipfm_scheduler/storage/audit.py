"""What the auditors' commands share: the station's zone, the configuration in force, the
airing log query (`ipfm-scheduler log`). The weekly report is in :mod:`report`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, or_, select, union
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from ipfm_scheduler.errors import StorageError
from ipfm_scheduler.i18n import N_, _, date_text
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.configs import zone_named
from ipfm_scheduler.storage.db import describe, open_engine, require_current
from ipfm_scheduler.storage.types import to_utc

#: what :func:`open_for_audit` yields, named for the command line (which imports no SQLAlchemy)
AuditConnection = Connection


def station_zone(conn: Connection) -> tzinfo:
    """The time zone of the newest configuration recorded (UTC if none is)."""
    name = conn.execute(
        select(t.config_snapshots.c.timezone)
        .join(t.config_loads, t.config_loads.c.snapshot_id == t.config_snapshots.c.id)
        .order_by(t.config_loads.c.loaded_at.desc(), t.config_loads.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return UTC if name is None else zone_named(name)


def zone_name(zone: tzinfo) -> str:
    return zone.key if isinstance(zone, ZoneInfo) else "UTC"


@dataclass(frozen=True, slots=True)
class LogRow:
    """One airing and one receiver's command for it (``receiver`` None: no command yet)."""

    airing_id: int
    planned_local: str
    planned_start: datetime
    week: str
    ward: str
    programme: str
    origin: str
    priority: str
    airing_outcome: str
    receiver: str | None
    command_id: str | None
    state: str | None
    attempts: int
    first_sent_at: datetime | None
    state_at: datetime | None
    receiver_at: datetime | None
    detail: str | None
    played_s: float | None
    note: str | None
    #: whether the answer that set ``state`` was signed by the receiver (None: no answer, or
    #: recorded before protocol version 2)
    answer_verified: bool | None = None


@dataclass(frozen=True, slots=True)
class LogFilter:
    ward: str | None = None
    receiver: str | None = None
    programme: str | None = None
    start: datetime | None = None  # planned start at or after (aware)
    end: datetime | None = None  # planned start before (aware)

    def describe(self, zone: tzinfo) -> str:
        """The filter in words, in the language spoken: ``ward cam-trung, from 2025-11-24
        00:00`` (``từ 24/11/2025 00:00`` in Vietnamese)."""
        parts = [_(template).format(id=value) for template, value in self._ids() if value]
        for template, moment in (
            (N_("from {moment}"), self.start),
            (N_("before {moment}"), self.end),
        ):
            if moment is not None:
                local = moment.astimezone(zone)
                parts.append(_(template).format(moment=f"{date_text(local)} {local:%H:%M}"))
        return ", ".join(parts) or _("none at all")

    def _ids(self) -> list[tuple[str, str | None]]:
        return [
            (N_("ward {id}"), self.ward),
            (N_("receiver {id}"), self.receiver),
            (N_("programme {id}"), self.programme),
        ]


def airing_log(conn: Connection, wanted: LogFilter) -> list[LogRow]:
    """Every airing matching ``wanted`` with each receiver's outcome, oldest first."""
    a, c = t.airings, t.commands
    query = select(a, c.c.receiver, c.c.id.label("command_id"), c.c.state, c.c.attempts)
    query = query.add_columns(
        c.c.first_sent_at,
        c.c.state_at,
        c.c.receiver_at,
        c.c.detail,
        c.c.played_s,
        c.c.answer_verified,
    ).outerjoin(c, c.c.airing_id == a.c.id)
    if wanted.ward:
        query = query.where(a.c.ward == wanted.ward)
    if wanted.programme:
        query = query.where(a.c.programme == wanted.programme)
    if wanted.receiver:
        # an airing with no command (missed, or not sent yet) concerns every receiver of its ward
        query = query.where(or_(c.c.receiver == wanted.receiver, c.c.id.is_(None)))
    if wanted.start is not None:
        query = query.where(a.c.planned_start >= to_utc(wanted.start, "start"))
    if wanted.end is not None:
        query = query.where(a.c.planned_start < to_utc(wanted.end, "end"))
    query = query.order_by(a.c.planned_start, a.c.ward, a.c.programme, a.c.id, c.c.receiver)
    return [
        LogRow(
            airing_id=r.id,
            planned_local=r.planned_local,
            planned_start=r.planned_start,
            week=r.week,
            ward=r.ward,
            programme=r.programme,
            origin=r.origin,
            priority=r.priority,
            airing_outcome=r.outcome,
            receiver=r.receiver,
            command_id=r.command_id,
            state=r.state,
            attempts=r.attempts or 0,
            first_sent_at=r.first_sent_at,
            state_at=r.state_at,
            receiver_at=r.receiver_at,
            detail=r.detail,
            played_s=r.played_s,
            note=r.note,
            answer_verified=r.answer_verified,
        )
        for r in conn.execute(query).all()
    ]


KNOWN_SHOWN = 10  # known ids named when an id given is not known


def unknown_id(conn: Connection, kind: str, value: str, *, ward: str | None = None) -> str | None:
    """Why ``value`` (a ``ward``, ``programme`` or ``receiver`` id) is unknown to the database, or
    None when a configuration snapshot, an airing or a command names it. A receiver is looked
    for in ``ward`` when one is given."""
    sources = _id_sources(kind, ward)
    for source in sources:  # the small snapshot tables first: usually the answer is there
        column = source.selected_columns[0]
        if conn.execute(source.where(column == value).limit(1)).first() is not None:
            return None
    known = sorted({str(v) for v in conn.execute(union(*sources)).scalars().all()})
    listed = (", ".join(known[:KNOWN_SHOWN]) or _("none")) + (
        ", …" if len(known) > KNOWN_SHOWN else ""
    )
    if ward and kind == "receiver":
        return _(
            "receiver {id} of ward {ward} is not known to this database (known receivers of "
            "ward {ward}: {listed}); check the spelling"
        ).format(id=value, ward=ward, listed=listed)
    return _(_UNKNOWN[kind]).format(id=value, listed=listed)


_UNKNOWN = {
    "ward": N_(
        "ward {id} is not known to this database (known wards: {listed}); check the spelling"
    ),
    "programme": N_(
        "programme {id} is not known to this database (known programmes: {listed}); check the "
        "spelling"
    ),
    "receiver": N_(
        "receiver {id} is not known to this database (known receivers: {listed}); check the "
        "spelling"
    ),
}


def _id_sources(kind: str, ward: str | None) -> list[Select[Any]]:
    """Queries of every ``kind`` id that the configuration snapshots, airings and commands name
    (receivers: of ``ward`` if given)."""
    a, c = t.airings, t.commands
    sw, sp, sr = t.snapshot_wards, t.snapshot_programmes, t.snapshot_receivers
    if kind == "ward":
        return [select(sw.c.ward), select(sr.c.ward), select(a.c.ward)]
    if kind == "programme":
        return [select(sp.c.programme), select(a.c.programme)]
    if kind != "receiver":
        raise ValueError(_("unknown kind of id {kind}").format(kind=repr(kind)))
    from_snapshots, from_commands = select(sr.c.receiver), select(c.c.receiver)
    if ward:
        from_snapshots = from_snapshots.where(sr.c.ward == ward)
        from_commands = from_commands.where(c.c.ward == ward)
    return [from_snapshots, from_commands]


@contextmanager
def open_for_audit(url: str) -> Iterator[Connection]:
    """A read-only connection for the auditors' commands, on a database at the latest schema.

    Works on a SQLite file the user may not write, and for a PostgreSQL role that may only
    SELECT. Nothing is ever written.
    """
    engine = open_engine(url, read_only=True)
    try:
        require_current(engine)
        with engine.connect() as conn:
            yield conn
    except SQLAlchemyError as exc:
        raise StorageError(describe(exc, url)) from exc
    finally:
        engine.dispose()
