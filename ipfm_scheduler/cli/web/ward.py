"""``/wards/<id>``: one ward this week. Its loudspeakers (online or not, last heard), its plan
for the week (core/expand.py), every airing with each loudspeaker's outcome and times (the airing
log of `log`), why a loudspeaker is short (the weekly report's reasons, core/verdicts.py), and the
ward file's problems when it is invalid."""

from __future__ import annotations

from datetime import datetime

from ipfm_scheduler.cli.audit_render import origin_words, state_words
from ipfm_scheduler.cli.status_view import week_verdicts
from ipfm_scheduler.cli.web.context import Context, NotFound
from ipfm_scheduler.cli.web.html import esc, h2, moment_text, table
from ipfm_scheduler.cli.web.reports import verdict_badge
from ipfm_scheduler.core.expand import expand_between
from ipfm_scheduler.core.model import Ward
from ipfm_scheduler.core.verdicts import Standing
from ipfm_scheduler.i18n import _, weekday_name
from ipfm_scheduler.service.http.app import Page
from ipfm_scheduler.storage.audit import LogFilter, LogRow, airing_log
from ipfm_scheduler.storage.report import WeekReport, week_report


def page(ctx: Context, ward_id: str) -> Page:
    assert ctx.loaded.schedule is not None
    ward = ctx.loaded.schedule.wards.get(ward_id)
    files = [f for f in ctx.loaded.ward_files.values() if f.ward_id == ward_id]
    if ward is None and not files:
        raise NotFound(ward_id)
    tz, week = ctx.tz, ctx.week
    name = ward.name if ward is not None else ward_id
    body = [f'<h1>{esc(name)} <span class="muted">({esc(ward_id)})</span></h1>']
    problems = [p for p in ctx.loaded.problems if any(p.file.endswith(f.path.name) for f in files)]
    if problems:
        body += [
            h2(_("Problems in the ward file")),
            '<ul class="problems">' + "".join(f"<li>{esc(p)}</li>" for p in problems) + "</ul>",
        ]
    with ctx.repo.reading() as conn:
        report = week_report(conn, week, now=ctx.now, ward=ward_id)
        rows = airing_log(conn, LogFilter(ward=ward_id, start=week.start(tz), end=week.end(tz)))
    title = _("Week {week}").format(week=week)
    if ward is not None:
        body += [
            h2(_("Loudspeakers")),
            _receivers(ctx, ward),
            h2(_("Plan for the week") + f" ({title})"),
            _plan(ctx, ward),
        ]
    body += [
        h2(_("This week so far")),
        _verdicts(report, _at_risk(ctx, ward_id) if ward is not None else set()),
        h2(_("Every airing of the week, with each loudspeaker")),
        _log(rows, ctx),
    ]
    return ctx.page(name, "\n".join(body))


def _receivers(ctx: Context, ward: Ward) -> str:
    heard = {(s.ward, s.receiver): s for s in ctx.repo.receivers_status()}
    rows = []
    for r in ward.receivers:
        status = heard.get((ward.id, r.id))
        if status is None:
            state, seen, cls = _("never heard"), "", "off"
        else:
            state = _("online") if status.online else _("offline")
            seen = moment_text(status.last_seen_at.astimezone(ctx.tz))
            cls = "ok" if status.online else "bad"
        if not r.enabled:
            state, cls = _("disabled"), "off"
        rows.append((
            esc(r.id), esc(r.location), f'<span class="badge {cls}">{esc(state)}</span>',
            esc(seen), esc(status.fw if status is not None and status.fw else ""),
        ))  # fmt: skip
    headers = [_("Loudspeaker"), _("Location"), _("State"), _("Last heard"), _("Firmware")]
    return table(headers, rows)


def _plan(ctx: Context, ward: Ward) -> str:
    assert ctx.loaded.schedule is not None
    week, tz = ctx.week, ctx.tz
    planned = expand_between(ward, ctx.loaded.schedule.programmes, tz, week.start(tz), week.end(tz))
    rows = []
    for a in planned:
        local = a.start.astimezone(tz)
        done = local < ctx.now
        rows.append((
            esc(weekday_name(local.date())), esc(moment_text(local)), esc(a.programme),
            esc(origin_words(a.origin.value)), esc(_("past") if done else _("to come")),
        ))  # fmt: skip
    headers = [_("Day"), _("Starts"), _("Programme"), _("Origin"), _("When")]
    return table(headers, rows)


def _at_risk(ctx: Context, ward: str) -> set[tuple[str, str]]:
    """(programme, receiver) of the ward's loudspeakers that can no longer reach the minimum
    this week without a make-up: red on the overview (status_view.week_verdicts)."""
    tz, week = ctx.tz, ctx.week
    records = ctx.repo.airings_between(week.start(tz), week.end(tz), [ward])
    return {
        (w.programme, receiver)
        for w in week_verdicts(ctx.loaded, records, ctx.now, ctx.repo)
        if w.ward == ward
        for receiver, verdict in w.verdicts.items()
        if verdict.at_risk
    }


def _verdicts(report: WeekReport, at_risk: set[tuple[str, str]]) -> str:
    rows = []
    for g in report.groups:
        for r in g.receivers:
            badge = verdict_badge(r.standing)
            if r.standing is Standing.PENDING and (g.programme, r.receiver) in at_risk:
                words = _("{standing}: out of reach this week").format(standing=r.standing.words)
                badge = f'<span class="badge bad">{esc(words)}</span>'
            rows.append((
                esc(g.programme), esc(r.receiver), esc(r.completed), esc(g.minimum),
                badge, esc(r.why.words() if r.why is not None else ""),
            ))  # fmt: skip
    headers = [
        _("Programme"), _("Loudspeaker"), _("Completed"), _("Minimum"), _("Verdict"),
        _("Why it is short"),
    ]  # fmt: skip
    return table(headers, rows, numeric=(2, 3))


def _log(rows: list[LogRow], ctx: Context) -> str:
    body = []
    for r in rows:
        state = (
            state_words(r.state)
            if r.state
            else (_("missed") if r.airing_outcome == "missed" else _("no command"))
        )
        body.append((
            esc(_iso(r.planned_local)), esc(r.programme), esc(origin_words(r.origin)),
            esc(r.receiver or "-"), esc(_moment(r.first_sent_at, ctx)),
            f'<span class="badge {_state_class(r.state)}">{esc(state)}</span>',
            esc(_moment(r.state_at, ctx)), esc(r.detail or r.note or ""),
        ))  # fmt: skip
    headers = [
        _("Planned"), _("Programme"), _("Origin"), _("Loudspeaker"), _("Sent at"), _("State"),
        _("State at"), _("Detail"),
    ]  # fmt: skip
    return table(headers, body)


def _state_class(state: str | None) -> str:
    if state == "completed":
        return "ok"
    if state in {"failed", "expired", "rejected"} or state is None:
        return "bad"
    return "wait"


def _moment(moment: datetime | None, ctx: Context) -> str:
    return "" if moment is None else moment_text(moment.astimezone(ctx.tz))


def _iso(text: str) -> str:
    try:
        return moment_text(datetime.fromisoformat(text))
    except ValueError:
        return text
