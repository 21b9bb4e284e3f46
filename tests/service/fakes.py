"""In-memory stand-ins for the dispatcher's ports: fast unit tests of the decisions.

``FakeLog`` follows the rules the real airing log follows (idempotent keys, the command state
machine of core.commands, quarantine); the end-to-end tests run the same flows against the real
database and broker.
"""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ipfm_scheduler.config.settings import AudioFile, SigningKey
from ipfm_scheduler.core.commands import (
    AckStatus,
    CommandState,
    after_ack,
    after_deadline,
    after_publish,
)
from ipfm_scheduler.core.expand import PlannedAiring
from ipfm_scheduler.core.model import Origin, Priority, Programme
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.errors import ProtocolError
from ipfm_scheduler.service.ports import (
    AckOutcome,
    AiringRecord,
    AiringToStore,
    CommandRecord,
    CommandRef,
    IncomingAck,
    IncomingMessage,
    IncomingStatus,
    ManualRequest,
    OutgoingCommand,
    Publish,
    PublishStatus,
    RequestState,
    SendOutcome,
    SendResult,
    StoredAiring,
    WeekCloseRow,
)
from ipfm_scheduler.service.wire import StatusInfo, TopicRef


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


@dataclass
class FakeAck:
    id: str
    status: AckStatus
    at: datetime
    detail: str | None = None
    played_s: float | None = None


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
        self.requests: dict[int, dict[str, object]] = {}
        self.instances: dict[int, dict[str, object]] = {}
        self.snapshots: list[int | None] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.fail_next: Exception | None = None
        self.configs: list[object] = []
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
        self, week: IsoWeek, rows: Sequence[WeekCloseRow], *, now: datetime
    ) -> None:
        self.closed[week] = list(rows)

    def queue(self, request: ManualRequest) -> None:
        self.requests[request.id] = {"request": request, "state": RequestState.QUEUED}

    def take_requests(self, now: datetime) -> list[ManualRequest]:
        taken = []
        for entry in self.requests.values():
            if entry["state"] is RequestState.QUEUED:
                entry["state"] = RequestState.TAKEN
                request = entry["request"]
                assert isinstance(request, ManualRequest)
                taken.append(request)
        return taken

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
        self.configs.append(loaded)
        return len(self.configs)

    def close(self) -> None:
        self.closed_log = True

    def start_instance(self, *, host: str, pid: int, now: datetime) -> int:
        instance = next(self._ids)
        self.instances[instance] = {"host": host, "pid": pid, "beat": now, "stopped": None}
        return instance

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


class FakeOutbox:
    """Publishes into a list; PUBACKs come at once unless ``auto_puback`` is off."""

    def __init__(self, *, cap: int = 1_000_000) -> None:
        self.connected = True
        self.alive = True
        self.auto_puback = True
        self.cap = cap
        self.published: list[tuple[str, str, bytes]] = []  # (token, topic, payload)
        self.refuse: PublishStatus | None = None
        self._pubacks: list[str] = []
        self._unacked: list[str] = []
        self.incoming: list[IncomingMessage] = []
        self.closed = False

    def is_connected(self) -> bool:
        return self.connected

    def wait_connected(self, timeout: float) -> bool:
        return self.connected

    def close(self) -> None:
        self.closed = True

    def is_alive(self) -> bool:
        return self.alive

    def publish(self, topic: str, payload: bytes, *, token: str, wait: bool = True) -> Publish:
        if not self.connected:
            return Publish(PublishStatus.NO_CONNECTION, reason="not connected")
        if self.refuse is not None:
            return Publish(self.refuse, reason="refused by the test")
        if len(self._unacked) >= self.cap:
            return Publish(PublishStatus.BUSY)
        self.published.append((token, topic, payload))
        (self._pubacks if self.auto_puback else self._unacked).append(token)
        return Publish(PublishStatus.ACCEPTED)

    def ack_all(self) -> None:
        self._pubacks += self._unacked
        self._unacked = []

    def take_pubacks(self, timeout: float = 0.0) -> list[str]:
        if not self._pubacks and self._unacked and timeout > 0 and self.connected:
            self.ack_all()  # "the broker answers while we wait"
        tokens, self._pubacks = self._pubacks, []
        return tokens

    def take_incoming(self, limit: int) -> list[IncomingMessage]:
        taken, self.incoming = self.incoming[:limit], self.incoming[limit:]
        return taken

    def payloads(self) -> list[dict[str, object]]:
        return [json.loads(p) for _, _, p in self.published]


class FakeWire:
    """JSON payloads with the fields the protocol has (no signature)."""

    def new_command_id(self) -> str:
        return f"cmd-{uuid.uuid4().hex[:12]}"

    def cmd_topic(self, prefix: str, ward: str, receiver: str) -> str:
        return f"{prefix}/{ward}/{receiver}/cmd"

    def parse_topic(self, prefix: str, topic: str) -> TopicRef:
        parts = topic.split("/")
        if len(parts) != 4 or parts[0] != prefix or parts[3] not in {"ack", "status", "cmd"}:
            raise ProtocolError(f"topic {topic!r} is not PREFIX/WARD/RECEIVER/(ack|status)")
        return TopicRef(parts[1], parts[2], parts[3])

    def parse_ack(self, payload: bytes) -> FakeAck:
        try:
            obj = json.loads(payload)
            return FakeAck(
                obj["id"],
                AckStatus(obj["status"]),
                datetime.fromisoformat(obj["at"]),
                obj.get("detail"),
                obj.get("played_s"),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ProtocolError(f"not an ack: {exc}") from exc

    def parse_status(self, payload: bytes) -> StatusInfo:
        try:
            obj = json.loads(payload)
            return StatusInfo(obj["state"] == "online", None, obj.get("fw"))
        except (ValueError, KeyError, TypeError) as exc:
            raise ProtocolError(f"not a status: {exc}") from exc

    def play(
        self,
        *,
        command_id: str,
        planned: PlannedAiring,
        programme: Programme,
        audio: AudioFile,
        audio_url: str,
        priority: Priority,
        issued_at: datetime,
        key: SigningKey | None,
    ) -> bytes:
        return json.dumps(
            {
                "v": 1,
                "type": "play",
                "id": command_id,
                "programme": programme.id,
                "audio": {"url": audio_url, "sha256": audio.sha256},
                "volume": planned.volume,
                "priority": priority.value,
                "start_at": planned.start.isoformat(),
                "expires_at": planned.expires.isoformat(),
                "issued_at": issued_at.isoformat(),
            }
        ).encode()


def ack_message(
    prefix: str,
    ward: str,
    receiver: str,
    command_id: str,
    status: str,
    at: datetime,
    detail: str | None = None,
) -> IncomingMessage:
    body: dict[str, object] = {"v": 1, "id": command_id, "status": status, "at": at.isoformat()}
    if detail:
        body["detail"] = detail
    return IncomingMessage(f"{prefix}/{ward}/{receiver}/ack", json.dumps(body).encode())


def status_message(prefix: str, ward: str, receiver: str, state: str) -> IncomingMessage:
    body = {"v": 1, "state": state}
    return IncomingMessage(f"{prefix}/{ward}/{receiver}/status", json.dumps(body).encode(), True)


def answer_all(
    outbox: FakeOutbox,
    prefix: str,
    at: datetime,
    *,
    status: str = "completed",
    only: set[tuple[str, str]] | None = None,
    detail: str | None = None,
    skip: int = 0,
) -> int:
    """Act as every receiver: answer each command published since ``skip`` with ``status``."""
    count = 0
    for _, topic, payload in outbox.published[skip:]:
        _, ward, receiver, _ = topic.split("/")
        if only is not None and (ward, receiver) not in only:
            continue
        command_id = json.loads(payload)["id"]
        outbox.incoming.append(ack_message(prefix, ward, receiver, command_id, status, at, detail))
        count += 1
    return count
