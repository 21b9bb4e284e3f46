"""Where a make-up airing goes: the ward's next window, still inside the ISO week.

When a receiver is short for the week (its airing failed, was rejected, expired, or it was
offline), the service plans a make-up airing for just the receivers that are short. This module
only finds the slot; it reads no clock (``after`` is passed in) and touches no database.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, tzinfo

from ipfm_scheduler.core.expand import PlannedAiring, at_local, days_between
from ipfm_scheduler.core.model import DEFAULT_VOLUME, Origin, Programme, Ward
from ipfm_scheduler.core.weeks import IsoWeek


def ceil_minute(moment: datetime) -> datetime:
    """Round up to the next whole minute (airings start on the minute)."""
    if moment.second == 0 and moment.microsecond == 0:
        return moment
    return moment.replace(second=0, microsecond=0) + timedelta(minutes=1)


def default_volume(ward: Ward, programme: str) -> int:
    """The volume the ward's own plan uses for ``programme`` (its first rule), else the default."""
    return next((r.volume for r in ward.airings if r.programme == programme), DEFAULT_VOLUME)


def next_slot(
    ward: Ward,
    programme: Programme,
    tz: tzinfo,
    after: datetime,
    *,
    busy: Iterable[tuple[datetime, datetime]] = (),
    origin: Origin = Origin.MAKEUP,
) -> PlannedAiring | None:
    """The earliest start at or after ``after`` where ``programme`` fits in one of ``ward``'s
    windows, on a day that is not skipped and inside the campaign, before the ISO week of
    ``after`` ends, and not overlapping any ``busy`` interval (other airings of the ward).

    Returns ``None`` when the week has no such slot left.
    """
    week = IsoWeek.containing(after, tz)
    local_after = ceil_minute(after.astimezone(tz))
    intervals = sorted((s.astimezone(UTC), e.astimezone(UTC)) for s, e in busy)
    for day in days_between(local_after.date(), week.sunday):
        if day in ward.skip_dates or not programme.runs_on(day):
            continue
        windows = sorted(
            (w for w in ward.windows if w.opens_on(day.weekday())), key=lambda w: w.start
        )
        for window in windows:
            opens = at_local(day, window.start, tz).astimezone(UTC)
            closes = at_local(day, window.end, tz).astimezone(UTC)
            earliest = max(opens, local_after.astimezone(UTC))
            start = _first_free(earliest, programme.duration, closes, intervals)
            if start is not None:
                volume = default_volume(ward, programme.id)
                return PlannedAiring(start, ward.id, programme.id, closes, volume, origin, zone=tz)
    return None


def _first_free(
    start: datetime,
    length: timedelta,
    closes: datetime,
    busy: list[tuple[datetime, datetime]],
) -> datetime | None:
    """Earliest whole-minute start >= ``start`` whose airing ends by ``closes`` and overlaps no
    busy interval (``busy`` sorted by start)."""
    for busy_start, busy_end in busy:
        if start + length <= busy_start:
            break
        if busy_end > start:
            start = ceil_minute(busy_end)
    return start if start + length <= closes else None
