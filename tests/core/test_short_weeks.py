"""Every short week of a plan, as runs of weeks (core.compliance.short_weeks)."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from ipfm_scheduler.core.compliance import ShortRun, short_weeks, week_count
from ipfm_scheduler.core.model import Programme, Ward
from ipfm_scheduler.core.weeks import IsoWeek, weeks_between
from tests.core.factories import once, programme, ward, weekly
from tests.core.test_properties import DAY0, ZONES, programmes, wards

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
TODAY = date(2026, 11, 27)


def test_a_compliant_plan_has_no_short_week() -> None:
    assert short_weeks(ward(weekly("mon", "06:00")), programme(), HCM, TODAY) is None


def test_a_ward_without_the_weekly_airing_is_short_in_every_week_of_an_open_campaign() -> None:
    w = ward(weekly("mon", "06:00", pid="other"))
    short = short_weeks(w, programme(), HCM, TODAY)
    assert short is not None
    assert short.runs == (ShortRun(IsoWeek(2022, 27), None),)
    assert str(short.runs[0]) == "every week from 2022-W27 on"
    assert short.weeks is None
    assert short.plain is not None
    assert short.plain.planned == 0


def test_a_closed_campaign_counts_its_weeks_and_leaves_out_the_mended_ones() -> None:
    """The example of issue 14: short from 2022-W27 to 2026-W49 and in 2027-W05, but a one-off
    date mends 2027-W01."""
    p = programme(until=date(2027, 2, 14))  # a Sunday: 2027-W06 is the last full week
    mended = weeks_between(date(2026, 12, 7), date(2027, 2, 14))  # 2026-W50 to 2027-W06
    w = ward(once(*(week.monday for week in mended if week != IsoWeek(2027, 5)), at="06:00"))
    short = short_weeks(w, p, HCM, TODAY)
    assert short is not None
    assert [str(r) for r in short.runs] == ["2022-W27 to 2026-W49", "2027-W05"]
    assert short.weeks == 231 + 1
    assert short.first.week == IsoWeek(2022, 27)
    assert short.first.planned == 0


def test_skipped_weeks_are_grouped_into_runs() -> None:
    skip = (date(2027, 2, 1), date(2027, 2, 15), date(2027, 2, 22), date(2027, 3, 29))
    short = short_weeks(ward(weekly("mon", "06:00"), skip=skip), programme(), HCM, TODAY)
    assert short is not None
    assert [str(r) for r in short.runs] == ["2027-W05", "2027-W07 to 2027-W08", "2027-W13"]
    assert short.weeks == 4
    assert short.plain is None
    assert [c.week for c in short.special] == [r.first for r in short.runs[:1]] + [
        IsoWeek(2027, 7),
        IsoWeek(2027, 8),
        IsoWeek(2027, 13),
    ]


def test_weeks_before_the_reference_are_not_checked_for_a_campaign_without_start() -> None:
    w = ward(weekly("mon", "06:00"), skip=(date(2026, 11, 2),))  # a week before TODAY's
    assert short_weeks(w, programme(start=None), HCM, TODAY) is None


@settings(max_examples=150, deadline=None)
@given(wards(), programmes(), st.sampled_from(ZONES))
def test_short_weeks_agree_with_checking_every_week(
    ward: Ward, programme: Programme, tz: ZoneInfo
) -> None:
    """The runs hold exactly the enforced weeks that a full scan finds short."""
    assert programme.start is not None
    assert programme.until is not None
    brute = [
        week
        for week in weeks_between(programme.start, programme.until)
        if (count := week_count(ward, programme, tz, week)).enforced and not count.compliant
    ]
    found = short_weeks(ward, programme, tz, reference=DAY0)
    listed: list[IsoWeek] = []
    for run in found.runs if found else ():
        assert run.last is not None
        weeks = list(weeks_between(run.first.monday, run.last.sunday))
        assert run.weeks == len(weeks)
        listed += weeks
    assert listed == brute
    assert (found.weeks if found else 0) == len(brute)
