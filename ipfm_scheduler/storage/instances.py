"""The service's runs and their heartbeat (what tells `air` and `status` a service runs).
Functions over one open transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ipfm_scheduler.core.records import LiveInstance
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.types import to_utc


def start_instance(conn: Connection, *, host: str, pid: int, version: str, now: datetime) -> int:
    """Note that a service started; returns its instance id (for heartbeats)."""
    now = to_utc(now, "now")
    si = t.service_instances
    values = {"host": host, "pid": pid, "version": version, "started_at": now, "last_beat_at": now}
    return int(conn.execute(si.insert().values(values).returning(si.c.id)).scalar_one())


def heartbeat(conn: Connection, instance_id: int, now: datetime) -> None:
    si = t.service_instances
    conn.execute(si.update().where(si.c.id == instance_id).values(last_beat_at=to_utc(now, "now")))


def stop_instance(conn: Connection, instance_id: int, now: datetime) -> None:
    si = t.service_instances
    now = to_utc(now, "now")
    conn.execute(si.update().where(si.c.id == instance_id).values(stopped_at=now, last_beat_at=now))


def live_instances(conn: Connection, now: datetime, within: timedelta) -> list[LiveInstance]:
    """Every running service whose last heartbeat is at most ``within`` old, oldest start first."""
    si = t.service_instances
    rows = conn.execute(
        select(si)
        .where(si.c.stopped_at.is_(None), si.c.last_beat_at >= to_utc(now, "now") - within)
        .order_by(si.c.started_at, si.c.id)
    ).all()
    return [
        LiveInstance(r.host, r.pid, r.last_beat_at, r.id, r.version, r.started_at) for r in rows
    ]


def live_instance(conn: Connection, now: datetime, within: timedelta) -> LiveInstance | None:
    """The newest running service whose last heartbeat is at most ``within`` old."""
    si = t.service_instances
    row = conn.execute(
        select(si)
        .where(si.c.stopped_at.is_(None), si.c.last_beat_at >= to_utc(now, "now") - within)
        .order_by(si.c.last_beat_at.desc(), si.c.id.desc())
        .limit(1)
    ).one_or_none()
    if row is None:
        return None
    return LiveInstance(row.host, row.pid, row.last_beat_at, row.id, row.version, row.started_at)
