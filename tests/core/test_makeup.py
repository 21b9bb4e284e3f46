"""Make-up slots: the ward's next window, inside the same ISO week, clear of other airings."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from ipfm_scheduler.core.makeup import ceil_minute, next_slot
from ipfm_scheduler.core.model import Origin
from tests.core.factories import programme, ward, weekly

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
P = programme(duration_s=600)  # ten minutes


def at(d: int, hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(2026, 11, d, hh, mm, ss, tzinfo=HCM)


def test_next_slot_is_now_when_a_window_is_open_and_free() -> None:
    slot = next_slot(ward(weekly("mon", "06:00", volume=65)), P, HCM, at(25, 5, 40, 10))
    assert slot is not None
    assert slot.local_start == at(25, 5, 41)  # rounded up to the minute
    assert slot.local_expires == at(25, 6, 30)
    assert (slot.origin, slot.volume) == (Origin.MAKEUP, 65)


def test_next_slot_moves_to_the_next_window_when_the_programme_no_longer_fits() -> None:
    slot = next_slot(ward(), P, HCM, at(25, 6, 21))  # 06:21 + 10 min > 06:30
    assert slot is not None
    assert slot.local_start == at(25, 17, 0)  # the evening window (weekdays)


def test_next_slot_skips_skip_dates_and_closed_days() -> None:
    w = ward(skip=(date(2026, 11, 26),))
    slot = next_slot(w, P, HCM, at(25, 18, 0))
    assert slot is not None
    assert slot.local_start == at(27, 5, 30)  # Thursday 26 is skipped


def test_next_slot_avoids_busy_intervals() -> None:
    busy = [(at(25, 5, 30), at(25, 5, 45)), (at(25, 5, 50), at(25, 6, 5))]
    slot = next_slot(ward(), P, HCM, at(25, 5, 30), busy=busy)
    assert slot is not None
    assert slot.local_start == at(25, 6, 5)  # 05:45-05:50 is too short for ten minutes


def test_no_slot_once_the_week_has_no_window_left() -> None:
    assert next_slot(ward(), P, HCM, at(29, 6, 25)) is None  # Sunday, after the last window
    # and never in the next week, even a second before midnight
    assert next_slot(ward(), P, HCM, at(29, 23, 59, 30)) is None


def test_no_slot_outside_the_campaign() -> None:
    ended = programme(duration_s=600, until=date(2026, 11, 24))
    assert next_slot(ward(), ended, HCM, at(25, 5, 0)) is None


def test_ceil_minute() -> None:
    assert ceil_minute(at(25, 5, 0)) == at(25, 5, 0)
    assert ceil_minute(at(25, 5, 0, 1)) == at(25, 5, 1)
    assert ceil_minute(at(25, 5, 0) + timedelta(microseconds=1)) == at(25, 5, 1)
