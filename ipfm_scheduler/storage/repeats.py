"""What a flood can't grow (issue 13, item 4): a quarantined message keeps its first
``QUARANTINE_RAW_BYTES``, its size and its sha256, and the same message again (same topic,
sha256 and reason) is counted on its row; an ack repeating one already stored (same command,
same status) is counted in ``ack_repeats``, not stored again. Functions over one open
transaction.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Connection

from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.bulk import chunks
from ipfm_scheduler.storage.raw import select_in
from ipfm_scheduler.storage.tables import QUARANTINE_RAW_BYTES
from ipfm_scheduler.storage.types import safe_text

MAX_TOPIC_CHARS = 512  # of a quarantined message's topic (a hostile one may be 64 KiB)


def quarantine_row(
    topic: str,
    ward: str | None,
    receiver: str | None,
    raw: bytes,
    reason: str,
    *,
    now: datetime,
    command_id: str | None = None,
    size: int | None = None,
    sha256: str | None = None,
) -> dict[str, Any]:
    """The row for one quarantined message; ``size`` and ``sha256`` describe the whole message
    when ``raw`` is already only its beginning."""
    size = len(raw) if size is None else size
    sha256 = hashlib.sha256(raw).hexdigest() if sha256 is None else sha256
    if size > QUARANTINE_RAW_BYTES:
        reason += f" (the first {QUARANTINE_RAW_BYTES} of {size} bytes kept)"
    return {
        "topic": safe_text(topic[:MAX_TOPIC_CHARS]),
        "ward": safe_text(ward[:MAX_TOPIC_CHARS]) if ward else None,
        "receiver": safe_text(receiver[:MAX_TOPIC_CHARS]) if receiver else None,
        "command_id": safe_text(command_id[:MAX_TOPIC_CHARS]) if command_id else None,
        "raw": raw[:QUARANTINE_RAW_BYTES],
        "raw_bytes": size,
        "sha256": sha256,
        "reason": safe_text(reason),
        "received_at": now,
        "repeats": 0,
        "last_repeat_at": None,
    }


def insert_quarantined(conn: Connection, rows: Sequence[dict[str, Any]], now: datetime) -> None:
    """Quarantine ``rows``: each message seen before (same topic, same sha256, same reason)
    only counts one more repeat on the row that holds it."""
    if not rows:
        return
    q = t.ack_quarantine
    known: dict[tuple[str, str, str], int] = {}
    for chunk in chunks(sorted({r["sha256"] for r in rows})):
        query = (
            select(func.min(q.c.id).label("id"), q.c.topic, q.c.sha256, q.c.reason)
            .where(q.c.sha256.in_(chunk))
            .group_by(q.c.topic, q.c.sha256, q.c.reason)
        )
        known |= {(r.topic, r.sha256, r.reason): r.id for r in conn.execute(query)}
    new: dict[tuple[str, str, str], dict[str, Any]] = {}
    again: Counter[int] = Counter()
    for row in rows:
        key = (row["topic"], row["sha256"], row["reason"])
        if key in known:
            again[known[key]] += 1
        elif key in new:
            new[key]["repeats"] += 1
            new[key]["last_repeat_at"] = now
        else:
            new[key] = dict(row)
    if new:
        conn.execute(q.insert(), list(new.values()))
    if again:
        conn.execute(
            q.update()
            .where(q.c.id == bindparam("b_id"))
            .values(repeats=q.c.repeats + bindparam("b_more"), last_repeat_at=now),
            [{"b_id": i, "b_more": n} for i, n in again.items()],
        )


def stored_acks(conn: Connection, command_ids: Sequence[str]) -> dict[tuple[str, str], int]:
    """(command id, status) -> the first ack row stored with them."""
    rows = select_in(conn, _STORED_ACKS, command_ids)
    return {(r.command_id, r.status): r.id for r in rows}


_STORED_ACKS = (
    "SELECT min(id) AS id, command_id, status FROM acks WHERE command_id {in_ids} "
    "GROUP BY command_id, status"
)


def count_repeats(conn: Connection, repeats: Counter[tuple[str, str]], now: datetime) -> None:
    """Count each (command id, status) repeated ``n`` times on the ack row that holds it."""
    if not repeats:
        return
    rows = stored_acks(conn, [cid for cid, _ in repeats])
    counts = Counter({rows[key]: n for key, n in repeats.items() if key in rows})
    r = t.ack_repeats
    have = set()
    for chunk in chunks(sorted(counts)):
        have |= set(conn.execute(select(r.c.ack_id).where(r.c.ack_id.in_(chunk))).scalars())
    fresh = [
        {"ack_id": i, "repeats": n, "last_at": now} for i, n in counts.items() if i not in have
    ]
    if fresh:
        conn.execute(r.insert(), fresh)
    old = [{"b_id": i, "b_more": n} for i, n in counts.items() if i in have]
    if old:
        conn.execute(
            r.update()
            .where(r.c.ack_id == bindparam("b_id"))
            .values(repeats=r.c.repeats + bindparam("b_more"), last_at=now),
            old,
        )
