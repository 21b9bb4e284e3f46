"""The leader's lease in PostgreSQL (the decisions are ``core/lease.py``'s): claiming it, giving
it up, and the fence every store of the leader goes through.

Functions over one open transaction (``Repository`` runs them). Claims lock the lease row ``FOR
UPDATE`` (one claim at a time). The fence is an advisory lock (``FENCE_KEY``): every fenced
store takes it shared, then reads the epoch; a takeover takes it alone before it writes the next
epoch. So a takeover waits for the stores in progress to commit, and a store that starts after
it finds the new epoch and is refused (:class:`~ipfm_scheduler.errors.NotLeading`), rolled back
with everything else in its transaction. A renewal takes no fence: a leader's own big stores
never hold its renewal up. A fenced transaction or a claim left idle (its service paused, or
hung: a renewal holds the lease row) is ended by PostgreSQL after ``idle_ms``
(``idle_in_transaction_session_timeout``), so it cannot hold a takeover up. Times are the
database's (``clock_timestamp()``): the one clock every machine shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection, Row

from ipfm_scheduler.core.lease import Lease, Move, next_move, taken, takeover_reason
from ipfm_scheduler.errors import NotLeading
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.base import insert_ignoring

LEASE_ID = 1
STATEMENT_TIMEOUT_MS = 2000  # a claim that takes longer gives up (the leader's trust runs out)
IDLE_MS = 5000  # a fenced store or a claim left idle this long is ended (a leader: from takeover_s)
FENCE_KEY = 0x6970666D5F6861  # "ipfm_ha": the advisory lock of the fence (one per database)

Me = tuple[int, str, int]  # instance id, host, pid


@dataclass(frozen=True, slots=True)
class Claim:
    """What a claim found and did: the lease after it, the one before if it changed hands."""

    lease: Lease
    mine: bool
    previous: Lease | None = None
    changed: bool = False
    reason: str = ""


def db_now(conn: Connection) -> datetime:
    value = conn.execute(select(func.clock_timestamp())).scalar_one()
    assert isinstance(value, datetime)
    return value.astimezone(UTC)


def read_lease(conn: Connection, *, lock: bool = False) -> Lease | None:
    query = select(t.ha_lease).where(t.ha_lease.c.id == LEASE_ID)
    row = conn.execute(query.with_for_update() if lock else query).one_or_none()
    return None if row is None else _lease(row)


def claim(conn: Connection, me: Me, length: timedelta, idle_ms: int = IDLE_MS) -> Claim:
    """Renew the lease ``me`` holds, take one that ran out (or the first), else leave it.
    Left idle for ``idle_ms`` (its service paused while it holds the row), PostgreSQL ends it."""
    conn.execute(text(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}"))
    conn.execute(text(f"SET LOCAL idle_in_transaction_session_timeout = {int(idle_ms)}"))
    now = db_now(conn)
    lease = read_lease(conn, lock=True)
    if lease is None:
        first = taken(None, me, now, length)
        inserted = conn.execute(
            insert_ignoring(conn, t.ha_lease, ["id"]).returning(t.ha_lease.c.id),
            _row(first),
        ).first()
        if inserted is not None:
            _record_change(conn, first, None, "first")
            return Claim(first, True, None, True, "first")
        lease = read_lease(conn, lock=True)  # another took the first lease meanwhile
        assert lease is not None
    move = next_move(lease, me[0], now)
    if move is Move.WAIT:
        return Claim(lease, False)
    hl = t.ha_lease
    if move is Move.RENEW:
        renewed = Lease(lease.epoch, me[0], me[1], me[2], lease.since, now + length)
        conn.execute(hl.update().where(hl.c.id == LEASE_ID).values(expires_at=now + length))
        return Claim(renewed, True)
    conn.execute(select(func.pg_advisory_xact_lock(FENCE_KEY)))  # the old leader's stores end
    new = taken(lease, me, now, length)
    reason = takeover_reason(lease, now)
    conn.execute(hl.update().where(hl.c.id == LEASE_ID).values(_row(new)))
    _record_change(conn, new, lease, reason)
    return Claim(new, True, lease, True, reason)


def release(conn: Connection, instance_id: int) -> bool:
    """A leader that stops cleanly gives its lease up (a standby takes it at its next look,
    without waiting for it to run out); True if it held it."""
    hl = t.ha_lease
    done = conn.execute(
        hl.update()
        .where(hl.c.id == LEASE_ID, hl.c.instance_id == instance_id)
        .values(expires_at=hl.c.since)
    )
    return bool(done.rowcount)


def check_epoch(conn: Connection, epoch: int, idle_ms: int = IDLE_MS) -> None:
    """The fence: raise :class:`NotLeading` unless ``epoch`` is the current one. No takeover
    commits until this transaction ends; left idle for ``idle_ms``, PostgreSQL ends it."""
    conn.execute(text(f"SET LOCAL idle_in_transaction_session_timeout = {int(idle_ms)}"))
    conn.execute(select(func.pg_advisory_xact_lock_shared(FENCE_KEY)))
    hl = t.ha_lease
    current = conn.execute(select(hl.c.epoch).where(hl.c.id == LEASE_ID)).scalar_one_or_none()
    if current != epoch:
        raise NotLeading(epoch)


def leader_changes(conn: Connection, limit: int = 10) -> list[Row[tuple[object, ...]]]:
    """The latest changes of leader, newest first."""
    lc = t.ha_leader_changes
    return list(conn.execute(select(lc).order_by(lc.c.epoch.desc()).limit(limit)).all())


def _record_change(conn: Connection, new: Lease, previous: Lease | None, reason: str) -> None:
    conn.execute(
        t.ha_leader_changes.insert().values(
            epoch=new.epoch,
            instance_id=new.instance_id,
            host=new.host,
            pid=new.pid,
            at=new.since,
            previous_host=None if previous is None else previous.host,
            previous_pid=None if previous is None else previous.pid,
            reason=reason,
        )
    )


def _row(lease: Lease) -> dict[str, object]:
    return {
        "id": LEASE_ID,
        "epoch": lease.epoch,
        "instance_id": lease.instance_id,
        "host": lease.host,
        "pid": lease.pid,
        "since": lease.since,
        "expires_at": lease.expires_at,
    }


def _lease(row: Row[tuple[object, ...]]) -> Lease:
    m = row._mapping
    return Lease(
        int(m["epoch"]),
        int(m["instance_id"]),
        str(m["host"]),
        int(m["pid"]),
        m["since"],
        m["expires_at"],
    )
