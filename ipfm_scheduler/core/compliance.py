"""The weekly minimum (Plan 197 section IV.4: "tần suất tối thiểu 01 lần/tuần").

Two checks share one rule, ``min_per_week`` airings of a programme per ISO week (local time):

* before anything airs, on the plan: every full campaign week must *plan* enough airings in every
  ward that has enabled receivers (``WeekCount``, ``first_short_week``);
* while the service runs, on the record: every enabled receiver must *confirm* ``completed``
  enough times (``core/verdicts.py``, and the make-ups of ``core/makeup.py``).

A week the campaign covers only in part (its first and last) is reported, not enforced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta, tzinfo

from ipfm_scheduler.core.expand import expand
from ipfm_scheduler.core.model import Programme, Ward
from ipfm_scheduler.core.weeks import IsoWeek


@dataclass(frozen=True, slots=True)
class WeekCount:
    """How many airings of ``programme`` ``ward`` plans in ``week``, against the minimum."""

    ward: str
    programme: str
    week: IsoWeek
    planned: int
    minimum: int
    enforced: bool

    @property
    def compliant(self) -> bool:
        return self.planned >= self.minimum

    @property
    def verdict(self) -> str:
        if self.minimum == 0:
            return "no minimum"
        if self.compliant:
            return "ok"
        return "SHORT" if self.enforced else "short (partial week, not enforced)"


def covers_fully(programme: Programme, week: IsoWeek) -> bool:
    """True if the campaign runs on every day of ``week``."""
    return programme.runs_on(week.monday) and programme.runs_on(week.sunday)


def overlaps(programme: Programme, week: IsoWeek) -> bool:
    """True if the campaign runs on at least one day of ``week``."""
    return (programme.start is None or programme.start <= week.sunday) and (
        programme.until is None or programme.until >= week.monday
    )


def enforced(ward: Ward, programme: Programme, week: IsoWeek) -> bool:
    return (
        programme.min_per_week > 0
        and bool(ward.enabled_receivers)
        and covers_fully(programme, week)
    )


def week_count(ward: Ward, programme: Programme, tz: tzinfo, week: IsoWeek) -> WeekCount:
    airings = expand(ward, {programme.id: programme}, tz, week.monday, week.sunday)
    return WeekCount(
        ward.id,
        programme.id,
        week,
        planned=len(airings),
        minimum=programme.min_per_week,
        enforced=enforced(ward, programme, week),
    )


def week_counts(
    ward: Ward, programmes: Mapping[str, Programme], tz: tzinfo, week: IsoWeek
) -> list[WeekCount]:
    """A count per programme that has a minimum or that the ward airs, running in ``week``."""
    aired = {rule.programme for rule in ward.airings}
    return [
        week_count(ward, programme, tz, week)
        for programme in sorted(programmes.values(), key=lambda p: p.id)
        if (programme.min_per_week > 0 or programme.id in aired) and overlaps(programme, week)
    ]


def first_full_week(programme: Programme, reference: date) -> IsoWeek:
    """The first week the campaign covers fully; ``reference``'s week if it has no start."""
    if programme.start is None:
        return IsoWeek.of(reference)
    week = IsoWeek.of(programme.start)
    return week if programme.start == week.monday else week.next()


def last_full_week(programme: Programme) -> IsoWeek | None:
    if programme.until is None:
        return None
    week = IsoWeek.of(programme.until)
    return week if programme.until == week.sunday else week.previous()


def _special_weeks(ward: Ward, programme: Programme) -> set[IsoWeek]:
    """Weeks whose count may differ from a plain week: skipped days and one-off dates."""
    days: set[date] = set(ward.skip_dates)
    for rule in ward.airings:
        if rule.programme == programme.id:
            days.update(rule.dates)
    return {IsoWeek.of(d) for d in days}


def first_short_week(
    ward: Ward, programme: Programme, tz: tzinfo, reference: date
) -> WeekCount | None:
    """The first enforced week in which ``ward`` plans fewer than the minimum, if any.

    Weeks are checked from the campaign's first full week (or, for a campaign without a start,
    from the week of ``reference``) to its last full week. Every week that holds no skipped day
    and no one-off date plans the same number of airings, so only those "special" weeks and one
    plain week need expanding: the check costs the same for a campaign of ten years as of one.
    """
    if programme.min_per_week == 0 or not ward.enabled_receivers:
        return None
    first = first_full_week(programme, reference)
    last = last_full_week(programme)
    if last is not None and last < first:
        return None
    special = {w for w in _special_weeks(ward, programme) if w >= first}
    plain = first
    while plain in special:
        plain = plain.next()
    candidates = sorted(special | {plain})
    for week in candidates:
        if last is not None and week > last:
            break
        count = week_count(ward, programme, tz, week)
        if not count.compliant:
            return count
    return None


#: after a command's last possible end (its airing's expiry plus its programme), before the
#: service records it expired
EXPIRE_GRACE = timedelta(minutes=2)
#: after the last answer about a week could have come, before its verdicts are final (the
#: service closes the week then, and `report` calls it final no sooner)
CLOSE_MARGIN = timedelta(minutes=5)
