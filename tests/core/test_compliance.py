"""The weekly minimum, on the plan and on the record."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from ipfm_scheduler.core.compliance import (
    first_short_week,
    week_count,
    week_counts,
)
from ipfm_scheduler.core.model import Receiver
from ipfm_scheduler.core.weeks import IsoWeek
from tests.core.factories import once, programme, ward, weekly

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
TODAY = date(2026, 11, 27)


def test_week_count_counts_planned_airings() -> None:
    count = week_count(ward(weekly("mon,thu", "06:00")), programme(), HCM, IsoWeek(2026, 48))
    assert (count.planned, count.minimum, count.enforced, count.compliant) == (2, 1, True, True)
    assert count.verdict == "ok"


def test_partial_first_week_is_reported_not_enforced() -> None:
    # the campaign starts on Wednesday 2026-11-25: week 48 is covered in part only
    p = programme(start=date(2026, 11, 25))
    count = week_count(ward(weekly("mon", "06:00")), p, HCM, IsoWeek(2026, 48))
    assert (count.planned, count.enforced, count.compliant) == (0, False, False)
    assert count.verdict == "short (partial week, not enforced)"


def test_ward_without_enabled_receivers_is_not_enforced() -> None:
    w = ward(weekly("mon", "06:00"), receivers=(Receiver("loa-01", enabled=False),))
    p = programme(min_per_week=3)
    assert not week_count(w, p, HCM, IsoWeek(2026, 48)).enforced
    assert first_short_week(w, p, HCM, TODAY) is None


def test_first_short_week_finds_a_skipped_week() -> None:
    w = ward(weekly("mon", "06:00"), skip=(date(2027, 2, 8),))  # Monday of 2027-W06
    short = first_short_week(w, programme(), HCM, TODAY)
    assert short is not None
    assert (short.week, short.planned, short.minimum) == (IsoWeek(2027, 6), 0, 1)


def test_one_off_date_repairs_a_skipped_week() -> None:
    w = ward(weekly("mon", "06:00"), once(date(2027, 2, 10), at="06:00"), skip=(date(2027, 2, 8),))
    assert first_short_week(w, programme(), HCM, TODAY) is None


def test_a_plan_without_the_programme_is_short_from_the_first_full_week() -> None:
    w = ward(weekly("mon", "06:00", pid="other"))
    short = first_short_week(w, programme(start=date(2022, 7, 6)), HCM, TODAY)
    assert short is not None
    assert short.week == IsoWeek(2022, 28)  # 2022-07-06 is a Wednesday: W27 is partial


def test_open_start_campaign_checks_from_the_reference_week() -> None:
    w = ward(weekly("mon", "06:00", pid="other"))
    short = first_short_week(w, programme(start=None), HCM, TODAY)
    assert short is not None
    assert short.week == IsoWeek(2026, 48)


def test_skip_after_the_campaign_is_not_enforced() -> None:
    p = programme(until=date(2026, 12, 31))
    w = ward(weekly("mon", "06:00"), skip=(date(2027, 2, 8),))
    assert first_short_week(w, p, HCM, TODAY) is None


def test_week_counts_lists_programmes_with_a_minimum_or_aired() -> None:
    extra = programme(pid="tin-tuc", min_per_week=0)
    unused = programme(pid="unused", min_per_week=0)
    w = ward(weekly("mon", "06:00"), weekly("tue", "17:10", pid="tin-tuc"))
    counts = week_counts(
        w, {"kh179": programme(), "tin-tuc": extra, "unused": unused}, HCM, IsoWeek(2026, 48)
    )
    assert [(c.programme, c.planned, c.verdict) for c in counts] == [
        ("kh179", 1, "ok"),
        ("tin-tuc", 1, "no minimum"),
    ]
