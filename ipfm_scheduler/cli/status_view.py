"""What `ipfm-scheduler status` shows, gathered from the database and the configuration."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from ipfm_scheduler.cli.status_text import LOCAL_FORMAT, Said, render_text
from ipfm_scheduler.config.settings import HttpSettings, LoadedConfig
from ipfm_scheduler.core.commands import CommandState
from ipfm_scheduler.core.compliance import enforced
from ipfm_scheduler.core.expand import expand_between
from ipfm_scheduler.core.makeup import still_to_come
from ipfm_scheduler.core.records import AiringRecord
from ipfm_scheduler.core.verdicts import Completed, ReceiverVerdict, receiver_verdicts
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.i18n import N_
from ipfm_scheduler.storage.repository import Repository
from ipfm_scheduler.storage.tallies import StoredWeek, airings_counted

__all__ = [
    "gather",
    "next_airings",
    "render_text",
    "service_health",
    "stored_week",
    "waiting_commands",
    "week_verdicts",
]

NEXT = 10
#: a receiver whose clock is further off than this is named (a box plays by its own clock)
CLOCK_TOLERANCE_S = 5.0
WAITING_SHOWN = 10
REQUESTS_SHOWN = 10
REQUESTS_SINCE = timedelta(hours=24)
HEALTH_TIMEOUT_S = 5.0  # the service answers /healthz within its checks' 2 s limit


def _local(moment: datetime | None, tz: tzinfo) -> str | None:
    return None if moment is None else moment.astimezone(tz).strftime(LOCAL_FORMAT)


def gather(
    repo: Repository, loaded: LoadedConfig, now: datetime, *, live_within: timedelta
) -> dict[str, Any]:
    assert loaded.station is not None
    assert loaded.schedule is not None
    tz = loaded.schedule.timezone
    week = IsoWeek.containing(now, tz)
    stored = stored_week(repo, tz, now)
    records = stored.records
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
    view = {
        "now": _local(now, tz),
        "week": str(week),
        "service": service,
        "receivers": _receivers(repo, loaded, tz),
        "next_airings": next_airings(loaded, records, now),
        "compliance": _compliance(loaded, this_week, now, repo, stored.completed_apart),
        "waiting": waiting_commands(
            repo, records, tz, now, timedelta(seconds=loaded.station.dispatch.lead_s)
        ),
        "requests": _requests(repo, now, tz),
    }
    if repo.engine.dialect.name == "postgresql":  # services may stand by (docs/service.md)
        view["lead"] = _lead(repo, now, tz, live_within)
    return view


def stored_week(repo: Repository, tz: tzinfo, now: datetime) -> StoredWeek:
    """This week's stored airings and the next two days', with their commands; the completed
    commands of those that started already are counted by the database, not read (700,000 a
    week at national scale): pass ``completed_apart`` on to :func:`week_verdicts`."""
    week = IsoWeek.containing(now, tz)
    with repo.reading() as conn:
        return airings_counted(
            conn, week.start(tz), week.end(tz) + timedelta(days=2), apart_before=now
        )


def _lead(repo: Repository, now: datetime, tz: tzinfo, live_within: timedelta) -> dict[str, Any]:
    """The leader (host, pid, epoch, since when, lease until), the standbys, the latest changes
    of leader."""
    lease, db_now = repo.current_lease()
    leader = None
    if lease is not None:
        leader = {
            "host": lease.host,
            "pid": lease.pid,
            "epoch": lease.epoch,
            "since": _local(lease.since, tz),
            "lease_until": _local(lease.expires_at, tz),
            "lease_valid": not lease.expired(db_now),
        }
    lead_id = None if lease is None or lease.expired(db_now) else lease.instance_id
    standbys = [
        {"host": i.host, "pid": i.pid, "started_at": _local(i.started_at, tz),
         "last_beat_at": _local(i.last_beat_at, tz)}
        for i in repo.live_instances(now, live_within)
        if i.id != lead_id
    ]  # fmt: skip
    changes = [
        {"epoch": c["epoch"], "host": c["host"], "pid": c["pid"], "at": _local(c["at"], tz),  # type: ignore[arg-type]
         "previous_host": c["previous_host"], "previous_pid": c["previous_pid"],
         "reason": c["reason"]}
        for c in repo.leader_changes(5)
    ]  # fmt: skip
    return {"leader": leader, "standbys": standbys, "changes": changes}


def service_health(
    http: HttpSettings, service: dict[str, Any], *, here: str, timeout_s: float = HEALTH_TIMEOUT_S
) -> dict[str, Any]:
    """What the running service's ``GET /healthz`` says (the checks that feed the systemd
    watchdog: scheduler, broker, database), asked over HTTP when it runs on this host.

    ``{"checked": True, "ok": ..., "problems": ["broker: not connected: reconnecting"], "url"}``,
    or ``{"checked": False, "why": ...}`` when it could not be asked."""
    if not service.get("running"):
        return {"checked": False, "why": Said(N_("the service is not running"))}
    if not http.enabled:
        return {
            "checked": False,
            "why": Said(N_("its HTTP server is off in the station file (http:)")),
        }
    if service.get("host") != here:
        why = Said(N_("it runs on {host}, not on {here}"), host=service.get("host"), here=here)
        return {"checked": False, "why": why}
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(http.host, http.host)
    url = f"http://{f'[{host}]' if ':' in host else host}:{http.port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:
            body = answer.read()
    except urllib.error.HTTPError as exc:  # 503: something is wrong; the body says what
        body = exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        why = Said(N_("{url} did not answer ({reason})"), url=url, reason=reason)
        return {"checked": False, "url": url, "why": why}
    try:
        checks = json.loads(body)["checks"]
        problems = [
            f"{name}: {check['reason']}"
            if check.get("reason")
            else Said(N_("{name}: failing"), name=name)
            for name, check in checks.items()
            if not check["ok"]
        ]
    except (ValueError, KeyError, TypeError, AttributeError):
        return {
            "checked": False,
            "url": url,
            "why": Said(
                N_("{url} answered, but not as ipfm-scheduler does (another program there?)"),
                url=url,
            ),
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


def next_airings(
    loaded: LoadedConfig, records: list[AiringRecord], now: datetime
) -> list[dict[str, Any]]:
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


@dataclass(frozen=True, slots=True)
class WardWeek:
    """One ward and programme this week: each enabled receiver's verdict so far."""

    ward: str
    programme: str
    minimum: int
    verdicts: dict[str, ReceiverVerdict]


def week_verdicts(
    loaded: LoadedConfig,
    records: list[AiringRecord],
    now: datetime,
    repo: Repository,
    completed_apart: Mapping[tuple[str, str], Mapping[str, Completed]] | None = None,
) -> list[WardWeek]:
    """Every valid ward's enforced programmes this week, each receiver judged by the weekly
    rule (core/verdicts.py) with what may still complete: the figures of `status` and of the
    web page's overview. ``completed_apart``: (ward, programme) -> receiver -> completed
    commands left out of ``records`` (:func:`stored_week`)."""
    assert loaded.schedule is not None
    schedule, tz = loaded.schedule, loaded.schedule.timezone
    week = IsoWeek.containing(now, tz)
    offline_by_ward: dict[str, dict[str, datetime]] = defaultdict(dict)
    for (w, r), since in repo.offline_receivers().items():
        offline_by_ward[w][r] = since
    by_ward: dict[str, list[AiringRecord]] = defaultdict(list)
    for record in records:  # in their order (1,000 wards: not one pass over all for each)
        by_ward[record.ward].append(record)
    found = []
    for ward in sorted(schedule.wards.values(), key=lambda w: w.id):
        mine = by_ward.get(ward.id, [])
        coming = still_to_come(ward, schedule.programmes, tz, now, mine)
        for programme in sorted(schedule.programmes.values(), key=lambda p: p.id):
            if not enforced(ward, programme, week):
                continue
            verdicts = receiver_verdicts(
                week,
                [r.id for r in ward.enabled_receivers],
                programme.id,
                programme.min_per_week,
                mine,
                now=now,
                final_at=week.end(tz),
                tz=tz,
                offline=offline_by_ward.get(ward.id, {}),
                to_come=coming,
                completed_apart=(completed_apart or {}).get((ward.id, programme.id)),
            )
            found.append(WardWeek(ward.id, programme.id, programme.min_per_week, verdicts))
    return found


def _compliance(
    loaded: LoadedConfig,
    records: list[AiringRecord],
    now: datetime,
    repo: Repository,
    completed_apart: Mapping[tuple[str, str], Mapping[str, Completed]],
) -> list[dict[str, Any]]:
    return [
        {
            "ward": w.ward,
            "programme": w.programme,
            "minimum": w.minimum,
            "enabled": len(w.verdicts),
            "confirmed": sum(1 for v in w.verdicts.values() if v.completed >= w.minimum),
            # a Reason: English in JSON (json.dumps(default=str)), its words in the text
            "short": {r: v.why for r, v in w.verdicts.items() if v.at_risk},
        }
        for w in week_verdicts(loaded, records, now, repo, completed_apart)
    ]


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
