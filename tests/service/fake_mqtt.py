"""In-memory stand-in for the MQTT side (the outbox), and messages as receivers would send them
(fast unit tests use the real protocol code; the end-to-end tests the real broker too)."""

from __future__ import annotations

import json
from datetime import datetime

from ipfm_scheduler.service.ports import IncomingMessage, Publish, PublishStatus


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

    def fence(self, gate: object) -> None:
        self.gate = gate

    def put_back(self, messages: list[IncomingMessage]) -> None:
        self.incoming[:0] = messages

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
