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
from ipfm_scheduler.i18n import _, date_text, ngettext


def duration_words(seconds: float) -> str:
    """``85.2`` -> ``"1 min 25 s"`` (rounded up to the second)."""
    total = int(-(-seconds // 1))
    hours, rest = divmod(total, 3600)
    mins, secs = divmod(rest, 60)
    words = [_("{n} h").format(n=hours)] if hours else []
    if mins:
        words.append(_("{n} min").format(n=mins))
    if secs or not words:
        words.append(_("{n} s").format(n=secs))
    return " ".join(words)


def campaign_words(programme: Programme, reference: date) -> str:
    """``every ISO week from 2022-W27 on`` (the weeks the minimum is enforced in)."""
    first = first_full_week(programme, reference)
    last = last_full_week(programme)
    if last is None:
        return _("every ISO week from {first} on").format(first=first)
    return _("every ISO week from {first} to {last}").format(first=first, last=last)


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
    known = ", ".join(sorted(declared)) or _("none")
    hint = suggestion(name, list(declared))
    r.problem(
        fields.at("programme"),
        child(fields.path, "programme"),
        _(
            "{name} is not a programme of this station{hint} (the station's programmes: {known})"
        ).format(name=quote(name), hint=hint, known=known),
    )


def _days(airing: AiringSource) -> list[tuple[str, int]]:
    """(label, weekday) of each day the airing is planned on."""
    rule = airing.rule
    if rule.weekly:
        return [(DAY_NAMES[d], d) for d in sorted(rule.days)]
    return [(f"{date_text(d)} ({DAY_NAMES[d.weekday()]})", d.weekday()) for d in rule.dates]


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
        labels = ", ".join(label for label, _day in outside)
        open_then = [w for w in ward.windows if any(w.opens_on(d) for _label, d in outside)]
        shown = "; ".join(w.describe() for w in open_then) or _("none")
        r.problem(
            node,
            path,
            _(
                "{programme} at {at} on {days} starts outside every window open that day "
                "(windows open then: {windows})"
            ).format(programme=name, at=f"{at:%H:%M}", days=labels, windows=shown),
        )
    for window, days in overrun.items():
        assert duration_s is not None
        late = minutes(at) * 60 + duration_s - minutes(window.end) * 60
        r.problem(
            node,
            path,
            _(
                "{programme} lasts {length}: starting at {at} on {days} it runs {late} past the "
                "end of the window {window}"
            ).format(
                programme=name,
                length=duration_words(duration_s),
                at=f"{at:%H:%M}",
                days=", ".join(days),
                late=duration_words(late),
                window=f"{window.start:%H:%M}-{window.end:%H:%M}",
            ),
        )


def _check_dates(r: FileReader, ward: Ward, airing: AiringSource, programme: Programme) -> None:
    """One-off dates that would silently not air: skipped, or outside the campaign."""
    for index, day, node in date_nodes(airing):
        path = f"{child(airing.path, 'dates')}[{index}]"
        if day in ward.skip_dates:
            r.problem(
                node,
                path,
                _(
                    "{day} is also in skip_dates, so this airing would not happen: remove the "
                    "date from one of the two lists"
                ).format(day=date_text(day)),
            )
        elif not programme.runs_on(day):
            r.problem(
                node,
                path,
                _(
                    "{day} is outside the {programme} campaign ({start} to {until}), so this "
                    "airing would not happen"
                ).format(
                    day=date_text(day),
                    programme=programme.id,
                    start=date_text(programme.start) if programme.start else _("always"),
                    until=date_text(programme.until) if programme.until else _("open-ended"),
                ),
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
    minimum = _("the minimum is {minimum} ({weeks})").format(
        minimum=programme.min_per_week, weeks=campaign_words(programme, today)
    )
    if short.plain is not None:
        planned = short.plain.planned
        shown = "; ".join(w.describe() for w in ward.windows[:3]) or _("none")
        return ngettext(
            "{ward} plans {planned} airing of {programme} a week; {minimum}, so it is short in "
            "{weeks}: add a weekly airing of {programme} (days: [...] with an at inside a "
            "window; the windows: {windows})",
            "{ward} plans {planned} airings of {programme} a week; {minimum}, so it is short in "
            "{weeks}: add a weekly airing of {programme} (days: [...] with an at inside a "
            "window; the windows: {windows})",
            planned,
        ).format(
            ward=ward.id,
            planned=planned,
            programme=programme.id,
            minimum=minimum,
            weeks=_runs_words(short),
            windows=shown,
        )
    details = [_week_words(ward, c) for c in short.special[:DETAILED]]
    if len(short.special) > DETAILED:
        details.append("…")
    return ngettext(
        "{ward} plans fewer than {minimum_count} airing of {programme} in {weeks}; {minimum}; "
        "{details}: add a one-off airing of {programme} (dates: [...]) on another day of each "
        "short week",
        "{ward} plans fewer than {minimum_count} airings of {programme} in {weeks}; {minimum}; "
        "{details}: add a one-off airing of {programme} (dates: [...]) on another day of each "
        "short week",
        programme.min_per_week,
    ).format(
        ward=ward.id,
        minimum_count=programme.min_per_week,
        programme=programme.id,
        weeks=_runs_words(short),
        minimum=minimum,
        details="; ".join(details),
    )


def _runs_words(short: ShortWeeks) -> str:
    """``3 weeks: 2027-W05, 2027-W07 to 2027-W08``, or ``every week from 2022-W27 on``."""
    runs = [str(run) for run in short.runs[:SHOWN_RUNS]]
    if len(short.runs) > SHOWN_RUNS:
        more = len(short.runs) - SHOWN_RUNS
        runs.append(
            ngettext("and {n} more run of weeks", "and {n} more runs of weeks", more).format(n=more)
        )
    count = short.weeks
    if count is not None:
        return ngettext("{n} week: {runs}", "{n} weeks: {runs}", count).format(
            n=count, runs=", ".join(runs)
        )
    finite = sum(run.weeks or 0 for run in short.runs)
    if not finite:
        return runs[0]
    return ngettext("{n} week and then {runs}", "{n} weeks and then {runs}", finite).format(
        n=finite, runs=", ".join(runs)
    )


def _week_words(ward: Ward, count: WeekCount) -> str:
    """``2027-W05 (2027-02-01 to 2027-02-07): 0 airings, 2027-02-01 is a skip date``."""
    week = count.week
    words = ngettext(
        "{week} ({monday} to {sunday}): {n} airing",
        "{week} ({monday} to {sunday}): {n} airings",
        count.planned,
    ).format(
        week=week, monday=date_text(week.monday), sunday=date_text(week.sunday), n=count.planned
    )
    skipped = sorted(d for d in ward.skip_dates if week.monday <= d <= week.sunday)
    if not skipped:
        return words
    listed = ", ".join(date_text(d) for d in skipped)
    return ngettext(
        "{words}, {dates} is a skip date", "{words}, {dates} are skip dates", len(skipped)
    ).format(words=words, dates=listed)
