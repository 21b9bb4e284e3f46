"""A week's commands as the weekly rule reads them, for `report` and `status` at national scale:
the commands that did not complete one by one, the ``completed`` ones counted by the database.

At 100,000 receivers a week holds 700,000 commands, 95 % of them ``completed``; reading each
through SQLAlchemy and the driver took seconds (docs/service.md, "The rest of the service at
100,000"). A completed command tells the rule (core/verdicts.py) only that it counts, and
whether it was in a make-up; so those are summed per ward, programme, receiver and origin
(``GROUP BY``) and handed to ``receiver_verdicts(completed_apart=...)``: the same verdicts,
their reasons in the same words (the commands that did not complete are still read one by
one)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, not_, select
from sqlalchemy.engine import Connection

from ipfm_scheduler.core.commands import CommandState
from ipfm_scheduler.core.model import Origin
from ipfm_scheduler.core.records import AiringRecord, CommandRecord
from ipfm_scheduler.core.verdicts import Completed
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.airings import STATE_OF, airing_record
from ipfm_scheduler.storage.types import to_utc

Group = tuple[str, str]  # (ward, programme)


@dataclass
class WeekCommands:
    """The commands of some airings: those read one by one by airing and receiver, the
    ``completed`` ones counted apart by (ward, programme) and receiver, and per (ward,
    programme) and receiver how many the broker accepted (sent) and how many completed on an
    answer not verified (protocol version 1)."""

    by_airing: dict[int, dict[str, CommandRecord]] = field(
        default_factory=lambda: defaultdict(dict)
    )
    completed_apart: dict[Group, dict[str, Completed]] = field(default_factory=dict)
    sent: defaultdict[Group, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    unverified: defaultdict[Group, Counter[str]] = field(
        default_factory=lambda: defaultdict(Counter)
    )


def week_commands(
    conn: Connection,
    airings_where: Sequence[ColumnElement[bool]],
    apart_where: Sequence[ColumnElement[bool]] = (),
) -> WeekCommands:
    """The commands of the airings that match ``airings_where`` (conditions on ``airings``).
    The ``completed`` ones of airings that also match ``apart_where`` are only counted; the
    others are read one by one."""
    a, c = t.airings, t.commands
    # the airings' commands found through their airing ids, and the state compared as an
    # expression (|| ''): SQLite's planner would otherwise walk the index on (state,
    # expires_at), every completed command ever, or scan all commands
    airings_where = [*airings_where, c.c.airing_id.in_(select(a.c.id).where(*airings_where))]
    apart = and_((c.c.state + "") == CommandState.COMPLETED.value, *apart_where)
    found = WeekCommands()
    counted = (
        select(
            a.c.ward,
            a.c.programme,
            c.c.receiver,
            a.c.origin,
            func.count().label("commands"),
            func.count(c.c.first_sent_at).label("sent"),
            func.sum(case((c.c.answer_verified.is_(False), 1), else_=0)).label("unverified"),
        )
        .join(a, a.c.id == c.c.airing_id)
        .where(*airings_where, apart)
        .group_by(a.c.ward, a.c.programme, c.c.receiver, a.c.origin)
    )
    makeup = Origin.MAKEUP.value
    for ward, programme, receiver, origin, commands, sent, unverified in conn.execute(counted):
        group = (ward, programme)
        mine = found.completed_apart.setdefault(group, {})
        before = mine.get(receiver, Completed(0))
        mine[receiver] = Completed(
            before.commands + commands, before.makeups + (commands if origin == makeup else 0)
        )
        if sent:
            found.sent[group][receiver] += sent
        if unverified:
            found.unverified[group][receiver] += unverified
    one_by_one = (
        select(
            c.c.id,
            c.c.airing_id,
            c.c.receiver,
            c.c.state,
            c.c.detail,
            c.c.first_sent_at.is_not(None).label("sent"),  # a flag: no time to convert
            c.c.answer_verified,
            a.c.ward,
            a.c.programme,
        )
        .join(a, a.c.id == c.c.airing_id)
        .where(*airings_where, not_(apart))
    )  # in no order: the rule reads each receiver's commands in its airings' order
    rows: Any = conn.execute(one_by_one)
    for command_id, airing_id, receiver, state, detail, sent, verified, ward, programme in rows:
        record = CommandRecord(command_id, receiver, STATE_OF[state], detail)
        found.by_airing[airing_id][receiver] = record
        if sent:
            found.sent[(ward, programme)][receiver] += 1
        if verified is False and record.state is CommandState.COMPLETED:
            found.unverified[(ward, programme)][receiver] += 1
    return found


@dataclass(frozen=True, slots=True)
class StoredWeek:
    """Stored airings, each with its commands but the ``completed`` ones of those that started
    before a moment (``apart_before``), which are counted in ``completed_apart`` instead."""

    records: list[AiringRecord]
    completed_apart: dict[Group, dict[str, Completed]]


def airings_counted(
    conn: Connection, start: datetime, end: datetime, *, apart_before: datetime
) -> StoredWeek:
    """Airings planned in [start, end), soonest first, as ``airings_between`` gives them, but
    for the ``completed`` commands of those planned before ``apart_before``: counted, not read
    (`status`: the week so far's 700,000 commands at national scale)."""
    a = t.airings
    where = [a.c.planned_start >= to_utc(start, "start"), a.c.planned_start < to_utc(end, "end")]
    rows = conn.execute(select(a).where(*where).order_by(a.c.planned_start, a.c.id)).all()
    found = week_commands(conn, where, [a.c.planned_start < to_utc(apart_before, "apart_before")])
    records = [airing_record(r, found.by_airing.get(r.id, {})) for r in rows]
    return StoredWeek(records, found.completed_apart)
