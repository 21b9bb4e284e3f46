"""Batch filing of what receivers send: acks, statuses, and messages kept in quarantine.

A matched ack moves its command only forwards (via core.commands); an ack that can't be matched
is quarantined with the reason; many messages in one transaction (``record_ack`` is one of them).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from ipfm_scheduler.core.commands import AckStatus, CommandState, after_ack
from ipfm_scheduler.core.ids import COMMAND_ID_RE
from ipfm_scheduler.errors import ProtocolError
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.bulk import chunks, command_rows
from ipfm_scheduler.storage.records import AckKind, AckOutcome, ParsedAck, ReceiverState
from ipfm_scheduler.storage.repo_batch import (
    BatchRepository,
    refresh_outcomes_of,
    update_commands,
)
from ipfm_scheduler.storage.repo_commands import MAX_RAW_BYTES, _mismatch
from ipfm_scheduler.storage.types import safe_text, to_utc


@dataclass(frozen=True, slots=True)
class AckBatchItem:
    """An ack as it arrived (ward and receiver from its topic) and what the parser made of it."""

    ward: str
    receiver: str
    topic: str
    raw: bytes
    parsed: ParsedAck | str  # the parsed ack, or why it could not be read


class AnswerRepository(BatchRepository):
    def record_ack(
        self,
        topic_ward: str,
        topic_receiver: str,
        raw_payload: bytes,
        parsed: ParsedAck | ProtocolError | str,
        *,
        now: datetime,
        topic: str | None = None,
    ) -> AckOutcome:
        """File an acknowledgement received on ``.../WARD/RECEIVER/ack``: ``record_acks`` for
        one ack (the rules are there).

        ``parsed`` is what the protocol parser made of ``raw_payload``: a :class:`ParsedAck`, or
        its error (why the payload is not a valid ack). An ack that can't be matched to a command
        sent to that same ward and receiver is quarantined with the reason; a matched ack is
        always stored, and moves the command's state only forwards (a repeated ack is stored,
        marked as having changed nothing).
        """
        reason = parsed if isinstance(parsed, ParsedAck) else str(parsed)
        where = topic or f"{topic_ward}/{topic_receiver}/ack"
        item = AckBatchItem(topic_ward, topic_receiver, where, raw_payload, reason)
        return self.record_acks([item], now=now)[0]

    def record_acks(self, items: Sequence[AckBatchItem], *, now: datetime) -> list[AckOutcome]:
        """Acks, in the order they arrived, in one transaction (the commands they name are
        locked until it ends, so concurrent writers wait for each other).

        Each ack is matched to its command: one sent to another ward or receiver, or unknown,
        or unreadable, is quarantined with the reason. A matched ack is always stored and moves
        its command's state only forwards (a repeated ack is stored, marked as having changed
        nothing). A ``completed`` that arrives sooner after its command was stored than the
        command's recording lasts (``audio.duration_s`` of its payload, less ``PLAY_SLACK_S``)
        can't be true; it is quarantined with the reason and changes nothing.
        """
        if not items:
            return []
        now = to_utc(now, "now")
        ids = [i.parsed.id for i in items if isinstance(i.parsed, ParsedAck)]
        ids = [cid for cid in ids if COMMAND_ID_RE.fullmatch(cid)]
        with self._write() as conn:
            columns = ("ward", "receiver", "state", "airing_id", "created_at")
            rows = {r.id: r for r in command_rows(conn, ids, *columns, for_update=True)}
            completed = [
                i.parsed.id
                for i in items
                if isinstance(i.parsed, ParsedAck) and i.parsed.status == AckStatus.COMPLETED
            ]
            filer = _AckFiler(rows, now, _durations(conn, [c for c in completed if c in rows]))
            outcomes = [filer.file(item) for item in items]
            if filer.acks:
                conn.execute(t.acks.insert(), filer.acks)
            if filer.quarantined:
                conn.execute(t.ack_quarantine.insert(), filer.quarantined)
            update_commands(conn, filer.changes)
            airings = {rows[cid].airing_id for cid in filer.changes}
            refresh_outcomes_of(conn, sorted(airings))
        return outcomes

    def record_statuses(self, items: Sequence[StatusBatchItem], *, now: datetime) -> list[bool]:
        """``record_status`` for many status messages, in order, in one transaction; returns,
        per message, whether the receiver's state (or firmware) changed.

        A ``retained`` status is one the broker replays on every (re)connect, not the receiver
        speaking now: its change of state is recorded if it is new, but ``last_seen_at`` does
        not move (a receiver first known that way is seen at the time it gave, at most now)."""
        if not items:
            return []
        now = to_utc(now, "now")
        rs = t.receiver_status
        with self._write() as conn:
            current: dict[tuple[str, str], dict[str, Any]] = {}
            for chunk in chunks(sorted({i.ward for i in items})):
                for r in conn.execute(select(rs).where(rs.c.ward.in_(chunk))):
                    current[(r.ward, r.receiver)] = {
                        "online": r.online, "since": r.since, "fw": r.fw, "new": False,
                        "seen": r.last_seen_at,
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

    def quarantine(
        self, topic: str, ward: str, receiver: str, raw: bytes, reason: str, *, now: datetime
    ) -> None:
        """Keep a message from a receiver that can't be filed (a topic that is not one of ours,
        an unreadable status), with the reason: never dropped."""
        filer = _AckFiler({}, to_utc(now, "now"), {})
        filer.quarantine(AckBatchItem(ward, receiver, topic, raw, reason), reason)
        with self._write() as conn:
            conn.execute(t.ack_quarantine.insert(), filer.quarantined)


@dataclass(frozen=True, slots=True)
class StatusBatchItem:
    ward: str
    receiver: str
    state: ReceiverState
    at: datetime | None
    fw: str | None
    raw: bytes
    retained: bool = False  # replayed by the broker, not heard from the receiver just now


def _status_change(
    current: dict[tuple[str, str], dict[str, Any]], item: StatusBatchItem, now: datetime
) -> bool:
    """Apply one status to ``current`` (as ``record_status`` does); True if it changed."""
    online = ReceiverState(item.state) is ReceiverState.ONLINE
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
    }
    return changed


def _seen(item: StatusBatchItem, known: dict[str, Any] | None, now: datetime) -> datetime:
    """When the receiver was last heard: now, unless ``item`` is a retained replay."""
    if not item.retained:
        return now
    if known is not None:
        seen: datetime = known["seen"]
        return seen
    return now if item.at is None else min(to_utc(item.at, "the status time"), now)


def _status_event(item: StatusBatchItem, state: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {
        "ward": item.ward,
        "receiver": item.receiver,
        "state": ReceiverState(item.state).value,
        "receiver_at": None if item.at is None else to_utc(item.at, "the status time"),
        "received_at": now,
        "fw": state["fw"],
        "raw": item.raw[:MAX_RAW_BYTES],
    }


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
        values["fw"] = state["fw"]
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
            .values({k: bindparam(f"v_{k}") for k in ("online", "since", "last_seen_at", "fw")}),
            old,
        )


class _AckFiler:
    """Files acks in order against the commands read once: the rows to insert and the changes."""

    def __init__(self, rows: dict[str, Any], now: datetime, durations: dict[str, float]) -> None:
        self.rows = rows
        self.now = now
        self.durations = durations  # command id -> its recording's length (completed acks)
        self.state = {cid: CommandState(r.state) for cid, r in rows.items()}
        self.acks: list[dict[str, Any]] = []
        self.quarantined: list[dict[str, Any]] = []
        self.changes: dict[str, dict[str, Any]] = {}

    def file(self, item: AckBatchItem) -> AckOutcome:
        if not isinstance(item.parsed, ParsedAck):
            return self.quarantine(item, f"not a valid ack: {item.parsed}")
        ack = item.parsed
        row = self.rows.get(ack.id)
        reason = _mismatch(ack.id, row, item.ward, item.receiver)
        if reason or row is None:
            return self.quarantine(item, reason, ack.id)
        current = self.state[ack.id]
        new = after_ack(current, AckStatus(ack.status))
        changed = new is not current
        if changed and new is CommandState.COMPLETED:
            impossible = self._too_soon(ack.id, row.created_at)
            if impossible:
                return self.quarantine(item, impossible, ack.id)
        at = None if ack.at is None else to_utc(ack.at, "the ack's time")
        self.acks.append(
            {
                "command_id": ack.id,
                "ward": item.ward,
                "receiver": item.receiver,
                "status": AckStatus(ack.status).value,
                "detail": safe_text(ack.detail),
                "played_s": ack.played_s,
                "receiver_at_text": safe_text(ack.at_text) or "",
                "receiver_at": at,
                "received_at": self.now,
                "raw": item.raw[:MAX_RAW_BYTES],
                "changed_state": changed,
                "state_after": new.value,
            }
        )
        if not changed:
            return AckOutcome(AckKind.DUPLICATE, ack.id, new)
        self.state[ack.id] = new
        self.changes[ack.id] = {
            "state": new.value,
            "state_at": self.now,
            "detail": safe_text(ack.detail),
            "played_s": ack.played_s,
            "receiver_at": at,
        }
        return AckOutcome(AckKind.STORED, ack.id, new)

    def _too_soon(self, command_id: str, stored_at: datetime) -> str | None:
        """Why a ``completed`` can't be true, if it came sooner after the command was stored
        (it can't have reached the receiver earlier) than its recording lasts."""
        duration = self.durations.get(command_id)
        if duration is None:
            return None
        elapsed = (self.now - to_utc(stored_at, "created_at")).total_seconds()
        if elapsed >= duration - PLAY_SLACK_S:
            return None
        return (
            f"`completed` {elapsed:.0f} s after the command was sent, but its recording lasts "
            f"{duration:.0f} s: it can't have played; not counted"
        )

    def quarantine(
        self, item: AckBatchItem, reason: str, command_id: str | None = None
    ) -> AckOutcome:
        size = len(item.raw)
        if size > MAX_RAW_BYTES:
            reason += f" (payload of {size} bytes, first {MAX_RAW_BYTES} kept)"
        self.quarantined.append(
            {
                "topic": safe_text(item.topic),
                "ward": safe_text(item.ward) or None,
                "receiver": safe_text(item.receiver) or None,
                "command_id": safe_text(command_id),
                "raw": item.raw[:MAX_RAW_BYTES],
                "raw_bytes": size,
                "reason": safe_text(reason),
                "received_at": self.now,
            }
        )
        return AckOutcome(AckKind.QUARANTINED, command_id, None, reason)


PLAY_SLACK_S = 5.0  # a `completed` may come this much sooner than the recording's length


def _durations(conn: Connection, ids: Sequence[str]) -> dict[str, float]:
    """Command id -> ``audio.duration_s`` of its payload (as sent to the receiver)."""
    c = t.commands
    found: dict[str, float] = {}
    for chunk in chunks(sorted(set(ids))):
        for r in conn.execute(select(c.c.id, c.c.payload).where(c.c.id.in_(chunk))):
            try:
                found[r.id] = float(json.loads(bytes(r.payload))["audio"]["duration_s"])
            except (ValueError, KeyError, TypeError):
                continue  # not a play command of ours: nothing to compare with
    return found
