"""In-memory stand-ins for the MQTT side: the outbox, the wire format, and messages as receivers
would send them (fast unit tests; the end-to-end tests use the real broker and protocol)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from ipfm_scheduler.config.settings import AudioFile, SigningKey
from ipfm_scheduler.core.commands import AckStatus
from ipfm_scheduler.core.expand import PlannedAiring
from ipfm_scheduler.core.model import Priority, Programme
from ipfm_scheduler.errors import ProtocolError
from ipfm_scheduler.service.ports import IncomingMessage, Publish, PublishStatus
from ipfm_scheduler.service.wire import StatusInfo, TopicRef


@dataclass
class FakeAck:
    id: str
    status: AckStatus
    at: datetime
    detail: str | None = None
    played_s: float | None = None


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
        self.last_error: str | None = None  # the connection problem the transport would name

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

    def plays(
        self,
        count: int,
        *,
        planned: PlannedAiring,
        programme: Programme,
        audio: AudioFile,
        audio_url: str,
        priority: Priority,
        issued_at: datetime,
        key: SigningKey | None,
    ) -> list[tuple[str, bytes]]:
        made = []
        for _ in range(count):
            command_id = f"cmd-{uuid.uuid4().hex[:12]}"
            body = {
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
            made.append((command_id, json.dumps(body).encode()))
        return made


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


def status_message(
    prefix: str, ward: str, receiver: str, state: str, *, retain: bool = True
) -> IncomingMessage:
    body = {"v": 1, "state": state}
    return IncomingMessage(f"{prefix}/{ward}/{receiver}/status", json.dumps(body).encode(), retain)


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
