"""ISO weeks: parsing, bounds, and local instants across DST."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from ipfm_scheduler.core.expand import at_local
from ipfm_scheduler.core.weeks import IsoWeek, weeks_between
from ipfm_scheduler.errors import ValueInvalid

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
NEW_YORK = ZoneInfo("America/New_York")


def test_parse_accepts_usual_spellings() -> None:
    assert IsoWeek.parse("2026-W48") == IsoWeek(2026, 48)
    assert IsoWeek.parse("2026w48") == IsoWeek(2026, 48)
    assert str(IsoWeek(2026, 5)) == "2026-W05"


@pytest.mark.parametrize("text", ["2026-48", "W48", "2026-W54", "2026-W00", "abc"])
def test_parse_refuses_what_is_not_a_week(text: str) -> None:
    with pytest.raises(ValueInvalid):
        IsoWeek.parse(text)


def test_week_53_exists_only_in_long_years() -> None:
    assert IsoWeek(2026, 53).monday == date(2026, 12, 28)
    with pytest.raises(ValueInvalid, match="weeks 1 to 52"):
        IsoWeek(2027, 53)


def test_week_bounds_and_neighbours() -> None:
    week = IsoWeek(2026, 48)
    assert (week.monday, week.sunday) == (date(2026, 11, 23), date(2026, 11, 29))
    assert week.next() == IsoWeek(2026, 49)
    assert IsoWeek(2027, 1).previous() == IsoWeek(2026, 53)
    assert IsoWeek(2027, 1) - IsoWeek(2026, 52) == 2
    assert week + 6 == IsoWeek(2027, 1)
    assert list(week.days())[3] == date(2026, 11, 26)


def test_week_start_is_local_midnight() -> None:
    start = IsoWeek(2026, 48).start(HCM)
    assert start == datetime(2026, 11, 22, 17, 0, tzinfo=ZoneInfo("UTC"))
    assert IsoWeek(2026, 48).end(HCM) - start == IsoWeek(2026, 49).start(HCM) - start


def test_week_containing_uses_local_date() -> None:
    # Sunday 2026-11-29 17:30 UTC is already Monday 00:30 in Vietnam: the next week.
    moment = datetime(2026, 11, 29, 17, 30, tzinfo=ZoneInfo("UTC"))
    assert IsoWeek.containing(moment, HCM) == IsoWeek(2026, 49)


def test_weeks_between_covers_partial_weeks() -> None:
    weeks = list(weeks_between(date(2022, 7, 4), date(2022, 7, 20)))
    assert weeks == [IsoWeek(2022, 27), IsoWeek(2022, 28), IsoWeek(2022, 29)]


def test_local_time_in_dst_gap_moves_forward() -> None:
    # 2026-03-08 02:30 does not exist in New York (clocks jump 02:00 -> 03:00).
    moment = at_local(date(2026, 3, 8), time(2, 30), NEW_YORK)
    assert (moment.hour, moment.minute) == (3, 30)
    assert moment.utcoffset() == NEW_YORK.utcoffset(datetime(2026, 3, 9))


def test_local_time_in_doubled_hour_is_first_occurrence() -> None:
    # 2026-11-01 01:30 happens twice in New York; the first is still daylight time (-04:00).
    moment = at_local(date(2026, 11, 1), time(1, 30), NEW_YORK)
    assert moment.utcoffset() is not None
    assert moment.utcoffset().total_seconds() == -4 * 3600  # type: ignore[union-attr]
