"""How many airings a week each ward's plan gives, against each programme's minimum: what
`ipfm-scheduler validate` and `plan` print. Pure: the week and the reference date are given."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ipfm_scheduler.core.compliance import (
    WeekCount,
    covers_fully,
    first_full_week,
    last_full_week,
    overlaps,
    week_count,
)
from ipfm_scheduler.core.model import Programme, Schedule, Ward
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.i18n import N_


@dataclass(frozen=True, slots=True)
class WardWeekly:
    """One ward and one programme: this week's count and the lowest week of the campaign."""

    ward: str
    programme: str
    minimum: int
    enabled_receivers: int
    this_week: WeekCount | None  # None when the campaign does not run that week
    lowest: WeekCount | None  # None when the campaign has no full week to check

    @property
    def verdict(self) -> str:
        """In English, as tools read it (``--format json``); ``_(verdict)`` for people."""
        if self.minimum == 0:
            return N_("no minimum")
        if not self.enabled_receivers:
            return N_("not counted (no enabled receivers)")
        if self.lowest is not None and not self.lowest.compliant:
            return N_("SHORT")
        return N_("ok")


def lowest_week(
    ward: Ward, programme: Programme, schedule: Schedule, reference: date
) -> WeekCount | None:
    """The full campaign week with the fewest planned airings (the earliest of equals).

    Only weeks that hold a skipped day or a one-off date can differ from a plain week, so those
    and one plain week are counted (as core.compliance.first_short_week does).
    """
    first = first_full_week(programme, reference)
    last = last_full_week(programme)
    if last is not None and last < first:
        return None
    days = set(ward.skip_dates)
    for rule in ward.airings:
        if rule.programme == programme.id:
            days.update(rule.dates)
    special = {IsoWeek.of(d) for d in days}
    weeks = {w for w in special if w >= first and (last is None or w <= last)}
    plain = first
    while plain in special:
        plain = plain.next()
    if last is None or plain <= last:
        weeks.add(plain)
    counts = [week_count(ward, programme, schedule.timezone, w) for w in sorted(weeks)]
    return min(counts, key=lambda c: (c.planned, c.week)) if counts else None


def programmes_of(ward: Ward, schedule: Schedule) -> list[Programme]:
    """Programmes with a minimum, and programmes the ward airs, by id."""
    aired = {rule.programme for rule in ward.airings}
    return [
        p
        for p in sorted(schedule.programmes.values(), key=lambda p: p.id)
        if p.min_per_week > 0 or p.id in aired
    ]


def weekly(schedule: Schedule, week: IsoWeek, reference: date) -> list[WardWeekly]:
    """For every valid ward and its programmes: ``week``'s count and the lowest week's."""
    rows = []
    for ward in sorted(schedule.wards.values(), key=lambda w: w.id):
        for programme in programmes_of(ward, schedule):
            this = (
                week_count(ward, programme, schedule.timezone, week)
                if overlaps(programme, week)
                else None
            )
            rows.append(
                WardWeekly(
                    ward.id,
                    programme.id,
                    programme.min_per_week,
                    len(ward.enabled_receivers),
                    this,
                    lowest_week(ward, programme, schedule, reference),
                )
            )
    return rows


def plan_verdict(ward: Ward, count: WeekCount) -> str:
    """A week's verdict in words: a ward with no enabled receiver is not counted at all (its
    week is not a partial one, whatever :attr:`WeekCount.verdict` would say)."""
    if count.minimum and not ward.enabled_receivers:
        return N_("not counted (no enabled receivers)")
    return count.verdict


def enforcement(ward: Ward, programme: Programme, week: IsoWeek) -> str:
    """Why a week's minimum is or is not enforced, in words (English, for tools; ``_()`` of it
    for people)."""
    if programme.min_per_week == 0:
        return N_("no minimum")
    if not ward.enabled_receivers:
        return N_("not enforced: no enabled receivers")
    if not covers_fully(programme, week):
        return N_("not enforced: partial campaign week")
    return N_("enforced")
