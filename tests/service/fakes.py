"""In-memory stand-ins for the dispatcher's ports: fast unit tests of the decisions.

``FakeLog`` follows the rules the real airing log follows (idempotent keys, the command state
machine of core.commands, quarantine); the end-to-end tests run the same flows against the real
database and broker.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

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
from ipfm_scheduler.service.ports import (
    AckOutcome,
    AiringRecord,
    AiringToStore,
    CommandRecord,
    CommandRef,
    ConfigInForce,
    IncomingAck,
    IncomingStatus,
    LiveInstance,
    ManualRequest,
    OutgoingCommand,
    RequestState,
    SendOutcome,
    SendResult,
    StaleRequest,
    StoredAiring,
    WeekCloseRow,
)


@dataclass
class Cmd:
    id: str
    airing: int
    ward: str
    receiver: str
    topic: str
    payload: bytes
    expires_at: datetime
    state: CommandState = CommandState.PENDING
    detail: str | None = None
    attempts: list[tuple[datetime, SendOutcome]] = field(default_factory=list)
    last_sent: datetime | None = None


@dataclass
class Airing:
    id: int
    item: AiringToStore
    outcome: str | None = None

    @property
    def planned(self) -> PlannedAiring:
        return self.item.planned


class FakeLog:
    """The airing log in memory (one lock stands for the database's transactions)."""

    def __init__(self, durations: dict[str, float] | None = None) -> None:
        self.durations = durations or {}
        self.airings: dict[int, Airing] = {}
        self.keys: dict[tuple[str, str, datetime], int] = {}
        self.commands: dict[str, Cmd] = {}
        self.acks: list[tuple[IncomingAck, bool]] = []
        self.quarantined: list[tuple[str, bytes, str]] = []
        self.statuses: dict[tuple[str, str], tuple[bool, datetime]] = {}
        self.closed: dict[IsoWeek, list[WeekCloseRow]] = {}
        self.closed_snapshot: dict[IsoWeek, int | None] = {}
        self.requests: dict[int, dict[str, object]] = {}
        self.instances: dict[int, dict[str, object]] = {}
        self.snapshots: list[int | None] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.fail_next: Exception | None = None
        self.configs: list[object] = []
        self.config_loads: list[tuple[datetime, int]] = []  # (loaded at, snapshot id)
        self.config_error: Exception | None = None
        self.closed_log = False

    def _check(self) -> None:
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc

    # ------------------------------------------------------------- writes

    def store_airings(
        self, items: Sequence[AiringToStore], *, snapshot_id: int | None, now: datetime
    ) -> list[StoredAiring]:
        with self._lock:
            self._check()
            self.snapshots.append(snapshot_id)
            return [self._store(item) for item in items]

    def _store(self, item: AiringToStore) -> StoredAiring:
        p = item.planned
        key = (p.ward, p.programme, p.start)
        created = key not in self.keys
        if created:
            airing_id = next(self._ids)
            self.keys[key] = airing_id
            self.airings[airing_id] = Airing(airing_id, item, "missed" if item.missed else None)
        airing_id = self.keys[key]
        have = {c.receiver for c in self.commands.values() if c.airing == airing_id}
        added = 0
        for command in item.commands:
            if command.receiver in have:
                continue
            self.commands[command.id] = Cmd(
                command.id,
                airing_id,
                p.ward,
                command.receiver,
                command.topic,
                command.payload,
                p.expires,
            )
            added += 1
        if item.request_id is not None and item.request_id in self.requests:
            self.requests[item.request_id]["airing"] = airing_id
        return StoredAiring(airing_id, created, added)

    def commands_to_send(
        self, now: datetime, *, resend_after: timedelta, due_by: datetime, limit: int
    ) -> list[OutgoingCommand]:
        with self._lock:
            self._check()
            due = []
            for c in self.commands.values():
                airing = self.airings[c.airing]
                if airing.planned.start > due_by:
                    continue
                last = c.attempts[-1][0] if c.attempts else None
                stalled = (
                    c.state in {CommandState.RECEIVED, CommandState.PLAYING}
                    and c.expires_at <= now
                    and last is not None
                    and last <= now - 4 * resend_after
                )
                waiting = c.state is CommandState.PENDING or (
                    c.state is CommandState.SENT and last is not None and last <= now - resend_after
                )
                if (waiting and c.expires_at > now) or stalled:
                    due.append((airing.planned.start, c))
            due.sort(key=lambda x: (x[0], x[1].id))
            return [
                OutgoingCommand(
                    c.id,
                    c.ward,
                    c.receiver,
                    c.topic,
                    c.payload,
                    c.expires_at,
                    resend=c.state is not CommandState.PENDING,
                )
                for _, c in due[:limit]
            ]

    def record_sends(self, results: Sequence[SendResult], *, now: datetime) -> None:
        with self._lock:
            self._check()
            for result in results:
                c = self.commands[result.command_id]
                c.attempts.append((now, result.outcome))
                if result.outcome is SendOutcome.PUBACK:
                    c.state = after_publish(c.state)
                    c.last_sent = now

    def record_acks(self, acks: Sequence[IncomingAck], *, now: datetime) -> list[AckOutcome]:
        with self._lock:
            self._check()
            return [self._ack(a) for a in acks]

    def _ack(self, a: IncomingAck) -> AckOutcome:
        reason = a.error
        c = None
        if a.ack is not None:
            c = self.commands.get(a.ack.id)
            if c is None:
                reason = f"unknown command {a.ack.id}"
            elif (c.ward, c.receiver) != (a.ward, a.receiver):
                reason = f"command {a.ack.id} was sent to {c.ward}/{c.receiver}"
        if reason is not None or c is None or a.ack is None:
            self.quarantined.append((a.topic, a.raw, reason or "?"))
            return AckOutcome(None, a.ward, a.receiver, None, False, reason)
        new = after_ack(c.state, AckStatus(str(a.ack.status)))
        changed = new is not c.state
        if changed:
            c.state = new
            if new.final:
                c.detail = a.ack.detail
        self.acks.append((a, changed))
        return AckOutcome(c.id, a.ward, a.receiver, c.state, changed)

    def quarantine(
        self, topic: str, ward: str, receiver: str, raw: bytes, reason: str, *, now: datetime
    ) -> None:
        with self._lock:
            self.quarantined.append((topic, raw, reason))

    def record_statuses(self, statuses: Sequence[IncomingStatus], *, now: datetime) -> list[bool]:
        changed = []
        with self._lock:
            for status in statuses:
                key = (status.ward, status.receiver)
                old = self.statuses.get(key)
                if old is not None and old[0] == status.online:
                    changed.append(False)
                    continue
                self.statuses[key] = (status.online, now)
                changed.append(True)
        return changed

    def expire_overdue(self, now: datetime, *, grace: timedelta) -> list[CommandRef]:
        with self._lock:
            self._check()
            expired = []
            for c in self.commands.values():
                programme = self.airings[c.airing].planned.programme
                ends = c.expires_at + timedelta(seconds=self.durations.get(programme, 0)) + grace
                if c.state.open and ends <= now:
                    c.state = after_deadline(c.state)
                    expired.append(CommandRef(c.id, c.ward, c.receiver))
            return expired

    # ------------------------------------------------------------- reads

    def airings_between(
        self, start: datetime, end: datetime, wards: Collection[str] | None = None
    ) -> list[AiringRecord]:
        with self._lock:
            self._check()
            return [
                self._record(a)
                for a in self.airings.values()
                if start <= a.planned.start < end and (wards is None or a.planned.ward in wards)
            ]

    def _record(self, a: Airing) -> AiringRecord:
        commands = {
            c.receiver: CommandRecord(c.id, c.receiver, c.state, c.detail)
            for c in self.commands.values()
            if c.airing == a.id
        }
        return AiringRecord(
            a.id,
            a.planned.ward,
            a.planned.programme,
            a.planned.start,
            a.planned.expires,
            a.planned.origin,
            a.item.priority,
            commands,
            a.outcome,
            a.item.makeup_for,
        )

    def offline_receivers(self) -> dict[tuple[str, str], datetime]:
        with self._lock:
            return {k: since for k, (online, since) in self.statuses.items() if not online}

    def last_closed_week(self) -> IsoWeek | None:
        return max(self.closed, default=None)

    def earliest_airing(self) -> datetime | None:
        return min((a.planned.start for a in self.airings.values()), default=None)

    def record_week_close(
        self,
        week: IsoWeek,
        rows: Sequence[WeekCloseRow],
        *,
        now: datetime,
        snapshot_id: int | None = None,
    ) -> None:
        self.closed[week] = list(rows)
        self.closed_snapshot[week] = snapshot_id

    def queue(self, request: ManualRequest) -> None:
        self.requests[request.id] = {"request": request, "state": RequestState.QUEUED}

    def take_requests(self, now: datetime) -> list[ManualRequest]:
        taken = []
        for entry in self.requests.values():
            if entry["state"] is RequestState.QUEUED:
                entry["state"] = RequestState.TAKEN
                entry["taken_at"] = now
                request = entry["request"]
                assert isinstance(request, ManualRequest)
                taken.append(request)
        return taken

    def stale_requests(self, taken_before: datetime) -> list[StaleRequest]:
        """Requests taken before ``taken_before`` and not finished, with the airing stored for
        each (noted when it was stored)."""
        found = []
        for entry in self.requests.values():
            taken_at = entry.get("taken_at")
            assert taken_at is None or isinstance(taken_at, datetime)
            if entry["state"] is RequestState.TAKEN and taken_at and taken_at < taken_before:
                request, airing = entry["request"], entry.get("airing")
                assert isinstance(request, ManualRequest)
                assert airing is None or isinstance(airing, int)
                found.append(StaleRequest(request, taken_at, airing))
        return found

    def finish_request(
        self,
        request_id: int,
        *,
        state: RequestState,
        message: str,
        airing_id: int | None,
        now: datetime,
    ) -> None:
        self.requests[request_id].update(state=state, message=message, airing=airing_id)

    def record_config(self, loaded: object, *, now: datetime) -> int:
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

    def config_in_force(self, moment: datetime) -> ConfigInForce | None:
        loads = [sid for at, sid in self.config_loads if at < moment]
        if not loads:
            return None
        loaded = self.configs[loads[-1] - 1]
        schedule = loaded.schedule  # type: ignore[attr-defined]
        return ConfigInForce(loads[-1], schedule.wards, schedule.programmes)

    def close(self) -> None:
        self.closed_log = True

    def start_instance(self, *, host: str, pid: int, now: datetime) -> int:
        instance = next(self._ids)
        self.instances[instance] = {"host": host, "pid": pid, "beat": now, "stopped": None}
        return instance

    def live_instance(self, now: datetime, within: timedelta) -> LiveInstance | None:
        live = [
            (i["beat"], n, i)
            for n, i in self.instances.items()
            if i["stopped"] is None and now - i["beat"] <= within
        ]
        if not live:
            return None
        _, _, newest = max(live, key=lambda x: (x[0], x[1]))
        return LiveInstance(newest["host"], newest["pid"], newest["beat"])

    def heartbeat(self, instance_id: int, now: datetime) -> None:
        self._check()
        self.instances[instance_id]["beat"] = now

    def stop_instance(self, instance_id: int, now: datetime) -> None:
        self.instances[instance_id]["stopped"] = now

    # ------------------------------------------------------------- test helpers

    def for_receiver(self, ward: str, receiver: str) -> list[Cmd]:
        return [c for c in self.commands.values() if (c.ward, c.receiver) == (ward, receiver)]

    def origins(self) -> list[Origin]:
        return [a.planned.origin for a in self.airings.values()]
