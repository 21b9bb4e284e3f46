"""``/``: this week at a glance. Every ward with its loudspeakers, each coloured by the weekly
rule (status_view.week_verdicts: the figures of `status`), whether each is online and when it was
last heard, the next airings, the commands waiting for an answer, the service's health, and the
last failures with their reasons (the airing log of `log`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from typing import Any

from ipfm_scheduler.cli.audit_render import origin_words, state_words
from ipfm_scheduler.cli.status_text import LOCAL_FORMAT
from ipfm_scheduler.cli.status_view import (
    WardWeek,
    next_airings,
    stored_week,
    waiting_commands,
    week_verdicts,
)
from ipfm_scheduler.cli.web.context import Context
from ipfm_scheduler.cli.web.html import esc, h2, legend, link, moment_text, para, table
from ipfm_scheduler.core.model import Ward
from ipfm_scheduler.core.records import ReceiverStatusRecord
from ipfm_scheduler.core.verdicts import ReceiverVerdict
from ipfm_scheduler.i18n import _, date_text
from ipfm_scheduler.service.http.app import Page
from ipfm_scheduler.storage.audit import LogFilter, LogRow, airing_log

FAILURES_SHOWN = 20
FAILURES_SINCE = timedelta(days=14)
FAILED_STATES = {"failed", "expired", "rejected"}


def page(ctx: Context) -> Page:
    assert ctx.loaded.station is not None
    tz, now, week = ctx.tz, ctx.now, ctx.week
    stored = stored_week(ctx.repo, tz, now)  # the completed commands counted, not read
    records = stored.records
    this_week = [r for r in records if r.start < week.end(tz)]
    verdicts = week_verdicts(ctx.loaded, this_week, now, ctx.repo, stored.completed_apart)
    heard = {(s.ward, s.receiver): s for s in ctx.repo.receivers_status()}
    lead = timedelta(seconds=ctx.loaded.station.dispatch.lead_s)
    waiting = waiting_commands(ctx.repo, records, tz, now, lead)
    with ctx.repo.reading() as conn:
        rows = airing_log(conn, LogFilter(start=now - FAILURES_SINCE))
    title = _("Week {week}: {monday} to {sunday}").format(
        week=week, monday=date_text(week.monday), sunday=date_text(week.sunday)
    )
    body = [
        f"<h1>{esc(title)}</h1>",
        _health(ctx.health),
        h2(_("Wards and loudspeakers")),
        legend(),
        _matrix(ctx, verdicts, heard),
        h2(_("Loudspeakers offline")),
        _offline(ctx, heard),
        h2(_("Next airings")),
        _next(next_airings(ctx.loaded, records, now)),
        h2(_("Commands waiting for an answer")),
        _waiting(waiting),
        h2(_("Last failures")),
        _failures(rows),
    ]
    return ctx.page(_("This week"), "\n".join(body))


def _health(health: Mapping[str, Any]) -> str:
    if not health:
        return para(_("Service health: not checked"), "badge off")
    problems = [f"{name}: {h.reason}" for name, h in health.items() if not h.ok]
    if not problems:
        return para(_("Service health: all checks pass"), "badge ok")
    items = "".join(f"<li>{esc(p)}</li>" for p in problems)
    return para(_("Service health: problems"), "badge bad") + f"<ul>{items}</ul>"


def cell_class(verdict: ReceiverVerdict | None) -> str:
    """green done, amber still possible this week, red short (or out of reach), grey off."""
    if verdict is None:
        return "off"
    if verdict.compliant:
        return "ok"
    if verdict.standing.value == "short" or verdict.at_risk:
        return "bad"
    return "wait" if verdict.standing.value == "pending" else "off"


def _matrix(
    ctx: Context,
    verdicts: Sequence[WardWeek],
    heard: Mapping[tuple[str, str], ReceiverStatusRecord],
) -> str:
    assert ctx.loaded.schedule is not None
    by_ward: dict[str, list[WardWeek]] = {}
    for w in verdicts:
        by_ward.setdefault(w.ward, []).append(w)
    rows = []
    for ward in sorted(ctx.loaded.schedule.wards.values(), key=lambda w: w.id):
        cells = "".join(
            _cell(ward, r, by_ward.get(ward.id, []), heard, ctx.tz) for r in ward.receivers
        )
        name = (
            link(f"/wards/{ward.id}", ward.name) + f'<br><span class="muted">{esc(ward.id)}</span>'
        )
        rows.append((name, f'<div class="cells">{cells}</div>'))
    for file in sorted(ctx.loaded.ward_files.values(), key=lambda f: f.path.name):
        if not file.valid:
            what = esc(file.path.name)
            if file.ward_id and file.ward_id in ctx.loaded.schedule.wards:
                continue
            problem = esc(_("the ward file has problems"))
            rows.append((what, f'<span class="bad">{problem}</span>'))
    return table([_("Ward"), _("Loudspeakers (confirmed / minimum this week)")], rows)


def _cell(
    ward: Ward,
    receiver: Any,
    weeks: Sequence[WardWeek],
    heard: Mapping[tuple[str, str], ReceiverStatusRecord],
    tz: tzinfo,
) -> str:
    status = heard.get((ward.id, receiver.id))
    if not receiver.enabled:
        cls, counts = "off", [esc(_("disabled"))]
    else:
        judged = [(w, w.verdicts.get(receiver.id)) for w in weeks]
        classes = [cell_class(v) for _w, v in judged]
        cls = next((c for c in ("bad", "wait", "off") if c in classes), "ok") if judged else "off"
        counts = [
            esc(f"{w.programme}: {v.completed}/{w.minimum}") for w, v in judged if v is not None
        ] or [esc(_("nothing to air this week"))]
    if status is None:
        dot, seen = "unknown", _("never heard")
    else:
        dot = "on" if status.online else "gone"
        seen = _("last heard {moment}").format(
            moment=moment_text(status.last_seen_at.astimezone(tz))
        )
    return (
        f'<div class="cell {cls}" title="{esc(receiver.location)}">'
        f'<b><span class="dot {dot}"></span>{esc(receiver.id)}</b>'
        f'{"<br>".join(counts)}<br><span class="muted">{esc(seen)}</span></div>'
    )


def _offline(ctx: Context, heard: Mapping[tuple[str, str], ReceiverStatusRecord]) -> str:
    assert ctx.loaded.schedule is not None
    rows = []
    for ward in sorted(ctx.loaded.schedule.wards.values(), key=lambda w: w.id):
        for r in ward.enabled_receivers:
            status = heard.get((ward.id, r.id))
            if status is None:
                rows.append((esc(ward.id), esc(r.id), esc(_("never heard")), ""))
            elif not status.online:
                rows.append((
                    esc(ward.id), esc(r.id),
                    esc(moment_text(status.since.astimezone(ctx.tz))),
                    esc(moment_text(status.last_seen_at.astimezone(ctx.tz))),
                ))  # fmt: skip
    return table([_("Ward"), _("Loudspeaker"), _("Offline since"), _("Last heard")], rows)


def _local(text: str | None) -> str:
    if not text:
        return ""
    try:
        return moment_text(datetime.strptime(text, LOCAL_FORMAT))
    except ValueError:
        return text


def _next(rows: Sequence[Mapping[str, Any]]) -> str:
    body = [
        (
            esc(_local(r["start"])),
            link(f"/wards/{r['ward']}", r["ward"]),
            esc(r["programme"]),
            esc(origin_words(r["origin"])),
            esc(r["receivers"]),
        )
        for r in rows
    ]
    return table(
        [_("Starts"), _("Ward"), _("Programme"), _("Origin"), _("Loudspeakers")],
        body,
        numeric=(4,),
    )


def _waiting(waiting: Mapping[str, Any]) -> str:
    counts = ", ".join(
        f"{state_words(state)}: {n}" for state, n in sorted(waiting["counts"].items())
    )
    parts = [para(counts or _("None."))]
    if waiting["stored_for_later"]:
        parts.append(
            "<p>"
            + esc(
                _("{count} stored for later airings (sent from {moment})").format(
                    count=waiting["stored_for_later"], moment=_local(waiting["next_sent_at"])
                )
            )
            + "</p>"
        )
    rows = [
        (esc(_local(w["start"])), esc(w["ward"]), esc(w["receiver"]), esc(state_words(w["state"])))
        for w in waiting["oldest"]
    ]
    if rows:
        parts.append(table([_("Airing"), _("Ward"), _("Loudspeaker"), _("State")], rows))
    return "\n".join(parts)


def failures(rows: Sequence[LogRow]) -> list[LogRow]:
    """The newest failed, expired or rejected commands, and missed airings: at most 20."""
    found = [
        r
        for r in rows
        if r.state in FAILED_STATES or (r.state is None and r.airing_outcome == "missed")
    ]
    return sorted(found, key=lambda r: (r.planned_start, r.ward, r.receiver or ""), reverse=True)[
        :FAILURES_SHOWN
    ]


def _failures(rows: Sequence[LogRow]) -> str:
    body = [
        (
            esc(_local_iso(r.planned_local)),
            link(f"/wards/{r.ward}", r.ward),
            esc(r.receiver or "-"),
            esc(state_words(r.state) if r.state else _("missed")),
            esc(r.detail or r.note or ""),
        )
        for r in failures(rows)
    ]
    return table([_("Airing"), _("Ward"), _("Loudspeaker"), _("Outcome"), _("Reason")], body)


def _local_iso(text: str) -> str:
    try:
        return moment_text(datetime.fromisoformat(text))
    except ValueError:
        return text
