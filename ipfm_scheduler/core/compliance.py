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
from dataclasses import dataclass, replace
from datetime import date, timedelta, tzinfo

from ipfm_scheduler.core.expand import expand
from ipfm_scheduler.core.model import Programme, Ward
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.i18n import N_, _


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
        """In English, as tools read it (``--format json``); ``_(verdict)`` for people."""
        if self.minimum == 0:
            return N_("no minimum")
        if self.compliant:
            return N_("ok")
        return N_("SHORT") if self.enforced else N_("short (partial week, not enforced)")


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


@dataclass(frozen=True, slots=True)
class ShortRun:
    """Consecutive enforced weeks that plan fewer airings than the minimum."""

    first: IsoWeek
    last: IsoWeek | None  # None: every week from ``first`` on (an open-ended campaign)

    @property
    def weeks(self) -> int | None:
        """How many weeks the run holds (``None``: no end)."""
        if self.last is None:
            return None
        return (self.last.monday - self.first.monday).days // 7 + 1

    def __str__(self) -> str:
        """``2027-W07 to 2027-W08``, ``2027-W05``, or ``every week from 2022-W27 on``, in the
        language spoken."""
        if self.last is None:
            return _("every week from {first} on").format(first=self.first)
        if self.last == self.first:
            return str(self.first)
        return _("{first} to {last}").format(first=self.first, last=self.last)


@dataclass(frozen=True, slots=True)
class ShortWeeks:
    """Every enforced week in which a ward plans fewer than the minimum, as runs of weeks."""

    runs: tuple[ShortRun, ...]
    plain: WeekCount | None  # a week with no skip day and no one-off date, if it is short
    special: tuple[WeekCount, ...]  # the short weeks that hold a skip day or a one-off date

    @property
    def weeks(self) -> int | None:
        """How many weeks are short (``None``: every week from some week on)."""
        counts = [run.weeks for run in self.runs]
        return None if None in counts else sum(c for c in counts if c is not None)

    @property
    def first(self) -> WeekCount:
        """The first short week's count."""
        week = self.runs[0].first
        found = [c for c in self.special if c.week == week]
        if found:
            return found[0]
        assert self.plain is not None  # a run that starts on a plain week
        return replace(self.plain, week=week)


def short_weeks(ward: Ward, programme: Programme, tz: tzinfo, reference: date) -> ShortWeeks | None:
    """The enforced weeks in which ``ward`` plans fewer than the minimum; ``None`` if none.

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
    special = {
        w for w in _special_weeks(ward, programme) if w >= first and (last is None or w <= last)
    }
    counts = [week_count(ward, programme, tz, w) for w in sorted(special)]
    plain = first
    while plain in special:
        plain = plain.next()
    plain_count = week_count(ward, programme, tz, plain)
    plain_short = not plain_count.compliant and (last is None or plain <= last)
    if plain_short:
        ok = [c.week for c in counts if c.compliant]
        runs = _between(first, last, ok)
    else:
        runs = _consecutive([c.week for c in counts if not c.compliant])
    if not runs:
        return None
    short = tuple(c for c in counts if not c.compliant)
    return ShortWeeks(tuple(runs), plain_count if plain_short else None, short)


def _between(first: IsoWeek, last: IsoWeek | None, gaps: list[IsoWeek]) -> list[ShortRun]:
    """The runs of weeks from ``first`` to ``last`` (no end: ``None``) less the ``gaps``."""
    runs = []
    start = first
    for gap in sorted(gaps):
        if start < gap:
            runs.append(ShortRun(start, gap.previous()))
        start = gap.next()
    if last is None:
        runs.append(ShortRun(start, None))
    elif start <= last:
        runs.append(ShortRun(start, last))
    return runs


def _consecutive(weeks: list[IsoWeek]) -> list[ShortRun]:
    """Sorted ``weeks`` grouped into runs of consecutive weeks."""
    runs: list[ShortRun] = []
    for week in weeks:
        if runs and runs[-1].last is not None and runs[-1].last.next() == week:
            runs[-1] = ShortRun(runs[-1].first, week)
        else:
            runs.append(ShortRun(week, week))
    return runs


def first_short_week(
    ward: Ward, programme: Programme, tz: tzinfo, reference: date
) -> WeekCount | None:
    """The first enforced week in which ``ward`` plans fewer than the minimum, if any (the
    first of :func:`short_weeks`)."""
    short = short_weeks(ward, programme, tz, reference)
    return short.first if short is not None else None


#: after a command's last possible end (its airing's expiry plus its programme), before the
#: service records it expired
EXPIRE_GRACE = timedelta(minutes=2)
#: after the last answer about a week could have come, before its verdicts are final (the
#: service closes the week then, and `report` calls it final no sooner)
CLOSE_MARGIN = timedelta(minutes=5)
