"""The wire format the service speaks: ``ipfm_scheduler.protocol`` (receiver-protocol.md)."""

from __future__ import annotations

from datetime import datetime

from ipfm_scheduler import protocol
from ipfm_scheduler.config.settings import AudioFile, SigningKey
from ipfm_scheduler.core.expand import PlannedAiring
from ipfm_scheduler.core.model import Priority, Programme
from ipfm_scheduler.protocol import ReceiverState
from ipfm_scheduler.service.wire import StatusInfo, TopicRef


class ProtocolWire:
    """``wire.Wire`` over the protocol package: canonical JSON, signed when a key is set."""

    def new_command_id(self) -> str:
        return protocol.new_command_id()

    def cmd_topic(self, prefix: str, ward: str, receiver: str) -> str:
        return protocol.cmd_topic(prefix, ward, receiver)

    def parse_topic(self, prefix: str, topic: str) -> TopicRef:
        ref = protocol.parse_topic(prefix, topic)
        return TopicRef(ref.ward, ref.receiver, ref.kind.value)

    def parse_ack(self, payload: bytes) -> protocol.Ack:
        return protocol.parse_ack(payload)

    def parse_status(self, payload: bytes) -> StatusInfo:
        status = protocol.parse_status(payload)
        return StatusInfo(status.state is ReceiverState.ONLINE, status.at, status.fw)

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
        ref = protocol.AudioRef(
            audio_url, audio.sha256, audio.bytes, audio.duration_s, audio.format
        )
        command = protocol.PlayCommand(
            id=command_id,
            programme=programme.id,
            title=programme.title,
            audio=ref,
            volume=planned.volume,
            priority=priority,
            start_at=planned.start,
            expires_at=planned.expires,
            issued_at=issued_at,
        )
        return protocol.encode_command(command, planned.zone, key)
