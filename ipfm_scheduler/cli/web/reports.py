"""``/weeks/<YYYY-Www>`` and ``/months/<YYYY-MM>``: the reports of `report --week` and
`report --month` as pages to read and print (A4: title, period, station, the table, totals,
generated-at, signature and seal), with the same figures as CSV and XLSX to download, and the
compliance chart of the last 12 weeks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ipfm_scheduler.cli.audit_render import (
    REPORT_COLUMNS,
    csv_bytes,
    heads_lines,
    nothing_recorded,
    report_heading,
    report_rows,
    summary,
)
from ipfm_scheduler.cli.month_render import (
    MONTH_COLUMNS,
    month_heading,
    month_rows,
    month_workbook,
    week_workbook,
)
from ipfm_scheduler.cli.web.chart import last_weeks, shares, svg
from ipfm_scheduler.cli.web.context import CSV, XLSX, Context
from ipfm_scheduler.cli.web.html import (
    STANDING_CLASS,
    esc,
    h2,
    link,
    motto,
    para,
    signature_block,
    table,
)
from ipfm_scheduler.core.verdicts import Standing
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.i18n import _, date_text
from ipfm_scheduler.service.http.app import Page
from ipfm_scheduler.storage.months import Month, MonthReport, month_report
from ipfm_scheduler.storage.report import WeekReport, week_report


def _download(data: bytes, content_type: str, name: str) -> Page:
    return Page(200, content_type, data, {"Content-Disposition": f'attachment; filename="{name}"'})


def week_page(ctx: Context, week: IsoWeek, ext: str | None) -> Page:
    with ctx.repo.reading() as conn:
        report = week_report(conn, week, now=ctx.now)
        if ext == ".csv":
            data = csv_bytes(REPORT_COLUMNS, report_rows(report))
            return _download(data, CSV, f"ipfm-report-{week}.csv")
        if ext == ".xlsx":
            return _download(week_workbook(report, ctx.now), XLSX, f"ipfm-report-{week}.xlsx")
        history = [week_report(conn, w, now=ctx.now) for w in last_weeks(week)[:-1]]
    title = _("Airing report, week {week}").format(week=week)
    body = [
        motto(),
        f"<h1>{esc(title)}</h1>",
        f"<p><b>{esc(ctx.station)}</b><br>{esc(report_heading(report))}</p>",
        _nav(f"/weeks/{week.previous()}", f"/weeks/{week.next()}", f"/weeks/{week}"),
        _week_table(report),
        _chart(ctx, [*history, report]),
        _heads(report),
        signature_block(_("Date: {date}").format(date=date_text(ctx.now))),
    ]
    return ctx.page(title, "\n".join(body))


def _nav(previous: str, following: str, here: str) -> str:
    return (
        '<p class="downloads">'
        + link(previous, _("« previous"))
        + link(following, _("next »"))
        + link(here + ".csv", _("Download CSV"))
        + link(here + ".xlsx", _("Download Excel (XLSX)"))
        + "</p>"
    )


def verdict_badge(standing: Standing) -> str:
    words = standing.words.upper() if standing is Standing.SHORT else standing.words
    return f'<span class="badge {STANDING_CLASS.get(standing.value, "")}">{esc(words)}</span>'


def _week_table(report: WeekReport) -> str:
    if not report.recorded:
        return f'<p class="bad">{esc(nothing_recorded(report, None, None))}</p>'
    rows: list[Sequence[str]] = []
    classes: list[str] = []
    for g in report.groups:
        ward = f"{esc(g.ward_name)}<br>" + link(f"/wards/{g.ward}", g.ward)
        minimum = (
            str(g.minimum)
            if g.enforced
            else _("{minimum} (not enforced)").format(minimum=g.minimum)
        )
        for n, r in enumerate(g.receivers):
            why = esc(r.why.words()) if r.why is not None else ""
            rows.append((
                ward if n == 0 else "", esc(g.programme) if n == 0 else "", esc(r.receiver),
                esc(r.location), esc(r.commands_sent), esc(r.completed), esc(minimum),
                verdict_badge(r.standing), f'<span class="bad-text">{why}</span>',
            ))  # fmt: skip
            classes.append("group" if n == 0 else "")
        if not g.receivers:
            badge = verdict_badge(g.standing)
            rows.append((ward, esc(g.programme), "-", "", "0", "0", esc(minimum), badge, ""))
            classes.append("group")
    headers = [
        _("Ward"), _("Programme"), _("Loudspeaker"), _("Location"), _("Commands sent"),
        _("Completed"), _("Minimum"), _("Verdict"), _("Reason"),
    ]  # fmt: skip
    ok = sum(g.receivers_ok for g in report.groups)
    counted = sum(len(g.receivers) for g in report.groups)
    totals = _("Total: {ok} of {count} loudspeakers met the minimum; {pairs}").format(
        ok=ok, count=counted, pairs=summary(report)
    )
    return (
        table(headers, rows, numeric=(4, 5, 6), classes=classes)
        + f'<p class="totals"><b>{esc(totals)}</b></p>'
    )


def _heads(report: WeekReport) -> str:
    lines = heads_lines(report)
    if not lines:
        return ""
    return f'<pre class="muted">{esc(chr(10).join(lines))}</pre>'


def _chart(ctx: Context, reports: Sequence[WeekReport]) -> str:
    assert ctx.loaded.schedule is not None
    values = shares(reports)
    names = {w.id: w.name for w in ctx.loaded.schedule.wards.values()}
    for report in reports:
        for g in report.groups:
            names.setdefault(g.ward, g.ward_name)
    wards = sorted(names.items())
    weeks = [r.week for r in reports]
    title = esc(_("Compliance per ward over the last {count} weeks").format(count=len(weeks)))
    return f'<h2>{title}</h2><div class="chart">{svg(wards, weeks, values)}</div>'


def month_page(ctx: Context, month: Month, ext: str | None) -> Page:
    with ctx.repo.reading() as conn:
        report = month_report(conn, month, now=ctx.now)
        if ext == ".csv":
            data = csv_bytes(MONTH_COLUMNS, month_rows(report))
            return _download(data, CSV, f"ipfm-report-{month}.csv")
        if ext == ".xlsx":
            data = month_workbook(report, ctx.now)
            return _download(data, XLSX, f"ipfm-report-{month}.xlsx")
        last = report.reports[-1].week
        shown = {r.week: r for r in report.reports}
        history = [shown.get(w) or week_report(conn, w, now=ctx.now) for w in last_weeks(last)]
    title = _("Airing report, month {month}").format(month=month)
    previous = Month(month.year - (month.month == 1), (month.month - 2) % 12 + 1)
    following = Month(month.year + (month.month == 12), month.month % 12 + 1)
    body = [
        motto(),
        f"<h1>{esc(title)}</h1>",
        f"<p><b>{esc(ctx.station)}</b><br>{esc(month_heading(report))}</p>",
        _nav(f"/months/{previous}", f"/months/{following}", f"/months/{month}"),
        _month_table(report),
        h2(_("Weeks")),
        _weeks_table(report),
        _chart(ctx, history),
        signature_block(_("Date: {date}").format(date=date_text(ctx.now))),
    ]
    return ctx.page(title, "\n".join(body))


def _month_table(report: MonthReport) -> str:
    if not report.recorded:
        return para(_("Nothing recorded in this month."), "bad")
    rows: list[Sequence[Any]] = []
    classes = []
    previous_ward = ""
    for line in report.lines:
        weeks = str(line.weeks) + (
            " " + _("({count} partial)").format(count=line.partial_weeks)
            if line.partial_weeks
            else ""
        )
        first = line.ward != previous_ward
        previous_ward = line.ward
        rows.append((
            f"{esc(line.ward_name)}<br>" + link(f"/wards/{line.ward}", line.ward) if first else "",
            esc(line.programme), esc(line.receiver or "-"), esc(line.location), esc(weeks),
            esc(line.weeks_compliant),
            f'<span class="badge bad">{line.weeks_short}</span>' if line.weeks_short else "0",
            esc(line.commands_sent),
            esc(line.completed),
        ))  # fmt: skip
        classes.append("group" if first else "")
    headers = [
        _("Ward"), _("Programme"), _("Loudspeaker"), _("Location"), _("Weeks"),
        _("Weeks compliant"), _("Weeks short"), _("Commands sent"), _("Completed"),
    ]  # fmt: skip
    ok = sum(1 for line in report.lines if line.weeks_compliant == line.weeks)
    totals = _("Total: {ok} of {count} loudspeakers met the minimum every week").format(
        ok=ok, count=len(report.lines)
    )
    return (
        table(headers, rows, numeric=(5, 6, 7, 8), classes=classes)
        + f'<p class="totals"><b>{esc(totals)}</b></p>'
    )


def _weeks_table(report: MonthReport) -> str:
    rows = []
    for r in report.reports:
        partial = _("yes") if report.month.partial(r.week) else _("no")
        if not r.recorded:
            verdict = _("nothing recorded")
        elif r.short:
            verdict = Standing.SHORT.words
        else:
            verdict = (Standing.COMPLIANT if r.finished else Standing.PENDING).words
        rows.append((
            link(f"/weeks/{r.week}", str(r.week)), esc(date_text(r.week.monday)),
            esc(date_text(r.week.sunday)), esc(partial), esc(verdict),
        ))  # fmt: skip
    headers = [_("Week"), _("Monday"), _("Sunday"), _("Runs into another month"), _("Verdict")]
    return table(headers, rows)
