"""What `ipfm-scheduler status` shows as text, in the language spoken, from the view that
:mod:`status_view` gathers (the view itself is the JSON, the same in every language: its texts
in English, its times as ``LOCAL_FORMAT``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ipfm_scheduler.cli.audit_render import origin_words, state_words
from ipfm_scheduler.core.verdicts import Reason
from ipfm_scheduler.i18n import N_, _, date_text, ngettext, weekday_name

LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S %z"  # the view's times (JSON); the text shows them by language


class Said(str):
    """A message as JSON gives it (the English text: this string) that ``status``'s text shows
    in the language spoken (:meth:`words`): the English template and its values are kept."""

    template: str
    values: dict[str, Any]

    def __new__(cls, template: str, **values: Any) -> Said:
        said = super().__new__(cls, template.format(**values))
        said.template, said.values = template, values
        return said

    def words(self) -> str:
        return _(self.template).format(**self.values)


def _words(value: Any) -> str:
    """What ``value`` says in the language spoken (a :class:`Said` or a :class:`Reason`), or
    the text as it is (what a receiver or the service wrote)."""
    return value.words() if isinstance(value, Said | Reason) else str(value)


def _shown(local: str | None) -> str:
    """A time of the view (``2026-11-24 05:28:00 +0700``) as people read it: the same in
    English, ``24/11/2026 05:28:00 +0700`` in Vietnamese."""
    if local is None:
        return ""
    try:
        moment = datetime.strptime(local, LOCAL_FORMAT)
    except ValueError:
        return local
    return f"{date_text(moment)} {moment:%H:%M:%S %z}"


def render_text(view: dict[str, Any]) -> str:
    lines = [
        _("{now} (week {week})").format(
            now=_shown(view["now"]), week=view["week"], weekday=_weekday(view["now"])
        ),
        "",
    ]
    service = view["service"]
    if service["running"]:
        lines.append(
            _(
                "service: running on {host} (pid {pid}) since {started}, last heartbeat {beat}"
            ).format(
                host=service["host"],
                pid=service["pid"],
                started=_shown(service["started_at"]),
                beat=_shown(service["last_beat_at"]),
            )
        )
        lines.append(_render_health(service.get("health")))
    else:
        lines.append(_("service: NOT running (no heartbeat in the last 20 s)"))
    if "lead" in view:
        lines += _render_lead(view["lead"])
    lines += ["", *_render_receivers(view["receivers"], service)]
    lines += ["", _("next airings:")]
    lines += [
        f"  {_shown(a['start'])}  {a['ward']:<12} {a['programme']:<8} "
        f"{origin_words(a['origin']):<9} "
        + (
            ngettext("{count} receiver", "{count} receivers", a["receivers"])
            if a["stored"]
            else ngettext(
                "{count} receiver (planned)", "{count} receivers (planned)", a["receivers"]
            )
        ).format(count=a["receivers"])
        for a in view["next_airings"]
    ] or ["  " + _("none in the next 36 hours")]
    lines += ["", _("this week's compliance so far ({week}):").format(week=view["week"])]
    for row in view["compliance"]:
        verdict = (
            _("{count} short").format(count=len(row["short"])) if row["short"] else _("on track")
        )
        lines.append(
            f"  {row['ward']:<12} {row['programme']:<8} "
            + _(
                "{confirmed}/{enabled} receivers confirmed (minimum {minimum} a week): {verdict}"
            ).format(
                confirmed=row["confirmed"],
                enabled=row["enabled"],
                minimum=row["minimum"],
                verdict=verdict,
            )
        )
        lines += [f"      {r}: {_words(reason)}" for r, reason in sorted(row["short"].items())]
    lines += ["", *_render_waiting(view["waiting"])]
    lines += ["", *_render_requests(view["requests"])]
    return "\n".join(lines)


REASON_WORDS = {
    "first": N_("the first leader"),
    "expired": N_("the lease of {previous} ran out"),
    "released": N_("{previous} gave the lead up"),
}


def _render_lead(lead: dict[str, Any]) -> list[str]:
    """Services on standby (PostgreSQL): who leads, who stands by, the latest changes."""
    leader = lead["leader"]
    if leader is None:
        lines = [_("leader: none yet")]
    else:
        line = _("leader: {host} (pid {pid}), epoch {epoch} since {since}").format(
            host=leader["host"], pid=leader["pid"], epoch=leader["epoch"],
            since=_shown(leader["since"]),
        )  # fmt: skip
        if not leader["lease_valid"]:
            line += " " + _("(its lease ran out at {at}: a standby takes over)").format(
                at=_shown(leader["lease_until"])
            )
        lines = [line]
    lines += [
        _("standby: {host} (pid {pid}) since {started}, last heartbeat {beat}").format(
            host=s["host"],
            pid=s["pid"],
            started=_shown(s["started_at"]),
            beat=_shown(s["last_beat_at"]),
        )
        for s in lead["standbys"]
    ] or [_("standby: none")]
    if lead["changes"]:
        lines.append(_("changes of leader (newest first):"))
    for c in lead["changes"]:
        previous = f"{c['previous_host']} (pid {c['previous_pid']})"
        why = _(REASON_WORDS.get(c["reason"], c["reason"])).format(previous=previous)
        lines.append(
            "  "
            + _("{at}: epoch {epoch}, {host} (pid {pid}): {why}").format(
                at=_shown(c["at"]), epoch=c["epoch"], host=c["host"], pid=c["pid"], why=why
            )
        )
    return lines


def _weekday(local: str | None) -> str:
    try:
        return weekday_name(datetime.strptime(local or "", LOCAL_FORMAT))
    except ValueError:
        return ""


def _render_receivers(receivers: dict[str, Any], service: dict[str, Any]) -> list[str]:
    health = service.get("health") or {}
    hearsay = ""
    if not service["running"]:
        hearsay = " " + _("(as last heard: no service is running to hear them now)")
    elif health.get("checked") and not health.get("broker_ok", True):
        hearsay = " " + _("(as last heard: the service is not connected to the broker now)")
    lines = [
        _(
            "receivers: {online} of {enabled} enabled online, {offline} offline, {never} never "
            "heard from{hearsay}"
        ).format(
            online=receivers["online"],
            enabled=receivers["enabled"],
            offline=len(receivers["offline"]),
            never=len(receivers["never_heard"]),
            hearsay=hearsay,
        )
    ]
    lines += [
        "  "
        + _("offline: {ward}/{receiver} since {since}").format(
            ward=o["ward"], receiver=o["receiver"], since=_shown(o["since"])
        )
        for o in receivers["offline"]
    ]
    if receivers["never_heard"]:
        lines.append(
            "  "
            + _("never heard from: {receivers}").format(
                receivers=", ".join(receivers["never_heard"])
            )
        )
    lines += [
        "  "
        + _(
            "clock off: {ward}/{receiver} is {offset} s from the service's clock (it plays by "
            "its own: set its time right, e.g. systemd-timesyncd)"
        ).format(ward=c["ward"], receiver=c["receiver"], offset=f"{c['offset_s']:+.0f}")
        for c in receivers["clock_off"]
    ]
    return lines


def _render_waiting(waiting: dict[str, Any]) -> list[str]:
    total = sum(waiting["counts"].values())
    detail = ", ".join(f"{n} {state_words(s)}" for s, n in sorted(waiting["counts"].items()))
    lines = [
        _("commands waiting for an answer: {total} ({detail})").format(total=total, detail=detail)
        if detail
        else _("commands waiting for an answer: {total}").format(total=total)
    ]
    lines += [
        f"  {_shown(w['start'])}  {w['ward']}/{w['receiver']}  {state_words(w['state'])}  "
        f"{w['command']}"
        for w in waiting["oldest"]
    ]
    if waiting["stored_for_later"]:
        lines.append(
            _(
                "commands stored for later airings: {count} (each is sent shortly before its "
                "airing; the first at {first})"
            ).format(count=waiting["stored_for_later"], first=_shown(waiting["next_sent_at"]))
        )
    return lines


def _render_health(health: dict[str, Any] | None) -> str:
    if health is None:
        return "  " + _("health: not asked")
    if not health["checked"]:
        return "  " + _("health: unknown: {why}").format(why=_words(health["why"]))
    if health["ok"]:
        return "  " + _("health: good ({parts}: {url})").format(
            parts=", ".join(health["parts"]), url=health["url"]
        )
    return "  " + _("health: PROBLEM: {problems} ({url})").format(
        problems="; ".join(_words(p) for p in health["problems"]), url=health["url"]
    )


def _render_requests(requests: list[dict[str, Any]]) -> list[str]:
    lines = [
        f"  #{r['id']} {_shown(r['requested_at'])}  {r['ward']}/{r['receiver'] or _('all')} "
        f"{r['programme']} {r['priority']}: {_request_state(r['state'])}"
        + (f": {r['message']}" if r["message"] else "")
        for r in requests
    ]
    return [
        _("requests by `air` in the last 24 hours (newest first):"),
        *(lines or ["  " + _("none")]),
    ]


_REQUEST_STATES = {
    "queued": N_("queued"),
    "taken": N_("taken"),
    "refused": N_("refused"),
    "done": N_("done"),
}


def _request_state(state: str) -> str:
    return _(_REQUEST_STATES[state]) if state in _REQUEST_STATES else state
