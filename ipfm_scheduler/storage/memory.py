"""The airing log in memory: ``service.ports.AiringLog`` without a database (dramatiq's
``StubBroker``), for fast tests of the service's decisions and for tools. It follows the rules
the database follows (idempotent keys, the command state machine of core.commands, quarantine,
the same values of core/records.py); tests/service/test_contract.py runs the same flows over it,
SQLite and PostgreSQL. No SQLAlchemy here. Attributes for tests to look inside or to make the
next call fail: ``fail_next``, ``config_error``.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from ipfm_scheduler.config.settings import LoadedConfig
from ipfm_scheduler.core import records as r
from ipfm_scheduler.core import traffic as tr
from ipfm_scheduler.core.commands import (
    AckStatus,
    CommandState,
    after_ack,
    after_deadline,
    after_publish,
)
from ipfm_scheduler.core.expand import PlannedAiring
from ipfm_scheduler.core.model import Origin
from ipfm_scheduler.core.weeks import IsoWeek


@dataclass
class MemoryCommand:
    id: str
    airing: int
    ward: str
    receiver: str
    topic: str
    payload: bytes
    expires_at: datetime
    state: CommandState = CommandState.PENDING
    detail: str | None = None
    attempts: list[tuple[datetime, tr.SendOutcome]] = field(default_factory=list)
    last_sent: datetime | None = None


@dataclass
class MemoryAiring:
    id: int
    item: tr.AiringToStore
    outcome: r.AiringOutcome | None = None  # MISSED when stored as missed

    @property
    def planned(self) -> PlannedAiring:
        return self.item.planned


class MemoryLog:
    """One lock stands for the database's transactions; ``durations``: programme -> seconds."""

    def __init__(self, durations: dict[str, float] | None = None) -> None:
        self.durations = durations or {}
        self.airings: dict[int, MemoryAiring] = {}
        self.keys: dict[tuple[str, str, datetime], int] = {}
        self.commands: dict[str, MemoryCommand] = {}
        self.acks: list[tuple[tr.IncomingAck, bool]] = []
        self.quarantined: list[tuple[str, bytes, str]] = []
        self.status_changes: list[tuple[tuple[str, str], bool, datetime]] = []  # in order
        self.closed: dict[IsoWeek, list[r.WeekCloseRow]] = {}
        self.closed_snapshot: dict[IsoWeek, int | None] = {}
        self.requests: dict[int, dict[str, object]] = {}
        self.instances: dict[int, dict[str, object]] = {}
        self.snapshots: list[int | None] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.fail_next: Exception | None = None
        self.pubacks_with_acks = True  # as PostgreSQL: the service's tests hold PUBACKs
        self.configs: list[LoadedConfig] = []
        self.config_loads: list[tuple[datetime, int]] = []  # (loaded at, snapshot id)
        self.config_error: Exception | None = None
        self.closed_log = False

    def _check(self) -> None:
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc

    # ------------------------------------------------------------- airings and commands

    def store_airings(
        self, items: Sequence[tr.AiringToStore], *, snapshot_id: int | None, now: datetime
    ) -> list[tr.StoredAiring]:
        with self._lock:
            self._check()
            self.snapshots.append(snapshot_id)
            return [self._store(item) for item in items]

    def _store(self, item: tr.AiringToStore) -> tr.StoredAiring:
        p = item.planned
        key = (p.ward, p.programme, p.start)
        created = key not in self.keys
        if created:
            airing_id = next(self._ids)
            self.keys[key] = airing_id
            missed = r.AiringOutcome.MISSED if item.missed else None
            self.airings[airing_id] = MemoryAiring(airing_id, item, missed)
        airing_id = self.keys[key]
        have = {c.receiver for c in self.commands.values() if c.airing == airing_id}
        added = 0
        for command in () if item.missed else item.commands:
            if command.receiver in have:
                continue
            self.commands[command.id] = MemoryCommand(
                command.id, airing_id, p.ward, command.receiver, command.topic, command.payload,
                p.expires,
            )  # fmt: skip
            added += 1
        if item.request_id is not None and item.request_id in self.requests:
            self.requests[item.request_id]["airing"] = airing_id
        return tr.StoredAiring(airing_id, created, added)

    def commands_to_send(
        self,
        now: datetime,
        *,
        resend_after: timedelta,
        due_by: datetime | None = None,
        limit: int = 100,
    ) -> list[tr.OutgoingCommand]:
        with self._lock:
            self._check()
            due = []
            for c in self.commands.values():
                airing = self.airings[c.airing]
                if due_by is not None and airing.planned.start > due_by:
                    continue
                last = c.attempts[-1][0] if c.attempts else None
                stalled = (
                    c.state in {CommandState.RECEIVED, CommandState.PLAYING}
                    and c.expires_at <= now
                    and last is not None
                    and last <= now - tr.STALLED_FACTOR * resend_after
                )
                waiting = c.state is CommandState.PENDING or (
                    c.state is CommandState.SENT and (last is None or last <= now - resend_after)
                )
                if (waiting and c.expires_at > now) or stalled:
                    due.append((airing.planned.start, c))
            due.sort(key=lambda x: (x[0], x[1].id))
            return [_outgoing(c, start) for start, c in due[:limit]]

    def record_sends(self, results: Sequence[tr.SendResult], *, now: datetime) -> None:
        with self._lock:
            self._check()
            for result in results:
                c = self.commands.get(result.command_id)
                if c is None:
                    continue  # as in the database: an unknown command is ignored
                c.attempts.append((now, result.outcome))
                if result.outcome is tr.SendOutcome.PUBACK:
                    c.state = after_publish(c.state)
                    c.last_sent = now

    def expire_overdue(self, now: datetime, *, grace: timedelta) -> list[tr.CommandRef]:
        with self._lock:
            self._check()
            expired = []
            for c in self.commands.values():
                programme = self.airings[c.airing].planned.programme
                ends = c.expires_at + timedelta(seconds=self.durations.get(programme, 0)) + grace
                if c.state.open and ends <= now:
                    c.state = after_deadline(c.state)
                    expired.append(tr.CommandRef(c.id, c.ward, c.receiver))
            return sorted(expired, key=lambda ref: ref.id)

    # ------------------------------------------------------------- what receivers send

    def record_acks(
        self, acks: Sequence[tr.IncomingAck], *, now: datetime, pubacks: Sequence[str] = ()
    ) -> list[tr.AckOutcome]:
        self.record_sends([tr.SendResult(c, tr.SendOutcome.PUBACK) for c in pubacks], now=now)
        with self._lock:
            self._check()
            return [self._ack(a) for a in acks]

    def _ack(self, a: tr.IncomingAck) -> tr.AckOutcome:
        reason = None if a.ack is not None else f"not a valid ack: {a.error or 'unreadable'}"
        c = None
        if a.ack is not None:
            c = self.commands.get(a.ack.id)
            if c is None:
                reason = f"unknown command id {a.ack.id!r}"
            elif (c.ward, c.receiver) != (a.ward, a.receiver):
                reason = (
                    f"command {a.ack.id} was sent to {c.ward}/{c.receiver}, "
                    f"not to {a.ward}/{a.receiver}"
                )
        if reason is not None or c is None or a.ack is None:
            self.quarantined.append((a.topic, a.raw, reason or "?"))
            command_id = None if a.ack is None else a.ack.id
            return tr.AckOutcome(command_id, a.ward, a.receiver, None, False, reason or "?")
        new = after_ack(c.state, AckStatus(str(a.ack.status)))
        changed = new is not c.state
        if changed:
            c.state = new
            if new.final:
                c.detail = a.ack.detail
        self.acks.append((a, changed))
        return tr.AckOutcome(c.id, a.ward, a.receiver, c.state, changed)

    def quarantine(
        self,
        topic: str,
        ward: str,
        receiver: str,
        raw: bytes,
        reason: str,
        *,
        now: datetime,
        size: int | None = None,
        sha256: str | None = None,
    ) -> None:
        with self._lock:
            self.quarantined.append((topic, raw, reason))

    def record_statuses(
        self, statuses: Sequence[tr.IncomingStatus], *, now: datetime
    ) -> list[bool]:
        changed = []
        with self._lock:
            for status in statuses:
                key = (status.ward, status.receiver)
                old = self._states(None).get(key)
                changed.append(old is None or old[0] != status.online)
                if changed[-1]:
                    self.status_changes.append((key, status.online, now))
        return changed

    def offline_receivers(
        self, until: datetime | None = None, wards: Collection[str] | None = None
    ) -> dict[tuple[str, str], datetime]:
        with self._lock:
            states = self._states(until).items()
        return {k: t for k, (on, t) in states if not on and (wards is None or k[0] in wards)}

    def _states(self, until: datetime | None) -> dict[tuple[str, str], tuple[bool, datetime]]:
        return {k: (on, at) for k, on, at in self.status_changes if until is None or at < until}

    # ------------------------------------------------------------- reads and the week

    def airings_between(
        self, start: datetime, end: datetime, wards: Collection[str] | None = None
    ) -> list[r.AiringRecord]:
        with self._lock:
            self._check()
            return [
                self._record(a)
                for a in self.airings.values()
                if start <= a.planned.start < end and (wards is None or a.planned.ward in wards)
            ]

    def _record(self, a: MemoryAiring) -> r.AiringRecord:
        commands = {
            c.receiver: r.CommandRecord(c.id, c.receiver, c.state, c.detail)
            for c in self.commands.values()
            if c.airing == a.id
        }
        states = (c.state for c in commands.values())
        return r.AiringRecord(
            a.id, a.planned.ward, a.planned.programme, a.planned.start, a.planned.expires,
            a.planned.origin, a.item.priority, dict(sorted(commands.items())),
            a.outcome or r.airing_outcome(states), a.item.makeup_for,
        )  # fmt: skip

    def last_closed_week(self) -> IsoWeek | None:
        return max(self.closed, default=None)

    def earliest_airing(self) -> datetime | None:
        return min((a.planned.start for a in self.airings.values()), default=None)

    def record_week_close(
        self,
        week: IsoWeek,
        rows: Sequence[r.WeekCloseRow],
        *,
        now: datetime,
        snapshot_id: int | None = None,
    ) -> None:
        self.closed[week] = list(rows)
        self.closed_snapshot[week] = snapshot_id

    # ------------------------------------------------------------- configuration

    def record_config(self, loaded: LoadedConfig, *, now: datetime) -> int:
        if self.config_error is not None:
            raise self.config_error
        if loaded in self.configs:
            snapshot_id = self.configs.index(loaded) + 1
        else:
            self.configs.append(loaded)
            snapshot_id = len(self.configs)
        if not self.config_loads or self.config_loads[-1][1] != snapshot_id:
            self.config_loads.append((now, snapshot_id))
        return snapshot_id

    def config_in_force(self, moment: datetime) -> r.ConfigInForce | None:
        loads = [sid for at, sid in self.config_loads if at < moment]
        schedule = self.configs[loads[-1] - 1].schedule if loads else None
        if schedule is None:
            return None
        return r.ConfigInForce(loads[-1], schedule.wards, schedule.programmes)

    def close(self) -> None:
        self.closed_log = True

    # ------------------------------------------------------------- manual requests

    def queue(self, request: r.ManualRequest) -> None:
        """Queue ``request`` under its own id (tests)."""
        self.requests[request.id] = {"request": request, "state": r.RequestState.QUEUED}

    def queue_request(self, request: r.ManualRequest, *, now: datetime) -> int:
        """Queue ``request`` as `ipfm-scheduler air` does: it gets the next id."""
        request_id = max(self.requests, default=0) + 1
        self.queue(replace(request, id=request_id, requested_at=now))
        return request_id

    def take_requests(self, now: datetime) -> list[r.ManualRequest]:
        taken = []
        for entry in self.requests.values():
            if entry["state"] is r.RequestState.QUEUED:
                entry["state"] = r.RequestState.TAKEN
                entry["taken_at"] = now
                request = entry["request"]
                assert isinstance(request, r.ManualRequest)
                taken.append(request)
        return taken

    def stale_requests(self, taken_before: datetime) -> list[r.StaleRequest]:
        found = []
        for entry in self.requests.values():
            taken_at = entry.get("taken_at")
            assert taken_at is None or isinstance(taken_at, datetime)
            if entry["state"] is r.RequestState.TAKEN and taken_at and taken_at < taken_before:
                request, airing = entry["request"], entry.get("airing")
                assert isinstance(request, r.ManualRequest)
                assert airing is None or isinstance(airing, int)
                found.append(r.StaleRequest(request, taken_at, airing))
        return found

    def finish_request(
        self,
        request_id: int,
        *,
        state: r.RequestState,
        message: str,
        airing_id: int | None,
        now: datetime,
    ) -> None:
        self.requests[request_id].update(state=state, message=message, airing=airing_id)

    # ------------------------------------------------------------- the service's runs

    def start_instance(self, *, host: str, pid: int, now: datetime) -> int:
        instance = next(self._ids)
        self.instances[instance] = {"host": host, "pid": pid, "beat": now, "stopped": None}
        return instance

    def live_instance(self, now: datetime, within: timedelta) -> r.LiveInstance | None:
        live = []
        for n, i in self.instances.items():
            beat, host, pid = i["beat"], i["host"], i["pid"]
            assert isinstance(beat, datetime)
            assert isinstance(host, str)
            assert isinstance(pid, int)
            if i["stopped"] is None and now - beat <= within:
                live.append((beat, n, r.LiveInstance(host, pid, beat, n)))
        if not live:
            return None
        return max(live, key=lambda x: (x[0], x[1]))[2]

    def heartbeat(self, instance_id: int, now: datetime) -> None:
        self._check()
        self.instances[instance_id]["beat"] = now

    def stop_instance(self, instance_id: int, now: datetime) -> None:
        self.instances[instance_id]["stopped"] = now

    # ------------------------------------------------------------- for tests

    def origins(self) -> list[Origin]:
        return [a.planned.origin for a in self.airings.values()]


def _outgoing(c: MemoryCommand, start: datetime) -> tr.OutgoingCommand:
    resend = c.state is not CommandState.PENDING
    return tr.OutgoingCommand(
        c.id, c.ward, c.receiver, c.topic, c.payload, c.expires_at, resend, c.airing, c.state,
        len(c.attempts), start,
    )  # fmt: skip
