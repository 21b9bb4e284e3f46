"""Checks of a ward file against the station: programmes it names, airings that start inside a
window and fit in it, one-off dates that will really air, and the weekly minimum."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from datetime import date, tzinfo

from ipfm_scheduler.config.reader import Fields, FileReader, child, quote, suggestion
from ipfm_scheduler.config.ward_file import AiringSource, WardSource, airing_fields, date_nodes
from ipfm_scheduler.core.compliance import (
    ShortWeeks,
    WeekCount,
    first_full_week,
    last_full_week,
    short_weeks,
)
from ipfm_scheduler.core.model import Programme, Ward, Window, minutes
from ipfm_scheduler.core.weeks import DAY_NAMES


def duration_words(seconds: float) -> str:
    """``85.2`` -> ``"1 min 25 s"`` (rounded up to the second)."""
    total = int(-(-seconds // 1))
    hours, rest = divmod(total, 3600)
    mins, secs = divmod(rest, 60)
    words = [f"{hours} h"] if hours else []
    if mins:
        words.append(f"{mins} min")
    if secs or not words:
        words.append(f"{secs} s")
    return " ".join(words)


def campaign_words(programme: Programme, reference: date) -> str:
    """``every ISO week from 2022-W27 on`` (the weeks the minimum is enforced in)."""
    first = first_full_week(programme, reference)
    last = last_full_week(programme)
    if last is None:
        return f"every ISO week from {first} on"
    return f"every ISO week from {first} to {last}"


def check_programmes(
    r: FileReader,
    source: WardSource,
    programmes: Mapping[str, Programme],
    declared: Collection[str] | None,
) -> None:
    """Each airing names a programme of the station, starts in a window and fits in it.

    The programme's name is checked in every airing, even one with other mistakes, so that
    every mistake is reported at once.
    """
    if declared is not None:
        for fields in airing_fields(source):
            _check_name(r, fields, declared)
    for airing in [*source.airings, *source.partial]:
        name = airing.rule.programme
        if declared is not None and name not in declared:
            continue  # reported above
        programme = programmes.get(name)
        if source.ward is not None and source.windows_ok:
            # a programme declared but broken in the station file (its recording not imported
            # yet, say) has no length: the airing's start is still checked against the windows
            duration = programme.duration_s if programme is not None else None
            _check_fit(r, source.ward, airing, name, duration)
        if programme is None:
            continue  # declared, but broken: the station file's problem says why
        if source.ward is not None:
            _check_dates(r, source.ward, airing, programme)


def _check_name(r: FileReader, fields: Fields, declared: Collection[str]) -> None:
    name = fields["programme"]
    if not isinstance(name, str) or name in declared:
        return
    known = ", ".join(sorted(declared)) or "none"
    hint = suggestion(name, list(declared))
    r.problem(
        fields.at("programme"),
        child(fields.path, "programme"),
        f"{quote(name)} is not a programme of this station{hint} "
        f"(the station's programmes: {known})",
    )


def _days(airing: AiringSource) -> list[tuple[str, int]]:
    """(label, weekday) of each day the airing is planned on."""
    rule = airing.rule
    if rule.weekly:
        return [(DAY_NAMES[d], d) for d in sorted(rule.days)]
    return [(f"{d} ({DAY_NAMES[d.weekday()]})", d.weekday()) for d in rule.dates]


def _check_fit(
    r: FileReader, ward: Ward, airing: AiringSource, name: str, duration_s: float | None
) -> None:
    """The airing of programme ``name`` starts in a window, and (its length known) fits."""
    at = airing.rule.at
    outside: list[tuple[str, int]] = []
    overrun: dict[Window, list[str]] = defaultdict(list)
    for label, weekday in _days(airing):
        window = ward.window_at(weekday, at)
        if window is None:
            outside.append((label, weekday))
        elif duration_s is not None and not window.holds(weekday, at, duration_s):
            overrun[window].append(label)
    node, path = airing.fields.at("at"), child(airing.path, "at")
    if outside:
        labels = ", ".join(label for label, _ in outside)
        open_then = [w for w in ward.windows if any(w.opens_on(d) for _, d in outside)]
        shown = "; ".join(w.describe() for w in open_then) or "none"
        r.problem(
            node,
            path,
            f"{name} at {at:%H:%M} on {labels} starts outside every window open that "
            f"day (windows open then: {shown})",
        )
    for window, days in overrun.items():
        assert duration_s is not None
        late = minutes(at) * 60 + duration_s - minutes(window.end) * 60
        r.problem(
            node,
            path,
            f"{name} lasts {duration_words(duration_s)}: starting at "
            f"{at:%H:%M} on {', '.join(days)} it runs {duration_words(late)} past the end "
            f"of the window {window.start:%H:%M}-{window.end:%H:%M}",
        )


def _check_dates(r: FileReader, ward: Ward, airing: AiringSource, programme: Programme) -> None:
    """One-off dates that would silently not air: skipped, or outside the campaign."""
    for index, day, node in date_nodes(airing):
        path = f"{child(airing.path, 'dates')}[{index}]"
        if day in ward.skip_dates:
            r.problem(
                node,
                path,
                f"{day} is also in skip_dates, so this airing would not happen: remove the "
                "date from one of the two lists",
            )
        elif not programme.runs_on(day):
            r.problem(
                node,
                path,
                f"{day} is outside the {programme.id} campaign "
                f"({programme.start or 'always'} to {programme.until or 'open-ended'}), so "
                "this airing would not happen",
            )


def check_weekly(
    r: FileReader,
    source: WardSource,
    programmes: Mapping[str, Programme],
    tz: tzinfo,
    today: date,
) -> None:
    """Every full campaign week plans at least ``min_per_week`` airings of each programme: one
    problem per programme, naming every short week (as runs) and what to add."""
    ward = source.ward
    if ward is None or source.fields is None:
        return
    node = source.fields.key_nodes.get("airings", source.fields.node)
    for programme in sorted(programmes.values(), key=lambda p: p.id):
        short = short_weeks(ward, programme, tz, today)
        if short is not None:
            r.problem(node, "airings", weekly_problem(ward, programme, short, today))


SHOWN_RUNS = 10  # runs of short weeks a message lists; the others are counted
DETAILED = 3  # short weeks with skip or one-off dates whose count is told, at most


def weekly_problem(ward: Ward, programme: Programme, short: ShortWeeks, today: date) -> str:
    """The weekly-minimum problem in words: how many weeks, which, and what to add."""
    minimum = f"the minimum is {programme.min_per_week} ({campaign_words(programme, today)})"
    if short.plain is not None:
        planned = short.plain.planned
        shown = "; ".join(w.describe() for w in ward.windows[:3]) or "none"
        return (
            f"{ward.id} plans {planned} airing{'s' * (planned != 1)} of {programme.id} a week; "
            f"{minimum}, so it is short in {_runs_words(short)}: add a weekly airing of "
            f"{programme.id} (days: [...] with an at inside a window; the windows: {shown})"
        )
    fewer = f"fewer than {programme.min_per_week} airing{'s' * (programme.min_per_week != 1)}"
    details = [_week_words(ward, c) for c in short.special[:DETAILED]]
    if len(short.special) > DETAILED:
        details.append("…")
    return (
        f"{ward.id} plans {fewer} of {programme.id} in {_runs_words(short)}; {minimum}; "
        f"{'; '.join(details)}: add a one-off airing of {programme.id} (dates: [...]) on another "
        "day of each short week"
    )


def _runs_words(short: ShortWeeks) -> str:
    """``3 weeks: 2027-W05, 2027-W07 to 2027-W08``, or ``every week from 2022-W27 on``."""
    runs = [str(run) for run in short.runs[:SHOWN_RUNS]]
    if len(short.runs) > SHOWN_RUNS:
        runs.append(f"and {len(short.runs) - SHOWN_RUNS} more runs of weeks")
    count = short.weeks
    if count is not None:
        return f"{count} week{'s' * (count != 1)}: {', '.join(runs)}"
    finite = sum(run.weeks or 0 for run in short.runs)
    if not finite:
        return runs[0]
    return f"{finite} week{'s' * (finite != 1)} and then {', '.join(runs)}"


def _week_words(ward: Ward, count: WeekCount) -> str:
    """``2027-W05 (2027-02-01 to 2027-02-07): 0 airings, 2027-02-01 is a skip date``."""
    week = count.week
    words = (
        f"{week} ({week.monday} to {week.sunday}): {count.planned} "
        f"airing{'s' * (count.planned != 1)}"
    )
    skipped = sorted(d for d in ward.skip_dates if week.monday <= d <= week.sunday)
    if not skipped:
        return words
    listed = ", ".join(str(d) for d in skipped)
    return f"{words}, {listed} {'is a skip date' if len(skipped) == 1 else 'are skip dates'}"
