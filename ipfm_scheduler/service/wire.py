"""The wire format as the dispatcher uses it (topics, play payloads, reading acks/statuses).

:class:`Wire` is the interface; the real one wraps ``ipfm_scheduler.protocol`` (the receiver
protocol, docs/protocol.md). Building a payload happens once per command: its
bytes are stored and resent unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ipfm_scheduler.config.settings import AudioFile, SigningKey
from ipfm_scheduler.core.expand import PlannedAiring
from ipfm_scheduler.core.model import Priority, Programme
from ipfm_scheduler.service.ports import AckLike


@dataclass(frozen=True, slots=True)
class TopicRef:
    ward: str
    receiver: str
    kind: str  # "cmd", "ack" or "status"


@dataclass(frozen=True, slots=True)
class StatusInfo:
    online: bool
    at: datetime | None
    fw: str | None


class Wire(Protocol):
    def cmd_topic(self, prefix: str, ward: str, receiver: str) -> str: ...

    def parse_topic(self, prefix: str, topic: str) -> TopicRef:
        """Raises ``ProtocolError`` for a topic that is not one of ours."""
        ...

    def parse_ack(self, payload: bytes) -> AckLike:
        """Raises ``ProtocolError`` with a plain reason."""
        ...

    def parse_status(self, payload: bytes) -> StatusInfo: ...

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
        """``count`` play commands of one airing: (a new unique command id, its payload)."""
        ...
