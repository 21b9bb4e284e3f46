"""Expanding a ward's schedule into concrete airings, in the station's time zone."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from ipfm_scheduler.core.model import Origin, Programme, Ward
from ipfm_scheduler.core.weeks import normalise_local
from ipfm_scheduler.errors import ValueInvalid
from ipfm_scheduler.i18n import _


@dataclass(frozen=True, slots=True, order=True)
class PlannedAiring:
    """One airing of one programme in one ward.

    ``start`` and ``expires`` are instants, kept in UTC (Python compares and subtracts datetimes
    of one zone by their wall clock, which is wrong across DST); ``zone`` is the station's zone,
    for showing them in local time. ``expires`` is the end of the window the airing was planned
    in: receivers must not start it later (the play command's ``expires_at``).
    """

    start: datetime
    ward: str
    programme: str
    expires: datetime
    volume: int
    origin: Origin = Origin.SCHEDULED
    zone: tzinfo = field(default=UTC, compare=False)

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.expires.tzinfo is None:
            raise ValueInvalid(_("airing times must carry a time zone"))
        object.__setattr__(self, "start", self.start.astimezone(UTC))
        object.__setattr__(self, "expires", self.expires.astimezone(UTC))
        if self.expires <= self.start:
            raise ValueInvalid(
                _(
                    "airing of {programme} in {ward}: it expires ({expires}) before it starts "
                    "({start})"
                ).format(
                    programme=self.programme, ward=self.ward, expires=self.expires, start=self.start
                )
            )

    @property
    def key(self) -> str:
        """Identity across restarts: one ward airs one programme at most once at one instant."""
        return f"{self.ward}/{self.programme}/{self.start.astimezone(UTC):%Y-%m-%dT%H:%MZ}"

    @property
    def local_start(self) -> datetime:
        return self.start.astimezone(self.zone)

    @property
    def local_expires(self) -> datetime:
        return self.expires.astimezone(self.zone)

    @property
    def local_day(self) -> date:
        return self.local_start.date()


def at_local(day: date, at: time, tz: tzinfo) -> datetime:
    """``day`` at wall-clock ``at`` in ``tz`` (DST gaps move forward; a doubled hour: the first)."""
    return normalise_local(datetime.combine(day, at, tzinfo=tz))


def days_between(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def expand(
    ward: Ward,
    programmes: Mapping[str, Programme],
    tz: tzinfo,
    first: date,
    last: date,
) -> list[PlannedAiring]:
    """Every airing ``ward`` plans on the local dates ``first`` .. ``last`` (inclusive), in order.

    Applies ``days``/``dates``, ``skip_dates`` and each programme's campaign dates. Rules naming
    an unknown programme plan nothing (validation reports them). Two rules planning the same
    programme at the same local time on the same day give one airing.
    """
    if last < first:
        return []
    found: dict[tuple[str, date, time], PlannedAiring] = {}
    for rule in ward.airings:
        programme = programmes.get(rule.programme)
        if programme is None:
            continue
        if rule.weekly:
            days: Iterator[date] = (
                d for d in days_between(first, last) if d.weekday() in rule.days
            )
        else:
            days = (d for d in rule.dates if first <= d <= last)
        for day in days:
            if day in ward.skip_dates or not programme.runs_on(day):
                continue
            ident = (programme.id, day, rule.at)
            if ident in found:
                continue
            start = at_local(day, rule.at, tz)
            window = ward.window_at(day.weekday(), rule.at)
            if window is not None:
                expires = at_local(day, window.end, tz)
            else:  # invalid configuration: validation reports it; still give a sane value
                expires = start + programme.duration
            if expires <= start:
                expires = start + programme.duration
            found[ident] = PlannedAiring(
                start, ward.id, programme.id, expires, rule.volume, zone=tz
            )
    return sorted(found.values())


def expand_between(
    ward: Ward,
    programmes: Mapping[str, Programme],
    tz: tzinfo,
    start: datetime,
    end: datetime,
) -> list[PlannedAiring]:
    """Airings of ``ward`` that start at or after ``start`` and before ``end`` (aware instants)."""
    first = start.astimezone(tz).date()
    last = end.astimezone(tz).date()
    return [a for a in expand(ward, programmes, tz, first, last) if start <= a.start < end]
