"""Core values refuse to be built invalid."""

from __future__ import annotations

from datetime import date, time

import pytest

from ipfm_scheduler.core.model import AiringRule, Programme, Receiver, Ward, Window
from ipfm_scheduler.errors import ValueInvalid
from tests.core.factories import ALL_DAYS, hm, programme, ward, weekly


def test_window_must_end_after_it_starts() -> None:
    with pytest.raises(ValueInvalid, match="must end after it starts"):
        Window(ALL_DAYS, hm("18:00"), hm("17:00"))
    with pytest.raises(ValueInvalid, match="at least one day"):
        Window(frozenset(), hm("05:00"), hm("06:00"))


def test_window_holds_checks_start_and_end() -> None:
    window = Window(frozenset({0}), hm("05:30"), hm("06:30"))
    assert window.holds(0, hm("06:00"), 1800)
    assert not window.holds(0, hm("06:00"), 1801)  # runs one second past the end
    assert not window.holds(1, hm("06:00"), 60)  # closed on Tuesday
    assert not window.holds(0, hm("05:29"), 60)


def test_airing_rule_needs_days_or_dates_not_both() -> None:
    with pytest.raises(ValueInvalid, match="not both"):
        AiringRule("kh179", hm("06:00"))
    with pytest.raises(ValueInvalid, match="not both"):
        AiringRule("kh179", hm("06:00"), frozenset({0}), (date(2026, 1, 1),))


def test_airing_rule_checks_volume_and_time() -> None:
    with pytest.raises(ValueInvalid, match="volume"):
        AiringRule("kh179", hm("06:00"), frozenset({0}), volume=101)
    with pytest.raises(ValueInvalid, match="HH:MM"):
        AiringRule("kh179", time(6, 0, 30), frozenset({0}))


@pytest.mark.parametrize("bad", ["Cam-Trung", "", "x" * 65, "cẩm", "a b"])
def test_ids_follow_the_protocol(bad: str) -> None:
    with pytest.raises(ValueInvalid, match="not a valid id"):
        Receiver(bad)


def test_ward_refuses_duplicate_receivers() -> None:
    with pytest.raises(ValueInvalid, match="appears twice"):
        ward(weekly("mon", "06:00"), receivers=(Receiver("loa-01"), Receiver("loa-01")))


def test_enabled_receivers_leave_out_disabled_ones() -> None:
    w = ward(receivers=(Receiver("loa-01"), Receiver("loa-02", enabled=False)))
    assert [r.id for r in w.enabled_receivers] == ["loa-01"]


def test_campaign_cannot_end_before_it_starts() -> None:
    with pytest.raises(ValueInvalid, match="ends"):
        programme(start=date(2026, 1, 10), until=date(2026, 1, 1))
    with pytest.raises(ValueInvalid, match="positive"):
        Programme("kh179", "t", "a.mp3", 0.0)


def test_window_at_prefers_the_longest_open_window() -> None:
    w = Ward(
        "w",
        "W",
        (Receiver("r"),),
        (
            Window(ALL_DAYS, hm("05:00"), hm("06:00")),
            Window(frozenset({0}), hm("05:30"), hm("07:00")),
        ),
        (),
    )
    found = w.window_at(0, hm("05:45"))
    assert found is not None
    assert found.end == hm("07:00")
    assert w.window_at(1, hm("06:30")) is None
