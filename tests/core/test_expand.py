"""Expanding a ward's schedule into airings: days, dates, skip_dates, campaigns, DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from ipfm_scheduler.core.expand import PlannedAiring, expand, expand_between
from ipfm_scheduler.core.model import Window
from tests.core.factories import ALL_DAYS, hm, once, programme, ward, weekly

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
PROGRAMMES = {"kh179": programme()}


def local(y: int, m: int, d: int, hh: int, mm: int, tz: ZoneInfo = HCM) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=tz)


def test_weekly_airings_land_on_their_days_in_local_time() -> None:
    w = ward(weekly("mon,thu", "06:00"))
    airings = expand(w, PROGRAMMES, HCM, date(2026, 11, 23), date(2026, 11, 29))
    assert [a.start for a in airings] == [local(2026, 11, 23, 6, 0), local(2026, 11, 26, 6, 0)]
    assert all(a.local_expires.time() == hm("06:30") for a in airings)  # the morning window's end
    assert airings[0].start.astimezone(UTC) == datetime(2026, 11, 22, 23, 0, tzinfo=UTC)


def test_skip_dates_and_one_off_dates() -> None:
    w = ward(
        weekly("mon,thu", "06:00"),
        once(date(2023, 1, 25), at="17:15"),
        skip=(date(2023, 1, 23), date(2023, 1, 26)),
    )
    airings = expand(w, PROGRAMMES, HCM, date(2023, 1, 23), date(2023, 1, 29))
    assert [(a.start, a.expires) for a in airings] == [
        (local(2023, 1, 25, 17, 15), local(2023, 1, 25, 18, 0))
    ]


def test_campaign_bounds_are_inclusive() -> None:
    short = {"kh179": programme(start=date(2026, 11, 24), until=date(2026, 11, 26))}
    w = ward(weekly("mon,tue,wed,thu,fri", "06:00"))
    days = [a.local_day.day for a in expand(w, short, HCM, date(2026, 11, 23), date(2026, 11, 29))]
    assert days == [24, 25, 26]


def test_unknown_programme_plans_nothing() -> None:
    w = ward(weekly("mon", "06:00", pid="other"))
    assert expand(w, PROGRAMMES, HCM, date(2026, 11, 23), date(2026, 11, 29)) == []


def test_same_programme_same_time_twice_is_one_airing() -> None:
    w = ward(weekly("mon", "06:00"), once(date(2026, 11, 23), at="06:00"))
    assert len(expand(w, PROGRAMMES, HCM, date(2026, 11, 23), date(2026, 11, 23))) == 1


def test_empty_and_reversed_ranges() -> None:
    w = ward(weekly("mon", "06:00"))
    assert expand(w, PROGRAMMES, HCM, date(2026, 11, 24), date(2026, 11, 23)) == []


def test_expand_between_filters_instants() -> None:
    w = ward(weekly("mon,tue", "06:00"))
    got = expand_between(w, PROGRAMMES, HCM, local(2026, 11, 23, 6, 1), local(2026, 11, 24, 6, 1))
    assert [a.start for a in got] == [local(2026, 11, 24, 6, 0)]


def test_dst_spring_forward_keeps_the_airing_and_the_wall_clock() -> None:
    ny = ZoneInfo("America/New_York")
    w = ward(
        weekly("sun", "02:30"),
        windows=(Window(ALL_DAYS, hm("01:00"), hm("05:00")),),
    )
    airings = expand(w, PROGRAMMES, ny, date(2026, 3, 1), date(2026, 3, 15))
    assert [a.local_start.strftime("%m-%d %H:%M %z") for a in airings] == [
        "03-01 02:30 -0500",
        "03-08 03:30 -0400",  # 02:30 does not exist that night: the first minute after the gap
        "03-15 02:30 -0400",
    ]
    # a week is still a week of airings: 7 days apart except across the change
    assert airings[2].start - airings[0].start == timedelta(days=14, hours=-1)


def test_dst_fall_back_airs_once_in_the_doubled_hour() -> None:
    ny = ZoneInfo("America/New_York")
    w = ward(weekly("sun", "01:30"), windows=(Window(ALL_DAYS, hm("01:00"), hm("05:00")),))
    airings = expand(w, PROGRAMMES, ny, date(2026, 11, 1), date(2026, 11, 1))
    assert len(airings) == 1
    assert airings[0].local_start.utcoffset() == timedelta(hours=-4)
    # the window closes at 05:00 standard time, 4.5 real hours later (the hour repeats)
    assert airings[0].expires - airings[0].start == timedelta(hours=4, minutes=30)


def test_planned_airing_key_is_stable_utc_identity() -> None:
    a = PlannedAiring(
        local(2026, 11, 23, 6, 0), "cam-trung", "kh179", local(2026, 11, 23, 6, 30), 80
    )
    assert a.key == "cam-trung/kh179/2026-11-22T23:00Z"
