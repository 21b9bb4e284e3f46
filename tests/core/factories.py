"""Small builders for core values, so tests read as the schedule they describe."""

from __future__ import annotations

from datetime import date, time

from ipfm_scheduler.core.model import AiringRule, Programme, Receiver, Ward, Window

ALL_DAYS = frozenset(range(7))
WEEKDAYS = frozenset(range(5))


def hm(text: str) -> time:
    hour, minute = text.split(":")
    return time(int(hour), int(minute))


def programme(
    *,
    min_per_week: int = 1,
    start: date | None = date(2022, 7, 4),
    until: date | None = None,
    duration_s: float = 600.0,
    pid: str = "kh179",
) -> Programme:
    return Programme(pid, "Kế hoạch 179", f"{pid}.mp3", duration_s, min_per_week, start, until)


def ward(
    *rules: AiringRule,
    windows: tuple[Window, ...] = (
        Window(ALL_DAYS, hm("05:30"), hm("06:30")),
        Window(WEEKDAYS, hm("17:00"), hm("18:00")),
    ),
    skip: tuple[date, ...] = (),
    receivers: tuple[Receiver, ...] = (Receiver("loa-01"), Receiver("loa-02")),
    wid: str = "cam-trung",
) -> Ward:
    return Ward(wid, "Phường Cẩm Trung", receivers, windows, rules, frozenset(skip))


def weekly(days: str, at: str, pid: str = "kh179", volume: int = 80) -> AiringRule:
    names = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    return AiringRule(pid, hm(at), frozenset(names.index(d) for d in days.split(",")), (), volume)


def once(*days: date, at: str, pid: str = "kh179") -> AiringRule:
    return AiringRule(pid, hm(at), frozenset(), tuple(days))
