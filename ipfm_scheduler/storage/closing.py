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
from ipfm_scheduler.storage.bulk import insert_rows
from ipfm_scheduler.storage.chain import Appender
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
    the configuration ``snapshot_id``, as rows of the hash chain (storage/chain.py). Closing the
    same week again adds new rows (a late ack may have changed a count): the latest row per
    receiver is in force, and the earlier stays as what was judged then."""
    now = to_utc(now, "now")
    values = [
        {
            "id": None,
            "ward": row.ward,
            "programme": row.programme,
            "week": str(week),
            "receiver": row.receiver,
            "completed": row.completed,
            "minimum": row.minimum,
            "verdict": row.verdict.value,
            "reason": row.reason,
            "snapshot_id": snapshot_id,
            "closed_at": now,
        }
        for row in sorted(rows, key=lambda r: (r.ward, r.programme))
    ]
    if not values:
        return
    chain = Appender.open(conn, t.week_closures)
    chain.add(values)
    insert_rows(conn, t.week_closures, values)  # many rows a statement (storage/raw.py)
    chain.close()


def last_closed_week(conn: Connection) -> IsoWeek | None:
    week = conn.execute(select(func.max(t.week_closures.c.week))).scalar_one_or_none()
    return None if week is None else IsoWeek.parse(week)
