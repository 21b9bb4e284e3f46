"""The verdicts of closed weeks, as the service judged them. Functions over one open
transaction."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from ipfm_scheduler.core.records import WeekCloseRow
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.types import to_utc


def record_week_close(
    conn: Connection,
    week: IsoWeek,
    rows: Iterable[WeekCloseRow],
    *,
    now: datetime,
    snapshot_id: int | None,
) -> None:
    """Keep the service's verdict per ward, programme and receiver for a closed week, judged by
    the configuration ``snapshot_id``. Closing the same week again replaces the earlier verdict
    (a late ack may have changed a count)."""
    now = to_utc(now, "now")
    wc = t.week_closures
    for row in sorted(rows, key=lambda r: (r.ward, r.programme)):
        key = (
            wc.c.ward == row.ward,
            wc.c.programme == row.programme,
            wc.c.week == str(week),
            wc.c.receiver == row.receiver,
        )
        values = {
            "completed": row.completed,
            "minimum": row.minimum,
            "verdict": row.verdict.value,
            "reason": row.reason,
            "snapshot_id": snapshot_id,
            "closed_at": now,
        }
        if not conn.execute(wc.update().where(*key).values(values)).rowcount:
            keys = {"ward": row.ward, "programme": row.programme, "receiver": row.receiver}
            conn.execute(wc.insert().values(week=str(week), **keys).values(values))


def last_closed_week(conn: Connection) -> IsoWeek | None:
    week = conn.execute(select(func.max(t.week_closures.c.week))).scalar_one_or_none()
    return None if week is None else IsoWeek.parse(week)
