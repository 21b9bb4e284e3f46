"""Filing what receivers send: acks (matched to their command, which moves only forwards via
core.commands), statuses, and the messages kept in quarantine with the reason (never dropped).
Functions over one open transaction; many messages in one.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Connection

from ipfm_scheduler.core.commands import (
    OPEN_TEXTS,
    UNANSWERED_TEXTS,
    AckStatus,
    CommandState,
    after_ack,
)
from ipfm_scheduler.core.compliance import EXPIRE_GRACE
from ipfm_scheduler.core.ids import COMMAND_ID_RE
from ipfm_scheduler.core.records import ReceiverStatusRecord
from ipfm_scheduler.core.traffic import AckOutcome, IncomingAck, IncomingStatus, ack_time_text
from ipfm_scheduler.protocol.messages import ReceiverState
from ipfm_scheduler.storage import repeats
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.airings import STATE_OF, refresh_outcomes
from ipfm_scheduler.storage.bulk import chunks
from ipfm_scheduler.storage.chain import Appender
from ipfm_scheduler.storage.commands import MAX_RAW_BYTES, mismatch, published
from ipfm_scheduler.storage.raw import for_update, insert_rows, select_in, update_rows
from ipfm_scheduler.storage.types import safe_text, to_utc


def record_acks(
    conn: Connection, items: Sequence[IncomingAck], now: datetime, pubacks: Sequence[str] = ()
) -> list[AckOutcome]:
    """Acks, in the order they arrived (the commands they name are locked until the
    transaction ends, so concurrent writers wait for each other).

    Each ack is matched to its command: one sent to another ward or receiver, or unknown, or
    unreadable, is quarantined with the reason. A matched ack moves its command's state only
    forwards; it is stored, unless it repeats one already stored (same command, same status):
    that is counted on the stored one's row (``ack_repeats``). A late ack that changes nothing
    is stored, marked so. A ``completed`` that arrives sooner after its command was stored than the
    command's recording lasts (``audio.duration_s`` of its payload, less ``PLAY_SLACK_S``)
    can't be true; it is quarantined with the reason and changes nothing.

    ``pubacks``: commands whose PUBACK came and was not recorded yet (the sender held it for
    its command's ack). Each is recorded as ``commands.record_sends`` records one (an attempt,
    the sent times, ``pending`` moved to ``sent``), before the acks, in the same update of the
    command's row as its acks' change (issue 15: one row version, not two); one not found is
    ignored, as there.
    """
    now = to_utc(now, "now")
    ids = [i.ack.id for i in items if i.ack is not None and COMMAND_ID_RE.fullmatch(i.ack.id)]
    rows = {r.id: r for r in select_in(conn, _COMMANDS + for_update(conn), {*ids, *pubacks})}
    completed = [
        i.ack.id for i in items if i.ack is not None and i.ack.status == AckStatus.COMPLETED
    ]
    filer = _AckFiler(rows, now, _durations(conn, [c for c in completed if c in rows]))
    answered = [cid for cid, r in rows.items() if r.state not in UNANSWERED_TEXTS]
    filer.stored = repeats.stored_acks(conn, answered)
    found = [cid for cid in dict.fromkeys(pubacks) if cid in rows]
    sent, attempts = published(rows, filer.state, found, now)
    outcomes = [filer.file(item) for item in items]
    if filer.acks:
        chain = Appender.open(conn, t.acks)
        chain.add(filer.acks)
        insert_rows(conn, t.acks, filer.acks)
        chain.close()
    repeats.count_repeats(conn, filer.repeats, now)
    repeats.insert_quarantined(conn, filer.quarantined, now)
    changed = {cid: {**sent.get(cid, {}), **change} for cid, change in filer.changes.items()}
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for cid, values in (sent | changed).items():
        by_columns[tuple(sorted(values))].append({"id": cid, **values})
    for group in by_columns.values():
        update_rows(conn, t.commands, "id", group)
    if attempts:
        insert_rows(conn, t.send_attempts, attempts)
    # an airing with a command open before and after (received, playing) was and stays open
    moved = [
        cid
        for cid, change in filer.changes.items()
        if not (rows[cid].state in OPEN_TEXTS and change["state"] in OPEN_TEXTS)
    ]
    refresh_outcomes(conn, sorted({rows[cid].airing_id for cid in moved}))
    return outcomes


# the commands named by acks or by PUBACKs held (times read only for a `completed`: _durations)
_COMMANDS = (
    "SELECT id, ward, receiver, state, airing_id, attempts, first_sent_at IS NULL AS unsent "
    "FROM commands WHERE id {in_ids}"
)


def quarantine(conn: Connection, row: dict[str, Any], now: datetime) -> None:
    """Keep a message from a receiver that can't be filed (an unreadable status, a message too
    large to be an answer), with the reason (``repeats.quarantine_row``)."""
    repeats.insert_quarantined(conn, [row], to_utc(now, "now"))


def quarantined_count(conn: Connection, since: datetime) -> int:
    q = t.ack_quarantine
    count = select(func.count()).where(q.c.received_at >= to_utc(since, "since"))
    return int(conn.execute(count).scalar_one())


def record_statuses(conn: Connection, items: Sequence[IncomingStatus], now: datetime) -> list[bool]:
    """Status messages, in order; returns, per message, whether the receiver's state (or
    firmware) changed. A change is kept as an event; a repeat only moves ``last_seen_at``;
    ``since`` is our time of the first message in that state.

    A ``retained`` status is one the broker replays on every (re)connect, not the receiver
    speaking now: its change of state is recorded if it is new, but ``last_seen_at`` does
    not move (a receiver first known that way is seen at the time it gave, at most now)."""
    now = to_utc(now, "now")
    rs = t.receiver_status
    current: dict[tuple[str, str], dict[str, Any]] = {}
    for chunk in chunks(sorted({i.ward for i in items})):
        for r in conn.execute(select(rs).where(rs.c.ward.in_(chunk))):
            current[(r.ward, r.receiver)] = {
                "online": r.online, "since": r.since, "fw": r.fw, "new": False,
                "seen": r.last_seen_at, "clock": r.clock_offset_s,
            }  # fmt: skip
    events, changes = [], []
    for item in items:
        changed = _status_change(current, item, now)
        changes.append(changed)
        if changed:
            events.append(_status_event(item, current[(item.ward, item.receiver)], now))
    if events:
        conn.execute(t.receiver_status_events.insert(), events)
    _write_current(conn, current, {(i.ward, i.receiver) for i in items})
    return changes


def receivers_status(conn: Connection) -> list[ReceiverStatusRecord]:
    """Every receiver that has ever reported, with its current state (for `status`)."""
    rs = t.receiver_status
    rows = conn.execute(select(rs).order_by(rs.c.ward, rs.c.receiver)).all()
    return [
        ReceiverStatusRecord(
            r.ward, r.receiver, r.online, r.since, r.last_seen_at, r.fw, r.clock_offset_s
        )
        for r in rows
    ]


def offline_receivers(
    conn: Connection, until: datetime | None = None, wards: Iterable[str] | None = None
) -> dict[tuple[str, str], datetime]:
    """(ward, receiver) -> since when, for receivers whose last status (before ``until``, if
    given) says offline. "Since" is when it went offline: the first status of that state (a
    status that changes only the firmware does not move it). The one rule for the service's
    make-ups, its closing record and ``report``."""
    if until is None and wards is None:
        rs = t.receiver_status
        rows = conn.execute(select(rs.c.ward, rs.c.receiver, rs.c.since).where(~rs.c.online))
        return {(r.ward, r.receiver): r.since for r in rows}
    ev = t.receiver_status_events
    query = select(ev.c.ward, ev.c.receiver, ev.c.state, ev.c.received_at)
    if until is not None:
        query = query.where(ev.c.received_at < to_utc(until, "until"))
    if wards is not None:
        query = query.where(ev.c.ward.in_(sorted(wards)))
    latest: dict[tuple[str, str], tuple[str, datetime]] = {}
    for r in conn.execute(query.order_by(ev.c.received_at, ev.c.id)):
        known = latest.get((r.ward, r.receiver))
        if known is None or known[0] != r.state:
            latest[(r.ward, r.receiver)] = (r.state, r.received_at)
    offline = ReceiverState.OFFLINE.value
    return {key: since for key, (state, since) in latest.items() if state == offline}


def _status_change(
    current: dict[tuple[str, str], dict[str, Any]], item: IncomingStatus, now: datetime
) -> bool:
    """Apply one status to ``current``; True if it changed the receiver's state or firmware."""
    online = item.online
    key = (item.ward, item.receiver)
    known = current.get(key)
    fw = safe_text(item.fw)
    if fw is None and known is not None:
        fw = known["fw"]  # a status without `fw` (a last will, say) keeps the one known
    changed = known is None or known["online"] != online or known["fw"] != fw
    since = now if known is None or known["online"] != online else known["since"]
    current[key] = {
        "online": online,
        "since": since,
        "fw": fw,
        "new": known is None or known["new"],
        "seen": _seen(item, known, now),
        "clock": _clock_offset(item, known, now),
    }
    return changed


def _clock_offset(item: IncomingStatus, known: dict[str, Any] | None, now: datetime) -> Any:
    """The receiver's clock minus ours, from a status it sent now (its own `at`); a replayed
    (retained) status, or one without `at`, says nothing new about its clock."""
    if item.retained or item.at is None:
        return None if known is None else known["clock"]
    return round((to_utc(item.at, "the status time") - now).total_seconds(), 1)


def _seen(item: IncomingStatus, known: dict[str, Any] | None, now: datetime) -> datetime:
    """When the receiver was last heard: now, unless ``item`` is a retained replay."""
    if not item.retained:
        return now
    if known is not None:
        seen: datetime = known["seen"]
        return seen
    return now if item.at is None else min(to_utc(item.at, "the status time"), now)


def _status_event(item: IncomingStatus, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "ward": item.ward,
        "receiver": item.receiver,
        "state": (ReceiverState.ONLINE if item.online else ReceiverState.OFFLINE).value,
        "receiver_at": None if item.at is None else to_utc(item.at, "the status time"),
        "received_at": now,
        "fw": state["fw"],
        "raw": item.raw[:MAX_RAW_BYTES],
        "verified": item.verified,
    }


_CURRENT = ("online", "since", "last_seen_at", "fw", "clock_offset_s")


def _write_current(
    conn: Connection,
    current: dict[tuple[str, str], dict[str, Any]],
    touched: set[tuple[str, str]],
) -> None:
    rs = t.receiver_status
    new, old = [], []
    for ward, receiver in sorted(touched):
        state = current[(ward, receiver)]
        values = {"online": state["online"], "since": state["since"], "last_seen_at": state["seen"]}
        values |= {"fw": state["fw"], "clock_offset_s": state["clock"]}
        if state["new"]:
            new.append({"ward": ward, "receiver": receiver, **values})
        else:
            old.append(
                {"b_ward": ward, "b_receiver": receiver, **{f"v_{k}": v for k, v in values.items()}}
            )
    if new:
        conn.execute(rs.insert(), new)
    if old:
        conn.execute(
            rs.update()
            .where(rs.c.ward == bindparam("b_ward"), rs.c.receiver == bindparam("b_receiver"))
            .values({k: bindparam(f"v_{k}") for k in _CURRENT}),
            old,
        )


class _AckFiler:
    """Files acks in order against the commands read once: the rows to insert and the changes."""

    def __init__(
        self, rows: dict[str, Any], now: datetime, durations: dict[str, tuple[float, Any]]
    ) -> None:
        self.rows = rows
        self.now = now
        #: command id -> its recording's length and its row's times (for `completed` acks)
        self.durations = durations
        self.state = {cid: STATE_OF[r.state] for cid, r in rows.items()}
        self.acks: list[dict[str, Any]] = []
        self.quarantined: list[dict[str, Any]] = []
        self.changes: dict[str, dict[str, Any]] = {}
        self.stored: dict[tuple[str, str], int] = {}  # (command, status) -> its stored ack row
        self.repeats: Counter[tuple[str, str]] = Counter()  # acks repeating a stored one

    def file(self, item: IncomingAck) -> AckOutcome:
        if item.ack is None:
            return self.quarantine(item, f"not a valid ack: {item.error or 'unreadable'}")
        ack = item.ack
        row = self.rows.get(ack.id)
        # a command read back has a valid id (only those were asked for): its receiver decides
        if row is None or row.ward != item.ward or row.receiver != item.receiver:
            return self.quarantine(item, mismatch(ack.id, row, item.ward, item.receiver), ack.id)
        current = self.state[ack.id]
        status = ack.status if isinstance(ack.status, AckStatus) else AckStatus(str(ack.status))
        new = after_ack(current, status)
        changed = new is not current
        if changed and new is CommandState.COMPLETED:
            impossible = self._too_soon(ack.id) or self._too_late(ack.id, ack.at)
            if impossible:
                return self.quarantine(item, impossible, ack.id)
        key = (ack.id, status.value)
        if not changed and key in self.stored:  # said before: counted on its row
            self.repeats[key] += 1
            return AckOutcome(ack.id, item.ward, item.receiver, new, changed=False)
        self.stored.setdefault(key, 0)
        at = None if ack.at is None else to_utc(ack.at, "the ack's time")
        self.acks.append(
            {
                "id": None,
                "command_id": ack.id,
                "ward": item.ward,
                "receiver": item.receiver,
                "status": status.value,
                "detail": safe_text(ack.detail),
                "played_s": ack.played_s,
                "receiver_at_text": safe_text(ack_time_text(ack)) or "",
                "receiver_at": at,
                "received_at": self.now,
                "raw": item.raw[:MAX_RAW_BYTES],
                "changed_state": changed,
                "state_after": new.value,
                "verified": item.verified,
            }
        )
        if not changed:
            return AckOutcome(ack.id, item.ward, item.receiver, new, changed=False)
        self.state[ack.id] = new
        self.changes[ack.id] = {
            "state": new.value,
            "state_at": self.now,
            "detail": safe_text(ack.detail),
            "played_s": ack.played_s,
            "receiver_at": at,
            "answer_verified": item.verified,
        }
        return AckOutcome(ack.id, item.ward, item.receiver, new, changed=True)

    def _too_soon(self, command_id: str) -> str | None:
        """Why a ``completed`` can't be true, if it came sooner after the command was stored
        (it can't have reached the receiver earlier) than its recording lasts."""
        if command_id not in self.durations:
            return None
        duration, times = self.durations[command_id]
        stored_at = times.created_at
        elapsed = (self.now - to_utc(stored_at, "created_at")).total_seconds()
        if elapsed >= duration - PLAY_SLACK_S:
            return None
        return (
            f"`completed` {elapsed:.0f} s after the command was sent, but its recording lasts "
            f"{duration:.0f} s: it can't have played; not counted"
        )

    def _too_late(self, command_id: str, at: datetime | None) -> str | None:
        """Why a ``completed`` can't count: the receiver says it finished after the command
        could last have finished (``expires_at`` + its recording + ``EXPIRE_GRACE``), when the
        scheduler marks it expired."""
        if command_id not in self.durations or at is None:
            return None
        duration, times = self.durations[command_id]
        expires_at = times.expires_at
        deadline = to_utc(expires_at, "expires_at") + timedelta(seconds=duration) + EXPIRE_GRACE
        if to_utc(at, "the ack's time") <= deadline:
            return None
        late = (to_utc(at, "the ack's time") - deadline).total_seconds() / 60
        return (
            f"`completed` at {to_utc(at, 'at').isoformat(timespec='seconds')}, {late:.0f} min "
            "after the command had expired (it could last have finished by then): not counted"
        )

    def quarantine(
        self, item: IncomingAck, reason: str, command_id: str | None = None
    ) -> AckOutcome:
        row = repeats.quarantine_row(
            item.topic,
            item.ward,
            item.receiver,
            item.raw,
            reason,
            now=self.now,
            command_id=command_id,
        )
        self.quarantined.append(row)
        return AckOutcome(command_id, item.ward, item.receiver, None, False, row["reason"])


PLAY_SLACK_S = 5.0  # a `completed` may come this much sooner than the recording's length


def _durations(conn: Connection, ids: Sequence[str]) -> dict[str, tuple[float, Any]]:
    """Command id -> ``audio.duration_s`` of its payload (as sent to the receiver), and its
    row's ``created_at`` and ``expires_at``."""
    c = t.commands
    found: dict[str, tuple[float, Any]] = {}
    for chunk in chunks(sorted(set(ids))):
        query = select(c.c.id, c.c.payload, c.c.created_at, c.c.expires_at)
        for r in conn.execute(query.where(c.c.id.in_(chunk))):
            try:
                found[r.id] = (float(json.loads(bytes(r.payload))["audio"]["duration_s"]), r)
            except (ValueError, KeyError, TypeError):
                continue  # not a play command of ours: nothing to compare with
    return found
