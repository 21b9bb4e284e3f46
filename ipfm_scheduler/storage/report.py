"""The weekly report (`ipfm-scheduler report`): per ward and programme, what was planned, what
was sent, which receivers confirmed `completed` against the minimum in force, and why the others
fell short. Built from the database alone (a read-only copy is enough)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.engine import Connection, Row

from ipfm_scheduler.core.commands import CommandState
from ipfm_scheduler.core.compliance import CLOSE_MARGIN, EXPIRE_GRACE
from ipfm_scheduler.core.model import Origin, Priority
from ipfm_scheduler.core.records import AiringRecord, CommandRecord
from ipfm_scheduler.core.verdicts import Reason, Standing, receiver_verdicts
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.answers import offline_receivers
from ipfm_scheduler.storage.audit import station_zone
from ipfm_scheduler.storage.chain import Head, read_heads
from ipfm_scheduler.storage.configs import snapshot_in_force
from ipfm_scheduler.storage.plans import PlanProgramme, RecordedPlan, load_plans
from ipfm_scheduler.storage.tallies import WeekCommands, week_commands
from ipfm_scheduler.storage.types import to_utc

_OPEN_STATES = [s.value for s in CommandState if s.open]


@dataclass(frozen=True, slots=True)
class ReceiverLine:
    receiver: str
    location: str
    commands_sent: int
    completed: int
    standing: Standing
    why: Reason | None  # None when compliant

    @property
    def reason(self) -> str:
        """Why it is short, in English ("" if compliant); in the language spoken: ``why.words()``"""
        return "" if self.why is None else str(self.why)

    #: of ``completed``, how many rest on an answer that was not verified (no signature)
    unverified: int = 0


@dataclass(frozen=True, slots=True)
class GroupLine:
    """One ward and programme in the week."""

    ward: str
    ward_name: str
    programme: str
    title: str
    minimum: int
    enforced: bool
    airings_planned: int
    makeups: int
    commands_sent: int
    receivers: tuple[ReceiverLine, ...]
    snapshot_id: int | None

    @property
    def standing(self) -> Standing:
        seen = {r.standing for r in self.receivers}
        for worst in (Standing.SHORT, Standing.PENDING, Standing.NOT_ENFORCED):
            if worst in seen:
                return worst
        return Standing.COMPLIANT if self.receivers else Standing.NO_RECEIVERS

    @property
    def receivers_ok(self) -> int:
        return sum(1 for r in self.receivers if r.standing is Standing.COMPLIANT)


@dataclass(frozen=True, slots=True)
class WeekReport:
    week: IsoWeek
    zone: tzinfo
    start: datetime  # first local instant of the week
    end: datetime  # first local instant of the next week
    finished: bool  # the verdicts are final: no answer can change them any more
    recorded: bool  # the week has airings recorded, and something matches the filters
    groups: tuple[GroupLine, ...]
    final_at: datetime  # when the verdicts become final (UTC)
    ended: bool  # the week itself is over (its verdicts may still be settling)
    # the hash chain's heads as the report was made (storage/chain.py): the log it was made from
    heads: tuple[Head, ...] = ()

    @property
    def short(self) -> bool:
        return any(g.standing is Standing.SHORT for g in self.groups)


def week_report(
    conn: Connection,
    week: IsoWeek,
    *,
    now: datetime,
    ward: str | None = None,
    programme: str | None = None,
    expire_grace: timedelta = EXPIRE_GRACE,
    close_margin: timedelta = CLOSE_MARGIN,
) -> WeekReport:
    """The report for ``week`` (local ISO week of the station), as of ``now``.

    The verdicts are final (``finished``) only once no answer can change them: see
    :func:`_final_at`. Until then a receiver below the minimum is ``pending``, not ``short``.
    """
    zone = station_zone(conn)
    start, end = week.start(zone), week.end(zone)
    airings = _week_airings(conn, week, ward, programme)
    keys = _groups_from_airings(airings)
    in_force = snapshot_in_force(conn, end)
    plans = load_plans(conn, {*keys.values(), *([in_force] if in_force else [])})
    if in_force is not None:
        _add_expected(
            keys, plans[in_force], snapshot_id=in_force, week=week, ward=ward, programme=programme
        )
    commands = week_commands(conn, _filtered_where(week, ward, programme))
    now = to_utc(now, "now")
    final_at = _final_at(conn, week, end, plans.values(), ward=ward, programme=programme) + (
        expire_grace + close_margin
    )
    finished = now >= final_at
    offline = offline_receivers(conn, min(to_utc(end), now), {k[0] for k in keys})
    build = _Builder(
        week,
        zone=zone,
        now=now,
        final_at=final_at,
        records=_records(airings, commands.by_airing),
        commands=commands,
        offline=offline,
    )
    groups = tuple(build.group(key, plans[sid], sid) for key, sid in sorted(keys.items()))
    recorded = bool(groups) and _any_airing(conn, week)
    heads = tuple(read_heads(conn).values())
    return WeekReport(
        week,
        zone,
        start,
        end,
        finished,
        recorded,
        groups,
        final_at,
        ended=now >= to_utc(end),
        heads=heads,
    )


def _any_airing(conn: Connection, week: IsoWeek) -> bool:
    """The week has at least one airing recorded (in any ward, of any programme)."""
    a = t.airings
    return conn.execute(select(a.c.id).where(a.c.week == str(week)).limit(1)).first() is not None


def _final_at(
    conn: Connection,
    week: IsoWeek,
    end: datetime,
    plans: Iterable[RecordedPlan],
    *,
    ward: str | None,
    programme: str | None,
) -> datetime:
    """The last moment an answer about ``week`` can still come in, before the expiry grace and
    the margin: the week's end plus the longest programme (as the service reckons when it closes
    the week), or later while a command of the week can still be answered (until its airing's
    ``expires_at`` plus its programme's length, when the service expires it) or an airing of the
    week still waits for its commands."""
    longest = max((p.duration_s for plan in plans for p in plan.programmes.values()), default=0.0)
    latest = to_utc(end) + timedelta(seconds=longest)
    a, c, p = t.airings, t.commands, t.snapshot_programmes
    length = p.c.duration_s
    same_programme = and_(p.c.snapshot_id == a.c.snapshot_id, p.c.programme == a.c.programme)
    open_commands = (
        select(c.c.expires_at, length)
        .join(a, a.c.id == c.c.airing_id)
        .outerjoin(p, same_programme)
        .where(a.c.week == str(week), c.c.state.in_(_OPEN_STATES))
    )
    waiting = (
        select(a.c.expires_at, length)
        .outerjoin(p, same_programme)
        .where(a.c.week == str(week), a.c.outcome == "planned")
    )
    for query in (_filtered(open_commands, ward, programme), _filtered(waiting, ward, programme)):
        for row in conn.execute(query).all():
            latest = max(latest, row.expires_at + timedelta(seconds=row.duration_s or 0))
    return latest


def _week_airings(
    conn: Connection, week: IsoWeek, ward: str | None, programme: str | None
) -> list[Row[Any]]:
    a = t.airings
    query = (
        select(
            a.c.id,
            a.c.ward,
            a.c.programme,
            a.c.origin,
            a.c.snapshot_id,
            a.c.planned_start,
            a.c.outcome,
        )
        .add_columns(a.c.expires_at, a.c.priority, a.c.makeup_for)
        .where(a.c.week == str(week))
    )
    query = _filtered(query, ward, programme).order_by(a.c.planned_start, a.c.id)
    return list(conn.execute(query).all())


def _filtered(query: Any, ward: str | None, programme: str | None) -> Any:
    if ward:
        query = query.where(t.airings.c.ward == ward)
    if programme:
        query = query.where(t.airings.c.programme == programme)
    return query


# a row's text -> its value (an Enum's own lookup costs ~7 us, 10,000 times a report)
_ORIGINS = {o.value: o for o in Origin}
_PRIORITIES = {p.value: p for p in Priority}


def _filtered_where(week: IsoWeek, ward: str | None, programme: str | None) -> list[Any]:
    """The airings of ``week`` (of ``ward``, of ``programme``), as conditions."""
    a = t.airings
    where = [a.c.week == str(week)]
    where += [a.c.ward == ward] if ward else []
    return where + ([a.c.programme == programme] if programme else [])


def _records(
    airings: Sequence[Row[Any]], commands: dict[int, dict[str, CommandRecord]]
) -> dict[tuple[str, str], list[AiringRecord]]:
    """The week's airings with their commands, as the weekly rule reads them, by (ward,
    programme), oldest first."""
    found: dict[tuple[str, str], list[AiringRecord]] = defaultdict(list)
    for row in airings:
        found[(row.ward, row.programme)].append(
            AiringRecord(
                row.id,
                row.ward,
                row.programme,
                row.planned_start,
                row.expires_at,
                _ORIGINS[row.origin],
                _PRIORITIES[row.priority],
                commands.get(row.id, {}),
                row.outcome,
                row.makeup_for,
            )
        )
    return found


def _groups_from_airings(airings: Sequence[Row[Any]]) -> dict[tuple[str, str], int]:
    """(ward, programme) -> the snapshot that planned its latest airing of the week."""
    keys: dict[tuple[str, str], int] = {}
    for row in airings:  # oldest first: the latest wins
        keys[(row.ward, row.programme)] = row.snapshot_id
    return keys


def _add_expected(
    keys: dict[tuple[str, str], int],
    plan: RecordedPlan,
    *,
    snapshot_id: int,
    week: IsoWeek,
    ward: str | None,
    programme: str | None,
) -> None:
    """Wards and programmes the configuration in force expected to air, even with no airing."""
    for ward_id, receivers in plan.receivers.items():
        if not any(r.enabled for r in receivers) or (ward and ward != ward_id):
            continue
        for prog in plan.programmes.values():
            wanted = programme is None or programme == prog.id
            if wanted and prog.min_per_week > 0 and prog.overlaps(week):
                keys.setdefault((ward_id, prog.id), snapshot_id)


class _Builder:
    def __init__(
        self,
        week: IsoWeek,
        *,
        zone: tzinfo,
        now: datetime,
        final_at: datetime,
        records: dict[tuple[str, str], list[AiringRecord]],
        commands: WeekCommands,
        offline: dict[tuple[str, str], datetime],
    ) -> None:
        self.week, self.zone, self.now, self.final_at = week, zone, now, final_at
        self.records, self.commands = records, commands
        self._enforced_by: dict[PlanProgramme, bool] = {}
        self.offline_by_ward: dict[str, dict[str, datetime]] = defaultdict(dict)
        for (w, r), since in offline.items():
            self.offline_by_ward[w][r] = since

    def _enforced(self, prog: PlanProgramme) -> bool:
        """Whether the week is enforced for ``prog`` (worked out once per programme)."""
        known = self._enforced_by.get(prog)
        if known is None:
            known = self._enforced_by[prog] = prog.enforced(self.week)
        return known

    def group(self, key: tuple[str, str], plan: RecordedPlan, snapshot_id: int) -> GroupLine:
        ward, programme = key
        prog = plan.programmes.get(programme)
        minimum = prog.min_per_week if prog else 0
        enforced = prog is not None and self._enforced(prog)
        records = self.records.get(key, [])
        receivers = [r for r in plan.receivers.get(ward, ()) if r.enabled]
        verdicts = receiver_verdicts(
            self.week,
            [r.id for r in receivers],
            programme,
            minimum,
            records,
            now=self.now,
            final_at=self.final_at,
            tz=self.zone,
            offline=self.offline_by_ward.get(ward, {}),
            enforced=enforced,
            completed_apart=self.commands.completed_apart.get(key),
        )
        sent = self.commands.sent.get(key, Counter[str]())
        unverified = self.commands.unverified.get(key, Counter[str]())
        lines = tuple(
            ReceiverLine(
                r.id,
                r.location,
                sent[r.id],
                verdicts[r.id].completed,
                verdicts[r.id].standing,
                verdicts[r.id].why,
                unverified[r.id],
            )
            for r in receivers
        )
        return GroupLine(
            ward=ward,
            ward_name=plan.ward_names.get(ward, ward),
            programme=programme,
            title=prog.title if prog else "",
            minimum=minimum,
            enforced=enforced,
            airings_planned=len(records),
            makeups=sum(1 for a in records if a.origin is Origin.MAKEUP),
            # the receivers listed only: a receiver not counted (disabled) is not in the sum
            commands_sent=sum(line.commands_sent for line in lines),
            receivers=lines,
            snapshot_id=snapshot_id,
        )
