"""The monthly report (`ipfm-scheduler report --month`): the weeks that touch the month, each as
the weekly report gives it, summed per ward, programme and receiver. A week that runs into the
month before or after is counted whole and marked partial: the weekly minimum is a rule of whole
weeks, so a week is never cut in two."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.engine import Connection

from ipfm_scheduler.core.verdicts import Standing
from ipfm_scheduler.core.weeks import IsoWeek, weeks_between
from ipfm_scheduler.errors import ValueInvalid
from ipfm_scheduler.i18n import _
from ipfm_scheduler.storage.report import WeekReport, week_report


@dataclass(frozen=True, slots=True, order=True)
class Month:
    year: int
    month: int

    def __post_init__(self) -> None:
        if not (1 <= self.month <= 12 and 2000 <= self.year <= 9999):
            raise ValueInvalid(_("{month} is not a month (YYYY-MM)").format(month=self))

    @classmethod
    def parse(cls, text: str) -> Month:
        year, sep, month = text.strip().partition("-")
        if not (sep and len(year) == 4 and len(month) == 2 and year.isdigit() and month.isdigit()):
            raise ValueInvalid(_("{text!r} is not a month: YYYY-MM, e.g. 2026-11").format(
                text=text[:40]))  # fmt: skip
        return cls(int(year), int(month))

    @property
    def first(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last(self) -> date:
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    def weeks(self) -> list[IsoWeek]:
        """The ISO weeks with at least one day in the month, in order."""
        return list(weeks_between(self.first, self.last))

    def partial(self, week: IsoWeek) -> bool:
        """``week`` has days outside the month."""
        return week.monday < self.first or week.sunday > self.last

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@dataclass(frozen=True, slots=True)
class MonthLine:
    """One receiver (or a ward with none) for one programme, over the month's weeks."""

    ward: str
    ward_name: str
    programme: str
    title: str
    receiver: str
    location: str
    weeks: int  # weeks it was counted in
    weeks_compliant: int
    weeks_short: int  # short (final) weeks
    commands_sent: int
    completed: int
    partial_weeks: int  # of ``weeks``, those that run into another month


@dataclass(frozen=True, slots=True)
class MonthReport:
    month: Month
    reports: tuple[WeekReport, ...]
    lines: tuple[MonthLine, ...]

    @property
    def partial(self) -> tuple[IsoWeek, ...]:
        return tuple(r.week for r in self.reports if self.month.partial(r.week))

    @property
    def finished(self) -> bool:
        return all(r.finished for r in self.reports)

    @property
    def recorded(self) -> bool:
        return any(r.recorded for r in self.reports)

    @property
    def short(self) -> bool:
        return any(r.short for r in self.reports)


def month_report(
    conn: Connection,
    month: Month,
    *,
    now: datetime,
    ward: str | None = None,
    programme: str | None = None,
) -> MonthReport:
    reports = tuple(
        week_report(conn, week, now=now, ward=ward, programme=programme) for week in month.weeks()
    )
    return MonthReport(month, reports, _sum(month, reports))


def _sum(month: Month, reports: tuple[WeekReport, ...]) -> tuple[MonthLine, ...]:
    found: dict[tuple[str, str, str], MonthLine] = {}
    for report in reports:
        partial = int(month.partial(report.week))
        for g in report.groups:
            rows = [(r.receiver, r.location, r.commands_sent, r.completed, r.standing)
                    for r in g.receivers] or [("", "", 0, 0, g.standing)]  # fmt: skip
            for receiver, location, sent, completed, standing in rows:
                key = (g.ward, g.programme, receiver)
                old = found.get(key) or MonthLine(
                    g.ward, g.ward_name, g.programme, g.title, receiver, location, 0, 0, 0, 0, 0, 0
                )
                found[key] = MonthLine(
                    old.ward,
                    g.ward_name,
                    old.programme,
                    g.title,
                    receiver,
                    location or old.location,
                    old.weeks + 1,
                    old.weeks_compliant + (standing is Standing.COMPLIANT),
                    old.weeks_short + (standing is Standing.SHORT),
                    old.commands_sent + sent,
                    old.completed + completed,
                    old.partial_weeks + partial,
                )
    return tuple(found[key] for key in sorted(found))
