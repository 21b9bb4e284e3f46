"""ISO weeks (Monday to Sunday, local time), the unit of the weekly minimum."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from ipfm_scheduler.errors import ValueInvalid
from ipfm_scheduler.i18n import _

_WEEK_RE = re.compile(r"(\d{4})-?W(\d{1,2})")

DAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def local_midnight(day: date, tz: tzinfo) -> datetime:
    """The first instant of ``day`` in ``tz``, in UTC (correct on DST days)."""
    return normalise_local(datetime.combine(day, time(0, 0), tzinfo=tz)).astimezone(UTC)


def normalise_local(value: datetime) -> datetime:
    """Resolve a wall-clock time that a DST change skipped or doubled.

    A time inside a spring-forward gap moves forward by the gap (02:30 becomes 03:30); a time
    that occurs twice at fall-back means its first occurrence (``fold=0``). Both follow from a
    round trip through UTC, which is what this does.
    """
    tz = value.tzinfo
    if tz is None:
        raise ValueInvalid(_("a naive datetime has no time zone"))
    return value.astimezone(UTC).astimezone(tz)


@dataclass(frozen=True, slots=True, order=True)
class IsoWeek:
    """An ISO 8601 week, such as ``2026-W48``."""

    year: int
    week: int

    def __post_init__(self) -> None:
        if not 1 <= self.year <= 9998:
            raise ValueInvalid(_("year {year} is out of range").format(year=self.year))
        last = date(self.year, 12, 28).isocalendar().week
        if not 1 <= self.week <= last:
            raise ValueInvalid(
                _("{year} has weeks 1 to {last}, not {week}").format(
                    year=self.year, last=last, week=self.week
                )
            )

    @classmethod
    def parse(cls, text: str) -> IsoWeek:
        """Parse ``2026-W48`` (also ``2026W48``, ``2026-w48``)."""
        match = _WEEK_RE.fullmatch(text.strip().upper())
        if match is None:
            raise ValueInvalid(
                _("{text} is not an ISO week (write it like 2026-W48)").format(text=repr(text))
            )
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, day: date) -> IsoWeek:
        iso = day.isocalendar()
        return cls(iso.year, iso.week)

    @classmethod
    def containing(cls, moment: datetime, tz: tzinfo) -> IsoWeek:
        """The local week that holds the aware instant ``moment``."""
        return cls.of(moment.astimezone(tz).date())

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    @property
    def sunday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 7)

    def days(self) -> Iterator[date]:
        monday = self.monday
        return (monday + timedelta(days=i) for i in range(7))

    def start(self, tz: tzinfo) -> datetime:
        """First instant of the week in ``tz`` (in UTC)."""
        return local_midnight(self.monday, tz)

    def end(self, tz: tzinfo) -> datetime:
        """First instant of the next week in ``tz`` (exclusive end, in UTC)."""
        return local_midnight(self.monday + timedelta(days=7), tz)

    def next(self) -> IsoWeek:
        return IsoWeek.of(self.monday + timedelta(days=7))

    def previous(self) -> IsoWeek:
        return IsoWeek.of(self.monday - timedelta(days=7))

    def __add__(self, weeks: int) -> IsoWeek:
        return IsoWeek.of(self.monday + timedelta(days=7 * weeks))

    def __sub__(self, other: IsoWeek) -> int:
        """Number of weeks from ``other`` to ``self``."""
        return (self.monday - other.monday).days // 7

    def __str__(self) -> str:
        return f"{self.year:04d}-W{self.week:02d}"


def weeks_between(first: date, last: date) -> Iterator[IsoWeek]:
    """Every ISO week that holds a day of ``first`` .. ``last`` (inclusive)."""
    week = IsoWeek.of(first)
    end = IsoWeek.of(last)
    while week <= end:
        yield week
        week = week.next()
