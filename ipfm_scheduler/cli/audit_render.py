"""Rendering the auditors' answers: an aligned table for people, CSV for Excel (UTF-8 with a
byte-order mark, so Vietnamese names open correctly), JSON for tools. Times are shown in the
station's zone with their offset."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any

from ipfm_scheduler.core.verdicts import Standing
from ipfm_scheduler.storage.audit import LogRow, zone_name
from ipfm_scheduler.storage.report import GroupLine, WeekReport

REPORT_COLUMNS = (
    "week",
    "ward",
    "ward_name",
    "programme",
    "programme_title",
    "minimum",
    "enforced",
    "airings_planned",
    "makeup_airings",
    "commands_sent",
    "ward_verdict",
    "receiver",
    "location",
    "receiver_commands_sent",
    "completed",
    "verdict",
    "reason",
    "log_heads",
)
LOG_COLUMNS = (
    "planned_local",
    "week",
    "ward",
    "programme",
    "origin",
    "priority",
    "airing_outcome",
    "receiver",
    "command_id",
    "state",
    "attempts",
    "first_sent",
    "state_at",
    "receiver_time",
    "detail",
    "played_s",
    "airing_id",
    "note",
)


def local_iso(moment: datetime | None, zone: tzinfo) -> str:
    return "" if moment is None else moment.astimezone(zone).isoformat(timespec="seconds")


def local_iso_or_none(moment: datetime | None, zone: tzinfo) -> str | None:
    return None if moment is None else local_iso(moment, zone)


def local_short(moment: datetime | None, zone: tzinfo) -> str:
    return "" if moment is None else f"{moment.astimezone(zone):%Y-%m-%d %H:%M}"


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_LINE_BREAKS = re.compile(r"[ \t]*(?:\r\n|\r|\n)+[ \t]*")


def csv_bytes(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> bytes:
    """CSV as Excel opens it right: UTF-8 with a byte-order mark, CRLF line ends. Missing values
    are empty cells; text that Excel would take for a formula is made plain text (see
    :func:`csv_cell`)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\r\n")
    writer.writeheader()
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
        state = "finished"
    elif report.ended:
        until = local_short(report.final_at, zone)
        state = f"over, verdicts pending until {until}: answers may still come in until then"
    else:
        state = "not over yet: counts may still grow"
    return f"Week {week}: Monday {week.monday} to Sunday {week.sunday} ({zone_name(zone)}), {state}"


def nothing_recorded(report: WeekReport, wanted: str) -> str:
    return (
        f"nothing recorded for week {report.week} ({wanted}): no airing was planned or sent; "
        "this is not a compliant week, there is no record of it"
    )


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
    "ward",
    "name",
    "programme",
    "airings planned",
    "commands sent",
    "receivers completed",
    "min/week",
    "verdict",
)
REPORT_LEGEND = (
    "(airings planned: in the ward this week; commands sent: one per loudspeaker and airing;",
    " receivers completed: loudspeakers that confirmed `completed` at least min/week times)",
)


def report_table(report: WeekReport) -> str:
    headers = REPORT_HEADERS
    rows = [
        (
            g.ward,
            g.ward_name,
            g.programme,
            str(g.airings_planned) + (f" ({g.makeups} make-up)" if g.makeups else ""),
            str(g.commands_sent),
            f"{g.receivers_ok}/{len(g.receivers)}",
            str(g.minimum) + ("" if g.enforced else " (not enforced)"),
            g.standing.value.upper() if g.standing.value == "short" else g.standing.value,
        )
        for g in report.groups
    ]
    lines = [report_heading(report), "", *table(headers, rows), *REPORT_LEGEND]
    problems = [
        one_line(f"  {g.ward}/{r.receiver}: {r.standing.value}: {r.reason}")
        for g in report.groups
        for r in g.receivers
        if r.reason
    ]
    if problems:
        lines += ["", "Receivers not (yet) compliant:", *problems]
    lines += ["", _summary(report), "", *heads_lines(report)]
    return "\n".join(lines)


def heads_lines(report: WeekReport) -> list[str]:
    """The hash chain's heads as the report was made: whoever keeps the printed report can
    check later that the airing log still holds what it was made from."""
    if not report.heads:
        return []
    return [
        "The airing log as this report saw it (its hash chain's heads; to check later that it",
        "still holds what this report was made from: ipfm-scheduler audit verify --head LINE",
        "for each line):",
        *(f"  {h.pin}" for h in report.heads),
    ]


def short_summary(report: WeekReport) -> str:
    short = [g for g in report.groups if g.standing.value == "short"]
    pairs = ", ".join(f"{g.ward}/{g.programme}" for g in short[:5])
    more = f" and {len(short) - 5} more" if len(short) > 5 else ""
    return f"week {report.week} is short: {pairs}{more}"


def _summary(report: WeekReport) -> str:
    counts: dict[str, int] = {}
    for g in report.groups:
        counts[g.standing.value] = counts.get(g.standing.value, 0) + 1
    listed = ", ".join(f"{n} {standing}" for standing, n in sorted(counts.items()))
    total = len(report.groups)
    return f"{total} ward/programme pair{'s' if total != 1 else ''}: {listed}"


# --- the airing log ---------------------------------------------------------------------------


def log_rows(rows: Sequence[LogRow], zone: tzinfo) -> list[dict[str, Any]]:
    """One dict per row; a missing value is None (null in JSON, an empty cell in CSV)."""
    return [
        {
            "planned_local": r.planned_local,
            "week": r.week,
            "ward": r.ward,
            "programme": r.programme,
            "origin": r.origin,
            "priority": r.priority,
            "airing_outcome": r.airing_outcome,
            "receiver": r.receiver,
            "command_id": r.command_id,
            "state": r.state or "no command",
            "attempts": r.attempts,
            "first_sent": local_iso_or_none(r.first_sent_at, zone),
            "state_at": local_iso_or_none(r.state_at, zone),
            "receiver_time": local_iso_or_none(r.receiver_at, zone),
            "detail": r.detail or None,
            "played_s": r.played_s,
            "airing_id": r.airing_id,
            "note": r.note or None,
        }
        for r in rows
    ]


#: "sent at": when the broker first took the command; "state at": when the state shown was
#: learnt (for `completed`, when the loudspeaker confirmed it had played the whole recording)
LOG_HEADERS = (
    "planned",
    "ward",
    "programme",
    "origin",
    "receiver",
    "sent at",
    "state",
    "state at",
    "detail",
)


def log_table(rows: Sequence[LogRow], zone: tzinfo) -> str:
    body = [
        (
            r.planned_local.replace("T", " "),
            r.ward,
            r.programme,
            r.origin,
            r.receiver or "-",
            local_short(r.first_sent_at, zone),
            _table_state(r),
            local_short(r.state_at, zone) if r.state else "",
            r.detail or (r.note or "" if _missed(r) else ""),
        )
        for r in rows
    ]
    footer = f"{len(rows)} row{'s' if len(rows) != 1 else ''} (times in {zone_name(zone)})"
    return "\n".join([*table(LOG_HEADERS, body), "", footer])


def _missed(row: LogRow) -> bool:
    """An airing recorded missed (its window closed before anything was sent): no command will
    ever come for it."""
    return row.state is None and row.airing_outcome == "missed"


def _table_state(row: LogRow) -> str:
    if row.state:
        return row.state
    return "missed" if _missed(row) else "no command"
