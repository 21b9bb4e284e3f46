"""Configuration snapshots: which plan was in force, kept in the database itself (functions
over one open transaction; ``Repository`` runs them)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ipfm_scheduler.core.model import Programme, Receiver, Ward
from ipfm_scheduler.core.records import ConfigInForce
from ipfm_scheduler.errors import StorageError
from ipfm_scheduler.i18n import _
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.base import insert_ignore, insert_ignore_many
from ipfm_scheduler.storage.plans import RecordedPlan, load_plans
from ipfm_scheduler.storage.snapshot import ConfigSnapshot
from ipfm_scheduler.storage.types import to_utc


def record_snapshot(conn: Connection, snapshot: ConfigSnapshot, now: datetime) -> int:
    """Keep ``snapshot`` (files, programmes, wards, receivers); returns its id.

    The same configuration (same digest) always gives the same id and stores nothing new,
    except that a return to an earlier configuration is noted as a new load, so the
    configuration in force at any instant can be told from ``config_loads``.
    """
    now = to_utc(now, "now")
    snapshot_id = _snapshot_id(conn, snapshot, now)
    latest = conn.execute(
        select(t.config_loads.c.snapshot_id)
        .order_by(t.config_loads.c.loaded_at.desc(), t.config_loads.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if latest != snapshot_id:
        conn.execute(t.config_loads.insert().values(snapshot_id=snapshot_id, loaded_at=now))
    return int(snapshot_id)


def plan_in_force(conn: Connection, moment: datetime) -> tuple[int, RecordedPlan] | None:
    """The configuration in force just before ``moment``: its snapshot id and its plan
    (programmes, wards, receivers); None if no configuration was recorded by then."""
    snapshot_id = snapshot_in_force(conn, moment)
    if snapshot_id is None:
        return None
    return snapshot_id, load_plans(conn, [snapshot_id])[snapshot_id]


def config_in_force(conn: Connection, moment: datetime) -> ConfigInForce | None:
    """The configuration in force just before ``moment``, as a week is judged by it: the wards
    with their receivers (no windows or airings), and the programmes."""
    found = plan_in_force(conn, moment)
    if found is None:
        return None
    snapshot_id, plan = found
    programmes = {
        p.id: Programme(
            p.id, p.title, "", p.duration_s, p.min_per_week, p.campaign_from, p.campaign_until
        )
        for p in plan.programmes.values()
    }
    wards = {
        ward: Ward(
            ward,
            plan.ward_names.get(ward, ward),
            tuple(Receiver(r.id, r.location, r.enabled) for r in receivers),
            (),
            (),
        )
        for ward, receivers in plan.receivers.items()
    }
    return ConfigInForce(snapshot_id, wards, programmes)


def snapshot_zone(conn: Connection, snapshot_id: int) -> ZoneInfo:
    """The station's time zone recorded with a snapshot."""
    name = conn.execute(
        select(t.config_snapshots.c.timezone).where(t.config_snapshots.c.id == snapshot_id)
    ).scalar_one_or_none()
    if name is None:
        raise StorageError(
            _("no configuration snapshot {id} in the database").format(id=snapshot_id)
        )
    return zone_named(name)


def zone_named(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise StorageError(
            _("the recorded time zone {zone} is unknown on this machine").format(zone=repr(name))
        ) from exc


def _snapshot_id(conn: Connection, snapshot: ConfigSnapshot, now: datetime) -> int:
    """The id of ``snapshot``, stored first if it is new (safe against a concurrent writer)."""
    digest = snapshot.digest  # once: 100,000 receivers take a few tenths of a second
    row = {"digest": digest, "timezone": snapshot.timezone, "loaded_at": now}
    created = insert_ignore(conn, t.config_snapshots, row, ["digest"])
    snapshot_id = conn.execute(
        select(t.config_snapshots.c.id).where(t.config_snapshots.c.digest == digest)
    ).scalar_one()
    if created:
        _insert_contents(conn, int(snapshot_id), snapshot)
    return int(snapshot_id)


def _insert_contents(conn: Connection, snapshot_id: int, snapshot: ConfigSnapshot) -> None:
    files = [{"sha256": f.sha256, "text": f.text} for f in snapshot.files]
    insert_ignore_many(
        conn, t.config_files, list({r["sha256"]: r for r in files}.values()), ["sha256"]
    )
    if snapshot.files:
        conn.execute(
            t.snapshot_files.insert(),
            [
                {"snapshot_id": snapshot_id, "path": f.path, "kind": f.kind, "sha256": f.sha256}
                | {"valid": f.valid}
                for f in snapshot.files
            ],
        )
    _insert_plan(conn, snapshot_id, snapshot)


def _insert_plan(conn: Connection, snapshot_id: int, snapshot: ConfigSnapshot) -> None:
    programmes = [
        {
            "snapshot_id": snapshot_id,
            "programme": p.id,
            "title": p.title,
            "min_per_week": p.min_per_week,
            "campaign_from": p.campaign_from,
            "campaign_until": p.campaign_until,
            "first_full_week": p.first_full_week,
            "last_full_week": p.last_full_week,
            "audio_sha256": p.audio_sha256,
            "duration_s": p.duration_s,
        }
        for p in snapshot.programmes
    ]
    wards = [{"snapshot_id": snapshot_id, "ward": w.id, "name": w.name} for w in snapshot.wards]
    receivers = [
        {"snapshot_id": snapshot_id, "ward": w.id, "receiver": r.id}
        | {"enabled": r.enabled, "location": r.location}
        for w in snapshot.wards
        for r in w.receivers
    ]
    for table, rows in (
        (t.snapshot_programmes, programmes),
        (t.snapshot_wards, wards),
        (t.snapshot_receivers, receivers),
    ):
        if rows:
            conn.execute(table.insert(), rows)


def snapshot_in_force(conn: Connection, moment: datetime) -> int | None:
    """The configuration in force just before ``moment`` (None: none recorded by then)."""
    loads = t.config_loads
    return conn.execute(
        select(loads.c.snapshot_id)
        .where(loads.c.loaded_at < to_utc(moment, "moment"))
        .order_by(loads.c.loaded_at.desc(), loads.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()
