"""The monthly report (`report --month`) as a table, CSV or JSON, and both reports as Excel
workbooks (`--format xlsx`, the web pages' download). The figures are those of
storage/months.py and storage/report.py; the CSV columns of the weekly report are
:data:`audit_render.REPORT_COLUMNS`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ipfm_scheduler.cli.audit_render import (
    REPORT_COLUMNS,
    report_heading,
    report_rows,
    table,
)
from ipfm_scheduler.cli.xlsx import Sheet, workbook_bytes
from ipfm_scheduler.i18n import N_, _, date_text
from ipfm_scheduler.storage.audit import zone_name
from ipfm_scheduler.storage.months import MonthReport
from ipfm_scheduler.storage.report import WeekReport

MONTH_COLUMNS = (
    N_("month"), N_("ward"), N_("ward_name"), N_("programme"), N_("programme_title"),
    N_("receiver"), N_("location"), N_("weeks"), N_("partial_weeks"), N_("weeks_compliant"),
    N_("weeks_short"), N_("commands_sent"), N_("completed"),
)  # fmt: skip
WEEK_COLUMNS = (
    N_("week"), N_("monday"), N_("sunday"), N_("partial"), N_("finished"), N_("verdict"),
)  # fmt: skip


def month_rows(report: MonthReport) -> list[dict[str, Any]]:
    return [
        {
            "month": str(report.month),
            "ward": line.ward,
            "ward_name": line.ward_name,
            "programme": line.programme,
            "programme_title": line.title,
            "receiver": line.receiver,
            "location": line.location,
            "weeks": line.weeks,
            "partial_weeks": line.partial_weeks,
            "weeks_compliant": line.weeks_compliant,
            "weeks_short": line.weeks_short,
            "commands_sent": line.commands_sent,
            "completed": line.completed,
        }
        for line in report.lines
    ]


def week_rows(report: MonthReport) -> list[dict[str, Any]]:
    """The month's weeks: dates as dates, whether each runs into another month."""
    return [
        {
            "week": str(r.week),
            "monday": r.week.monday,
            "sunday": r.week.sunday,
            "partial": report.month.partial(r.week),
            "finished": r.finished,
            "verdict": _verdict(r),
        }
        for r in report.reports
    ]


def _verdict(report: WeekReport) -> str:
    if not report.recorded:
        return "nothing recorded"
    return "short" if report.short else ("compliant" if report.finished else "pending")


def month_json(report: MonthReport) -> dict[str, Any]:
    return {
        "month": str(report.month),
        "first_day": report.month.first.isoformat(),
        "last_day": report.month.last.isoformat(),
        "finished": report.finished,
        "partial_weeks": [str(w) for w in report.partial],
        "weeks": [
            row | {"monday": row["monday"].isoformat(), "sunday": row["sunday"].isoformat()}
            for row in week_rows(report)
        ],
        "lines": [{k: v for k, v in row.items() if k != "month"} for row in month_rows(report)],
    }


def month_heading(report: MonthReport) -> str:
    month = report.month
    partial = ", ".join(str(w) for w in report.partial) or _("none")
    return _(
        "Month {month}: {first} to {last}; weeks {weeks}; weeks that run into another month "
        "(counted whole): {partial}"
    ).format(
        month=month,
        first=date_text(month.first),
        last=date_text(month.last),
        weeks=", ".join(str(r.week) for r in report.reports),
        partial=partial,
    )


MONTH_HEADERS = (
    N_("ward"), N_("programme"), N_("receiver"), N_("weeks"), N_("compliant"), N_("short"),
    N_("commands sent"), N_("completed"),
)  # fmt: skip


def month_table(report: MonthReport) -> str:
    rows = [
        (
            line.ward,
            line.programme,
            line.receiver or "-",
            str(line.weeks)
            + (
                " " + _("({count} partial)").format(count=line.partial_weeks)
                if line.partial_weeks
                else ""
            ),
            str(line.weeks_compliant),
            str(line.weeks_short),
            str(line.commands_sent),
            str(line.completed),
        )
        for line in report.lines
    ]
    return "\n".join([month_heading(report), "", *table([_(h) for h in MONTH_HEADERS], rows)])


def about_rows(period: str, zone: str, made: datetime, heads: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {"key": _("period"), "value": period},
        {"key": _("time zone"), "value": zone},
        {"key": _("generated at"), "value": made},
    ]
    return rows + [{"key": _("airing log head"), "value": h} for h in heads]


def week_workbook(report: WeekReport, made: datetime) -> bytes:
    """The weekly report: one row per receiver (the CSV's columns), and what it is about."""
    made = made.astimezone(report.zone)
    heads = [h.pin for h in report.heads]
    return workbook_bytes(
        [
            Sheet(
                str(report.week),
                [_(c) for c in REPORT_COLUMNS],
                REPORT_COLUMNS,
                report_rows(report),
            ),
            Sheet(
                _("about"),
                [_("what"), _("value")],
                ("key", "value"),
                [
                    *about_rows(report_heading(report), zone_name(report.zone), made, heads),
                    {"key": _("from"), "value": report.week.monday},
                    {"key": _("until"), "value": report.week.sunday},
                ],
            ),
        ]
    )


def month_workbook(report: MonthReport, made: datetime) -> bytes:
    zone = report.reports[0].zone if report.reports else made.tzinfo
    local = made.astimezone(zone)
    heads = [h.pin for h in report.reports[-1].heads] if report.reports else []
    return workbook_bytes(
        [
            Sheet(
                str(report.month), [_(c) for c in MONTH_COLUMNS], MONTH_COLUMNS, month_rows(report)
            ),
            Sheet(_("weeks"), [_(c) for c in WEEK_COLUMNS], WEEK_COLUMNS, week_rows(report)),
            Sheet(
                _("about"),
                [_("what"), _("value")],
                ("key", "value"),
                about_rows(month_heading(report), zone_name(zone) if zone else "UTC", local, heads),
            ),
        ]
    )
