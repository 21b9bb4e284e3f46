"""What `ipfm-scheduler status` shows, gathered from the database and the configuration."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime, timedelta, tzinfo
from typing import Any

from ipfm_scheduler.config.settings import HttpSettings, LoadedConfig
from ipfm_scheduler.core.commands import CommandState
from ipfm_scheduler.core.compliance import enforced
from ipfm_scheduler.core.expand import expand_between
from ipfm_scheduler.core.makeup import still_to_come
from ipfm_scheduler.core.records import AiringRecord
from ipfm_scheduler.core.verdicts import receiver_verdicts
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.storage.repository import Repository

NEXT = 10
#: a receiver whose clock is further off than this is named (a box plays by its own clock)
CLOCK_TOLERANCE_S = 5.0
WAITING_SHOWN = 10
REQUESTS_SHOWN = 10
REQUESTS_SINCE = timedelta(hours=24)
HEALTH_TIMEOUT_S = 5.0  # the service answers /healthz within its checks' 2 s limit


def _local(moment: datetime | None, tz: tzinfo) -> str | None:
    return None if moment is None else f"{moment.astimezone(tz):%Y-%m-%d %H:%M:%S %z}"


def gather(
    repo: Repository, loaded: LoadedConfig, now: datetime, *, live_within: timedelta
) -> dict[str, Any]:
    assert loaded.station is not None
    assert loaded.schedule is not None
    tz = loaded.schedule.timezone
    week = IsoWeek.containing(now, tz)
    records = repo.airings_between(week.start(tz), week.end(tz) + timedelta(days=2))
    live = repo.live_instance(now, live_within)
    service: dict[str, Any] = {"running": live is not None}
    if live is not None:
        service |= {
            "host": live.host,
            "pid": live.pid,
            "version": live.version,
            "started_at": _local(live.started_at, tz),
            "last_beat_at": _local(live.last_beat_at, tz),
        }
    this_week = [r for r in records if r.start < week.end(tz)]
    return {
        "now": _local(now, tz),
        "week": str(week),
        "service": service,
        "receivers": _receivers(repo, loaded, tz),
        "next_airings": _next(loaded, records, now),
        "compliance": _compliance(loaded, this_week, now, repo),
        "waiting": waiting_commands(
            repo, records, tz, now, timedelta(seconds=loaded.station.dispatch.lead_s)
        ),
        "requests": _requests(repo, now, tz),
    }


def service_health(
    http: HttpSettings, service: dict[str, Any], *, here: str, timeout_s: float = HEALTH_TIMEOUT_S
) -> dict[str, Any]:
    """What the running service's ``GET /healthz`` says (the checks that feed the systemd
    watchdog: scheduler, broker, database), asked over HTTP when it runs on this host.

    ``{"checked": True, "ok": ..., "problems": ["broker: not connected: reconnecting"], "url"}``,
    or ``{"checked": False, "why": ...}`` when it could not be asked."""
    if not service.get("running"):
        return {"checked": False, "why": "the service is not running"}
    if not http.enabled:
        return {"checked": False, "why": "its HTTP server is off in the station file (http:)"}
    if service.get("host") != here:
        return {"checked": False, "why": f"it runs on {service.get('host')}, not on {here}"}
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(http.host, http.host)
    url = f"http://{f'[{host}]' if ':' in host else host}:{http.port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:
            body = answer.read()
    except urllib.error.HTTPError as exc:  # 503: something is wrong; the body says what
        body = exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return {"checked": False, "url": url, "why": f"{url} did not answer ({reason})"}
    try:
        checks = json.loads(body)["checks"]
        problems = [
            f"{name}: {check.get('reason') or 'failing'}"
            for name, check in checks.items()
            if not check["ok"]
        ]
    except (ValueError, KeyError, TypeError, AttributeError):
        return {
            "checked": False,
            "url": url,
            "why": f"{url} answered, but not as ipfm-scheduler does (another program there?)",
        }
    return {
        "checked": True,
        "url": url,
        "ok": not problems,
        "parts": list(checks),
        "problems": problems,
        "broker_ok": bool(checks.get("broker", {}).get("ok", True)),
    }


def _receivers(repo: Repository, loaded: LoadedConfig, tz: tzinfo) -> dict[str, Any]:
    assert loaded.schedule is not None
    known = {(s.ward, s.receiver): s for s in repo.receivers_status()}
    enabled = [(w.id, r.id) for w in loaded.schedule.wards.values() for r in w.enabled_receivers]
    offline = [
        {"ward": w, "receiver": r, "since": _local(known[(w, r)].since, tz)}
        for w, r in sorted(enabled)
        if (w, r) in known and not known[(w, r)].online
    ]
    clock_off = [
        {"ward": w, "receiver": r, "offset_s": known[(w, r)].clock_offset_s}
        for w, r in sorted(enabled)
        if (w, r) in known and abs(known[(w, r)].clock_offset_s or 0.0) > CLOCK_TOLERANCE_S
    ]
    return {
        "enabled": len(enabled),
        "online": sum(1 for k in enabled if k in known and known[k].online),
        "offline": offline,
        "never_heard": [f"{w}/{r}" for w, r in sorted(enabled) if (w, r) not in known],
        "clock_off": clock_off,
    }


def _next(loaded: LoadedConfig, records: list[AiringRecord], now: datetime) -> list[dict[str, Any]]:
    """Stored airings still to start, and planned ones of the next 36 hours, soonest first."""
    assert loaded.schedule is not None
    schedule, tz = loaded.schedule, loaded.schedule.timezone
    rows = {
        (r.ward, r.programme, r.start): {
            "start": _local(r.start, tz), "ward": r.ward, "programme": r.programme,
            "origin": r.origin.value, "receivers": len(r.commands), "stored": True,
        }
        for r in records if r.start >= now
    }  # fmt: skip
    for ward in schedule.wards.values():
        receivers = len(ward.enabled_receivers)
        for a in expand_between(ward, schedule.programmes, tz, now, now + timedelta(hours=36)):
            rows.setdefault(
                (a.ward, a.programme, a.start),
                {
                    "start": _local(a.start, tz), "ward": a.ward, "programme": a.programme,
                    "origin": a.origin.value, "receivers": receivers, "stored": False,
                },
            )  # fmt: skip
    return [rows[key] for key in sorted(rows, key=lambda k: (k[2], k[0], k[1]))[:NEXT]]


def _compliance(
    loaded: LoadedConfig, records: list[AiringRecord], now: datetime, repo: Repository
) -> list[dict[str, Any]]:
    assert loaded.schedule is not None
    schedule, tz = loaded.schedule, loaded.schedule.timezone
    week = IsoWeek.containing(now, tz)
    offline = repo.offline_receivers()
    rows = []
    for ward in sorted(schedule.wards.values(), key=lambda w: w.id):
        mine = [r for r in records if r.ward == ward.id]
        coming = still_to_come(ward, schedule.programmes, tz, now, mine)
        for programme in sorted(schedule.programmes.values(), key=lambda p: p.id):
            if not enforced(ward, programme, week):
                continue
            weeks = receiver_verdicts(
                week,
                [r.id for r in ward.enabled_receivers],
                programme.id,
                programme.min_per_week,
                mine,
                now=now,
                final_at=week.end(tz),
                tz=tz,
                offline={r: since for (w, r), since in offline.items() if w == ward.id},
                to_come=coming,
            )
            minimum = programme.min_per_week
            at_risk = {r: w.reason for r, w in weeks.items() if w.at_risk}
            rows.append(
                {
                    "ward": ward.id,
                    "programme": programme.id,
                    "minimum": minimum,
                    "enabled": len(weeks),
                    "confirmed": sum(1 for w in weeks.values() if w.completed >= minimum),
                    "short": at_risk,
                }
            )
    return rows


def waiting_commands(
    repo: Repository, records: list[AiringRecord], tz: tzinfo, now: datetime, lead: timedelta
) -> dict[str, Any]:
    """Open commands by state, and the oldest; those of airings not due yet (stored ahead, as
    make-ups and `air --at` are, and sent ``lead`` before their start) are counted apart: they
    wait for their time, not for an answer."""
    later = [
        (r, c)
        for r in records
        for c in r.commands.values()
        if c.state is CommandState.PENDING and r.start - lead > now
    ]
    counts = {state.value: n for state, n in repo.open_commands().items()}
    if later:
        counts[CommandState.PENDING.value] -= len(later)
        if not counts[CommandState.PENDING.value]:
            del counts[CommandState.PENDING.value]
    later_ids = {c.id for _, c in later}
    oldest = sorted(
        (r.start, r.ward, c.receiver, c.id, c.state.value)
        for r in records
        for c in r.commands.values()
        if c.state.open and c.id not in later_ids
    )[:WAITING_SHOWN]
    return {
        "counts": counts,
        "oldest": [
            {"start": _local(s, tz), "ward": w, "receiver": rc, "command": cid, "state": st}
            for s, w, rc, cid, st in oldest
        ],
        "stored_for_later": len(later),
        "next_sent_at": _local(min(r.start for r, _ in later) - lead, tz) if later else None,
    }


def _requests(repo: Repository, now: datetime, tz: tzinfo) -> list[dict[str, Any]]:
    """`air` requests of the last 24 hours, newest first: what became of each, and why."""
    return [
        {
            "id": r.id, "requested_at": _local(r.requested_at, tz), "ward": r.request.ward,
            "receiver": r.request.receiver, "programme": r.request.programme,
            "priority": r.request.priority.value, "state": r.state.value, "message": r.message,
        }
        for r in repo.requests_since(now - REQUESTS_SINCE, limit=REQUESTS_SHOWN)
    ]  # fmt: skip


def render_text(view: dict[str, Any]) -> str:
    lines = [f"{view['now']} (week {view['week']})", ""]
    service = view["service"]
    if service["running"]:
        lines.append(
            f"service: running on {service['host']} (pid {service['pid']}) since "
            f"{service['started_at']}, last heartbeat {service['last_beat_at']}"
        )
        lines.append(_render_health(service.get("health")))
    else:
        lines.append("service: NOT running (no heartbeat in the last 20 s)")
    receivers = view["receivers"]
    health = service.get("health") or {}
    hearsay = ""
    if not service["running"]:
        hearsay = " (as last heard: no service is running to hear them now)"
    elif health.get("checked") and not health.get("broker_ok", True):
        hearsay = " (as last heard: the service is not connected to the broker now)"
    lines += [
        "",
        f"receivers: {receivers['online']} of {receivers['enabled']} enabled online, "
        f"{len(receivers['offline'])} offline, {len(receivers['never_heard'])} never heard "
        f"from{hearsay}",
    ]
    lines += [
        f"  offline: {o['ward']}/{o['receiver']} since {o['since']}" for o in receivers["offline"]
    ]
    if receivers["never_heard"]:
        lines.append("  never heard from: " + ", ".join(receivers["never_heard"]))
    lines += [
        f"  clock off: {c['ward']}/{c['receiver']} is {c['offset_s']:+.0f} s from the service's "
        "clock (it plays by its own: set its time right, e.g. systemd-timesyncd)"
        for c in receivers["clock_off"]
    ]
    lines += ["", "next airings:"]
    lines += [
        f"  {a['start']}  {a['ward']:<12} {a['programme']:<8} {a['origin']:<9} "
        f"{a['receivers']} receiver(s){'' if a['stored'] else ' (planned)'}"
        for a in view["next_airings"]
    ] or ["  none in the next 36 hours"]
    lines += ["", f"this week's compliance so far ({view['week']}):"]
    for row in view["compliance"]:
        verdict = "on track" if not row["short"] else f"{len(row['short'])} short"
        lines.append(
            f"  {row['ward']:<12} {row['programme']:<8} {row['confirmed']}/{row['enabled']} "
            f"receivers confirmed (minimum {row['minimum']} a week): {verdict}"
        )
        lines += [f"      {r}: {reason}" for r, reason in sorted(row["short"].items())]
    waiting = view["waiting"]
    total = sum(waiting["counts"].values())
    detail = ", ".join(f"{n} {s}" for s, n in sorted(waiting["counts"].items()))
    lines += ["", f"commands waiting for an answer: {total}" + (f" ({detail})" if detail else "")]
    lines += [
        f"  {w['start']}  {w['ward']}/{w['receiver']}  {w['state']}  {w['command']}"
        for w in waiting["oldest"]
    ]
    if waiting["stored_for_later"]:
        lines.append(
            f"commands stored for later airings: {waiting['stored_for_later']} (each is sent "
            f"shortly before its airing; the first at {waiting['next_sent_at']})"
        )
    lines += ["", *_render_requests(view["requests"])]
    return "\n".join(lines)


def _render_health(health: dict[str, Any] | None) -> str:
    if health is None:
        return "  health: not asked"
    if not health["checked"]:
        return f"  health: unknown: {health['why']}"
    if health["ok"]:
        return f"  health: good ({', '.join(health['parts'])}: {health['url']})"
    return f"  health: PROBLEM: {'; '.join(health['problems'])} ({health['url']})"


def _render_requests(requests: list[dict[str, Any]]) -> list[str]:
    lines = [
        f"  #{r['id']} {r['requested_at']}  {r['ward']}/{r['receiver'] or 'all'} "
        f"{r['programme']} {r['priority']}: {r['state']}"
        + (f": {r['message']}" if r["message"] else "")
        for r in requests
    ]
    return ["requests by `air` in the last 24 hours (newest first):", *(lines or ["  none"])]
