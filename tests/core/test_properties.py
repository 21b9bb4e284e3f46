"""Rules that must hold for every schedule, week and time zone (hypothesis)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from ipfm_scheduler.core.compliance import first_short_week, week_count
from ipfm_scheduler.core.expand import at_local, expand
from ipfm_scheduler.core.makeup import next_slot
from ipfm_scheduler.core.model import AiringRule, Programme, Receiver, Ward, Window
from ipfm_scheduler.core.weeks import IsoWeek, weeks_between

ZONES = [
    ZoneInfo(name)
    for name in (
        "Asia/Ho_Chi_Minh",
        "America/New_York",
        "Europe/Berlin",
        "Australia/Lord_Howe",  # 30-minute DST shift
        "America/Santiago",  # DST changes at midnight
        "Asia/Kathmandu",  # +05:45
    )
]
DAY0 = date(2025, 1, 6)  # a Monday

days = st.frozensets(st.integers(0, 6), min_size=1, max_size=7)
clock = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
some_dates = st.lists(st.integers(0, 180).map(lambda n: DAY0 + timedelta(days=n)), max_size=8)


@st.composite
def windows(draw: st.DrawFn) -> Window:
    start = draw(st.integers(0, 22 * 60))
    end = draw(st.integers(start + 1, 24 * 60 - 1))
    return Window(draw(days), time(start // 60, start % 60), time(end // 60, end % 60))


@st.composite
def rules(draw: st.DrawFn) -> AiringRule:
    if draw(st.booleans()):
        return AiringRule("kh179", draw(clock), draw(days))
    return AiringRule("kh179", draw(clock), dates=tuple(draw(some_dates.filter(bool))))


@st.composite
def wards(draw: st.DrawFn) -> Ward:
    return Ward(
        "w",
        "W",
        (Receiver("r1"), Receiver("r2", enabled=draw(st.booleans()))),
        tuple(draw(st.lists(windows(), min_size=1, max_size=3))),
        tuple(draw(st.lists(rules(), max_size=4))),
        frozenset(draw(some_dates)),
    )


@st.composite
def programmes(draw: st.DrawFn) -> Programme:
    start = DAY0 + timedelta(days=draw(st.integers(0, 30)))
    until = start + timedelta(days=draw(st.integers(0, 150)))
    return Programme("kh179", "t", "a.mp3", 60.0, draw(st.integers(1, 3)), start, until)


@settings(max_examples=150, deadline=None)
@given(wards(), programmes(), st.sampled_from(ZONES))
def test_first_short_week_agrees_with_checking_every_week(
    ward: Ward, programme: Programme, tz: ZoneInfo
) -> None:
    """The shortcut (special weeks + one plain week) finds exactly the week a full scan finds."""
    assert programme.start is not None
    assert programme.until is not None
    brute = None
    for week in weeks_between(programme.start, programme.until):
        count = week_count(ward, programme, tz, week)
        planned = len(expand(ward, {"kh179": programme}, tz, week.monday, week.sunday))
        assert count.planned == planned
        if count.enforced and not count.compliant:
            brute = week
            break
    found = first_short_week(ward, programme, tz, reference=DAY0)
    assert (found.week if found else None) == brute


@settings(max_examples=150, deadline=None)
@given(wards(), st.sampled_from(ZONES), st.integers(0, 150), st.integers(1, 40))
def test_expansion_splits_cleanly_and_keeps_wall_clock(
    ward: Ward, tz: ZoneInfo, offset: int, length: int
) -> None:
    """Expanding a range equals expanding its two halves; every airing starts at its rule's
    wall-clock time, except where a DST gap skipped that time."""
    programme = Programme("kh179", "t", "a.mp3", 60.0, 1)
    first = DAY0 + timedelta(days=offset)
    last = first + timedelta(days=length)
    middle = first + timedelta(days=length // 2)
    whole = expand(ward, {"kh179": programme}, tz, first, last)
    halves = expand(ward, {"kh179": programme}, tz, first, middle) + expand(
        ward, {"kh179": programme}, tz, middle + timedelta(days=1), last
    )
    assert whole == halves
    assert whole == sorted(whole)
    wanted = {r.at for r in ward.airings}
    for airing in whole:
        local = airing.local_start
        assert first <= local.date() <= last
        assert local.date() not in ward.skip_dates
        if local.time() not in wanted:  # only a DST gap may move it: its rule time didn't exist
            assert any(at_local(local.date(), t, tz).time() != t for t in wanted)


@settings(max_examples=150, deadline=None)
@given(
    wards(),
    st.sampled_from(ZONES),
    st.integers(0, 100),
    st.integers(0, 24 * 60 - 1),
    st.integers(1, 120),
)
def test_make_up_slot_fits_a_window_inside_the_same_week(
    ward: Ward, tz: ZoneInfo, day: int, minute: int, duration_min: int
) -> None:
    programme = Programme("kh179", "t", "a.mp3", duration_min * 60.0, 1)
    after = datetime.combine(DAY0 + timedelta(days=day), time(minute // 60, minute % 60), tz)
    slot = next_slot(ward, programme, tz, after)
    if slot is None:
        return
    local = slot.local_start
    assert slot.start >= after
    assert IsoWeek.of(local.date()) == IsoWeek.containing(after, tz)
    assert local.date() not in ward.skip_dates
    assert slot.start + programme.duration <= slot.expires
    assert any(w.starts_in(local.weekday(), local.time()) for w in ward.windows)
