"""Rendering the auditors' answers: an aligned table for people, CSV for Excel (UTF-8 with a
byte-order mark, so Vietnamese names open correctly), JSON for tools. Times are shown in the
station's zone with their offset.

The table speaks the language chosen (dates ``dd/mm/yyyy`` in Vietnamese); the CSV's header row
too, while its cells keep the values JSON gives (codes, ISO 8601 times, reasons in English), so
that a spreadsheet or a script reads them the same in either language. JSON never changes with
the language."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, tzinfo
from typing import Any

from ipfm_scheduler.core.model import Origin
from ipfm_scheduler.core.verdicts import STATE_WORDS, Standing
from ipfm_scheduler.i18n import N_, _, date_text, ngettext
from ipfm_scheduler.storage.audit import zone_name
from ipfm_scheduler.storage.report import GroupLine, WeekReport

#: the CSV's columns: each is its English header (and the JSON key where there is one); the
#: header row gives them in the language spoken
REPORT_COLUMNS = (
    N_("week"), N_("ward"), N_("ward_name"), N_("programme"), N_("programme_title"), N_("minimum"),
    N_("enforced"), N_("airings_planned"), N_("makeup_airings"), N_("commands_sent"),
    N_("ward_verdict"), N_("receiver"), N_("location"), N_("receiver_commands_sent"),
    N_("completed"), N_("unverified"), N_("verdict"), N_("reason"), N_("log_heads"),
)  # fmt: skip
#: how an airing came to be, as people read it (the log's table, `status`)
ORIGIN_WORDS = {
    Origin.SCHEDULED.value: N_("scheduled"),
    Origin.MAKEUP.value: N_("makeup"),
    Origin.MANUAL.value: N_("manual"),
    Origin.EMERGENCY.value: N_("emergency"),
}
_STATE_WORDS = {state.value: words for state, words in STATE_WORDS.items()}


def origin_words(origin: str) -> str:
    """An airing's origin in the language spoken (an unknown one as recorded)."""
    return _(ORIGIN_WORDS[origin]) if origin in ORIGIN_WORDS else origin


def state_words(state: str) -> str:
    """A command's state in the language spoken (an unknown one as recorded)."""
    return _(_STATE_WORDS[state]) if state in _STATE_WORDS else state


def local_iso(moment: datetime | None, zone: tzinfo) -> str:
    return "" if moment is None else moment.astimezone(zone).isoformat(timespec="seconds")


def local_iso_or_none(moment: datetime | None, zone: tzinfo) -> str | None:
    return None if moment is None else local_iso(moment, zone)


def local_short(moment: datetime | None, zone: tzinfo) -> str:
    """``2025-11-24 06:00`` (``24/11/2025 06:00`` in Vietnamese), in ``zone``, for people."""
    if moment is None:
        return ""
    local = moment.astimezone(zone)
    return f"{date_text(local)} {local:%H:%M}"


def local_text(iso: str) -> str:
    """A recorded local ISO time (``2025-11-24T06:00:00+07:00``) for people:
    ``2025-11-24 06:00:00+07:00``, ``24/11/2025 06:00:00+07:00`` in Vietnamese."""
    day, sep, clock = iso.partition("T")
    try:
        return f"{date_text(date.fromisoformat(day))} {clock}" if sep else iso
    except ValueError:  # not as the service records it: shown as it is
        return iso.replace("T", " ")


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_LINE_BREAKS = re.compile(r"[ \t]*(?:\r\n|\r|\n)+[ \t]*")


def csv_bytes(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> bytes:
    """CSV as Excel opens it right: UTF-8 with a byte-order mark, CRLF line ends. Missing values
    are empty cells; text that Excel would take for a formula is made plain text (see
    :func:`csv_cell`)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\r\n")
    writer.writerow({c: csv_cell(_(c)) for c in columns})  # the header, in the language spoken
    writer.writerows({k: csv_cell(v) for k, v in row.items()} for row in rows)
    return out.getvalue().encode("utf-8-sig")


def csv_cell(value: Any) -> Any:
    """A text cell that begins with = + - @, a tab or a carriage return gets a leading single
    quote, so that Excel shows it as text instead of running it as a formula (OWASP's advice
    against CSV injection: a ward name such as ``=HYPERLINK(...)``). Numbers stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def one_line(text: str) -> str:
    """``text`` on one line, for the table: line breaks become " / "."""
    return _LINE_BREAKS.sub(" / ", text).replace("\t", " ")


def json_bytes(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    rows = [tuple(one_line(cell) for cell in row) for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = [tuple(headers), *rows]
    return [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    ]


# --- the weekly report ------------------------------------------------------------------------


def report_heading(report: WeekReport) -> str:
    week, zone = report.week, report.zone
    if report.finished:
        state = _("finished")
    elif report.ended:
        state = _(
            "over, verdicts pending until {until}: answers may still come in until then"
        ).format(until=local_short(report.final_at, zone))
    else:
        state = _("not over yet: counts may still grow")
    return _("Week {week}: Monday {monday} to Sunday {sunday} ({zone}), {state}").format(
        week=week,
        monday=date_text(week.monday),
        sunday=date_text(week.sunday),
        zone=zone_name(zone),
        state=state,
    )


def _english(message: str) -> str:
    return message


def nothing_recorded(
    report: WeekReport, ward: str | None, programme: str | None, *, english: bool = False
) -> str:
    """What is said for a week with nothing recorded: in the language spoken, or in English
    (``english``: the ``message`` of the JSON, which never changes with the language)."""
    return _nothing_recorded(report, ward, programme, _english if english else _)


def _nothing_recorded(
    report: WeekReport, ward: str | None, programme: str | None, _: Callable[[str], str]
) -> str:
    wanted = [
        _(template).format(id=value)
        for template, value in ((N_("ward {id}"), ward), (N_("programme {id}"), programme))
        if value
    ]
    return _(
        "nothing recorded for week {week} ({wanted}): no airing was planned or sent; "
        "this is not a compliant week, there is no record of it"
    ).format(week=report.week, wanted=", ".join(wanted) or _("all wards"))


def nothing_recorded_bytes(report: WeekReport, message: str, fmt: str) -> bytes:
    """The file written for a week with nothing recorded: the CSV header alone, or the heading
    and the message (JSON: :func:`report_json` with the message)."""
    if fmt == "csv":
        return csv_bytes(REPORT_COLUMNS, [])
    return (f"{report_heading(report)}\n\n{message}\n").encode()


def report_rows(report: WeekReport) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    heads = " ".join(h.pin for h in report.heads)  # the same on every row
    for group in report.groups:
        base = _group_fields(report, group) | {"enforced": "yes" if group.enforced else "no"}
        base |= {"log_heads": heads}
        if not group.receivers:
            rows.append(base | {"verdict": group.standing.value})
        for r in group.receivers:
            rows.append(
                base
                | {
                    "receiver": r.receiver,
                    "location": r.location,
                    "receiver_commands_sent": r.commands_sent,
                    "completed": r.completed,
                    "unverified": r.unverified,
                    "verdict": r.standing.value,
                    "reason": r.reason,
                }
            )
    return rows


def _group_fields(report: WeekReport, group: GroupLine) -> dict[str, Any]:
    return {
        "week": str(report.week),
        "ward": group.ward,
        "ward_name": group.ward_name,
        "programme": group.programme,
        "programme_title": group.title,
        "minimum": group.minimum,
        "enforced": group.enforced,
        "airings_planned": group.airings_planned,
        "makeup_airings": group.makeups,
        "commands_sent": group.commands_sent,
        "ward_verdict": group.standing.value,
    }


def report_json(report: WeekReport) -> dict[str, Any]:
    verdict = "short" if report.short else "compliant"
    if not report.short and any(g.standing is Standing.PENDING for g in report.groups):
        verdict = "pending"  # not final yet: never "compliant" while counts may still change
    if not report.recorded:
        verdict = "nothing recorded"
    return {
        "week": str(report.week),
        "timezone": zone_name(report.zone),
        "from": local_iso(report.start, report.zone),
        "until": local_iso(report.end, report.zone),
        "finished": report.finished,
        "final_at": local_iso(report.final_at, report.zone),
        "recorded": report.recorded,
        "verdict": verdict,
        # the airing log as this report saw it: `audit verify --head` checks it later
        "log_heads": [
            {"table": h.table, "rows": h.seq, "head": h.hash, "pin": h.pin} for h in report.heads
        ],
        "groups": [
            {k: v for k, v in _group_fields(report, g).items() if k != "week"}
            | {
                "receivers_compliant": g.receivers_ok,
                "receivers": [
                    {
                        "receiver": r.receiver,
                        "location": r.location,
                        "commands_sent": r.commands_sent,
                        "completed": r.completed,
                        "unverified": r.unverified,
                        "verdict": r.standing.value,
                        "reason": r.reason,
                    }
                    for r in g.receivers
                ],
            }
            for g in report.groups
        ],
    }


REPORT_HEADERS = (
    N_("ward"), N_("name"), N_("programme"), N_("airings planned"), N_("commands sent"),
    N_("receivers completed"), N_("min/week"), N_("verdict"),
)  # fmt: skip
REPORT_LEGEND = (
    N_("(airings planned: in the ward this week; commands sent: one per loudspeaker and airing;"),
    N_(" receivers completed: loudspeakers that confirmed `completed` at least min/week times)"),
)


def report_table(report: WeekReport) -> str:
    rows = [
        (
            g.ward,
            g.ward_name,
            g.programme,
            _("{planned} ({makeups} make-up)").format(planned=g.airings_planned, makeups=g.makeups)
            if g.makeups
            else str(g.airings_planned),
            str(g.commands_sent),
            f"{g.receivers_ok}/{len(g.receivers)}",
            str(g.minimum)
            if g.enforced
            else _("{minimum} (not enforced)").format(minimum=g.minimum),
            g.standing.words.upper() if g.standing is Standing.SHORT else g.standing.words,
        )
        for g in report.groups
    ]
    headers = [_(h) for h in REPORT_HEADERS]
    lines = [report_heading(report), "", *table(headers, rows), *(_(t) for t in REPORT_LEGEND)]
    problems = [
        one_line(f"  {g.ward}/{r.receiver}: {r.standing.words}: {r.why.words()}")
        for g in report.groups
        for r in g.receivers
        if r.why is not None and r.reason
    ]
    if problems:
        lines += ["", _("Receivers not (yet) compliant:"), *problems]
    unverified = [
        "  "
        + _("{ward}/{receiver}: {unverified} of {completed} completed UNVERIFIED").format(
            ward=g.ward, receiver=r.receiver, unverified=r.unverified, completed=r.completed
        )
        for g in report.groups
        for r in g.receivers
        if r.unverified
    ]
    if unverified:
        lines += ["", _("Counted on unsigned answers (protocol version 1, accept_unsigned):")]
        lines += unverified
    lines += ["", summary(report), "", *heads_lines(report)]
    return "\n".join(lines)


def heads_lines(report: WeekReport) -> list[str]:
    """The hash chain's heads as the report was made: whoever keeps the printed report can
    check later that the airing log still holds what it was made from."""
    if not report.heads:
        return []
    return [
        _(
            "The airing log as this report saw it (its hash chain's heads; to check later that it\n"
            "still holds what this report was made from: ipfm-scheduler audit verify --head LINE\n"
            "for each line):"
        ),
        *(f"  {h.pin}" for h in report.heads),
    ]


def short_summary(report: WeekReport) -> str:
    short = [g for g in report.groups if g.standing is Standing.SHORT]
    pairs = ", ".join(f"{g.ward}/{g.programme}" for g in short[:5])
    if len(short) > 5:
        pairs = _("{listed} and {count} more").format(listed=pairs, count=len(short) - 5)
    return _("week {week} is short: {pairs}").format(week=report.week, pairs=pairs)


def summary(report: WeekReport) -> str:
    """``3 ward/programme pairs: 2 compliant, 1 short``: the pairs counted by standing."""
    counts: dict[Standing, int] = {}
    for g in report.groups:
        counts[g.standing] = counts.get(g.standing, 0) + 1
    listed = ", ".join(f"{n} {standing.words}" for standing, n in sorted(counts.items()))
    total = len(report.groups)
    return ngettext(
        "{count} ward/programme pair: {listed}", "{count} ward/programme pairs: {listed}", total
    ).format(count=total, listed=listed)
