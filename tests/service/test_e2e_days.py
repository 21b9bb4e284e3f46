"""The end-to-end tests' ward airs its `soon()` airing once: late in the evening an airing
soon after midnight is written for tomorrow only (this morning's, in a window still open,
would be sent late too and double the commands)."""

from __future__ import annotations

from datetime import datetime

from tests.service.e2e import EVERY_DAY, VN, airing_days


def test_an_airing_later_today_is_written_for_every_day() -> None:
    friday_noon = datetime(2026, 11, 27, 12, 0, tzinfo=VN)
    assert airing_days("12:03", friday_noon) == EVERY_DAY
    assert airing_days("12:00", friday_noon) == EVERY_DAY  # this very minute: still to come


def test_an_airing_after_midnight_written_late_in_the_evening_is_for_tomorrow_only() -> None:
    friday_late = datetime(2026, 11, 27, 23, 56, tzinfo=VN)
    assert airing_days("00:03", friday_late) == "sat"
    sunday_late = datetime(2026, 11, 29, 23, 58, tzinfo=VN)
    assert airing_days("00:01", sunday_late) == "mon"


def test_a_time_that_is_not_one_is_left_for_validate_to_refuse() -> None:
    assert airing_days("25:00", datetime(2026, 11, 27, 23, 56, tzinfo=VN)) == EVERY_DAY
