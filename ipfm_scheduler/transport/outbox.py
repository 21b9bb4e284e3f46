"""The outbox port (``ports.Outbox``) over the MQTT transport (``transport/mqtt.py``).

The transport raises when a publish can't be handed over; the dispatcher wants a result it can
record (the command stays in the database and is tried again on a later tick). PUBACKs come back
as the command ids given as tokens; incoming acks and statuses are drained from the transport's
queue by the service's own thread.
"""

from __future__ import annotations

import queue
from collections.abc import Callable

from ipfm_scheduler.config.settings import MqttSettings
from ipfm_scheduler.core.traffic import IncomingMessage, Publish, PublishStatus
from ipfm_scheduler.errors import BrokerUnavailable, PublishBusy, PublishError
from ipfm_scheduler.protocol import scheduler_filters
from ipfm_scheduler.transport.intake import Incoming, Intake
from ipfm_scheduler.transport.mqtt import MqttTransport

MAX_OUTSTANDING = 1000  # publishes awaiting PUBACK at once (paced well below paho's 65,535)
WINDOW_WAIT_S = 2.0  # a publish waits this long for room in that window, then says BUSY


class MqttOutbox:
    def __init__(
        self, settings: MqttSettings, *, prefix: str, max_outstanding: int = MAX_OUTSTANDING
    ) -> None:
        #: acks are precious: paho has acknowledged them, the broker won't send them again
        self.intake = Intake(precious=lambda topic: topic.endswith("/ack"))
        self.transport = MqttTransport(
            settings,
            scheduler_filters(prefix),
            max_outstanding=max_outstanding,
            intake=self.intake,
        )
        self._early: list[IncomingMessage] = []  # taken off the queue by wait_incoming
        self.wait_s = WINDOW_WAIT_S

    def wait_connected(self, timeout: float) -> bool:
        """Start connecting (in the background, retrying) and wait up to ``timeout``."""
        self.transport.start()
        return self.transport.wait_connected(timeout)

    def is_connected(self) -> bool:
        return self.transport.connected

    def is_alive(self) -> bool:
        return self.transport.loop_alive

    @property
    def last_error(self) -> str | None:
        """The last connection problem, in plain words (for /healthz); None while all is well."""
        return self.transport.last_error

    def publish(self, topic: str, payload: bytes, *, token: str, wait: bool = True) -> Publish:
        try:
            self.transport.publish(topic, payload, token=token, timeout=self.wait_s if wait else 0)
        except PublishBusy:
            return Publish(PublishStatus.BUSY)
        except BrokerUnavailable as exc:
            return Publish(PublishStatus.NO_CONNECTION, str(exc))
        except PublishError as exc:
            return Publish(PublishStatus.ERROR, str(exc))
        return Publish(PublishStatus.ACCEPTED)

    def take_pubacks(self, timeout: float = 0.0) -> list[str]:
        delivered = self.transport.delivered
        tokens: list[str] = []
        try:
            if timeout > 0:
                tokens.append(str(delivered.get(timeout=timeout).token))
            while True:
                tokens.append(str(delivered.get_nowait().token))
        except queue.Empty:
            return tokens

    def wait_incoming(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for a message from a receiver; True if one is there."""
        if self._early:
            return True
        try:
            m = self.transport.incoming.get(timeout=timeout)
        except queue.Empty:
            return False
        self._early.append(_message(m))
        return True

    def take_incoming(self, limit: int) -> list[IncomingMessage]:
        incoming = self.transport.incoming
        messages, self._early = self._early[:limit], self._early[limit:]
        try:
            while len(messages) < limit:
                m = incoming.get_nowait()
                messages.append(_message(m))
        except queue.Empty:
            pass
        return messages

    def fence(self, gate: Callable[[], bool]) -> None:
        """Write publishes to the broker only while ``gate()`` says yes (this service leads)."""
        self.transport.gate = gate

    def put_back(self, messages: list[IncomingMessage]) -> None:
        """Messages taken earlier, to be taken again first (a standby hands what it heard
        to itself as it takes the lead)."""
        self._early = list(messages) + self._early

    def close(self) -> None:
        self.transport.close()


def _message(m: Incoming) -> IncomingMessage:
    return IncomingMessage(m.topic, m.payload, m.retain, size=m.size, sha256=m.sha256)
