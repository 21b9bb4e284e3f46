"""The wire format the service speaks: ``ipfm_scheduler.protocol`` (docs/protocol.md)."""

from __future__ import annotations

import hashlib
import hmac
import os
from datetime import datetime
from typing import Any

from ipfm_scheduler import protocol
from ipfm_scheduler.config.settings import AudioFile, SigningKey
from ipfm_scheduler.core.expand import PlannedAiring
from ipfm_scheduler.core.ids import check_command_id
from ipfm_scheduler.core.model import Priority, Programme
from ipfm_scheduler.errors import ValueInvalid
from ipfm_scheduler.protocol import ReceiverState
from ipfm_scheduler.service.wire import StatusInfo, TopicRef


class ProtocolWire:
    """``wire.Wire`` over the protocol package: canonical JSON, signed when a key is set."""

    def __init__(self) -> None:
        self._random = b""
        self._used = 0
        self._topics: dict[tuple[str, str, str], str] = {}

    def _new_ids(self, count: int) -> list[str]:
        """``count`` random (version 4) UUIDs, as ``protocol.new_command_id``; the random bytes
        are fetched from the system 64 KiB at a time (one system call per 4,096 ids)."""
        ids = []
        for _ in range(count):
            if self._used + 16 > len(self._random):
                self._random, self._used = os.urandom(16 * 4096), 0
            raw = bytearray(self._random[self._used : self._used + 16])
            self._used += 16
            raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
            raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
            h = raw.hex()
            ids.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
        return ids

    def cmd_topic(self, prefix: str, ward: str, receiver: str) -> str:
        key = (prefix, ward, receiver)
        topic = self._topics.get(key)
        if topic is None:  # checked once per receiver, then remembered
            topic = self._topics[key] = protocol.cmd_topic(prefix, ward, receiver)
        return topic

    def parse_topic(self, prefix: str, topic: str) -> TopicRef:
        ref = protocol.parse_topic(prefix, topic)
        return TopicRef(ref.ward, ref.receiver, ref.kind.value)

    def parse_ack(self, payload: bytes) -> protocol.Ack:
        return protocol.parse_ack(payload)

    def parse_status(self, payload: bytes) -> StatusInfo:
        status = protocol.parse_status(payload)
        return StatusInfo(status.state is ReceiverState.ONLINE, status.at, status.fw)

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
        """``protocol.encode_command`` of ``count`` play commands of one airing, byte for byte
        (a test checks it), each with a new id.

        The commands of one airing differ only in their id (and so in their signature): the
        command is built and checked once, canonicalised once around placeholders, and each
        receiver's bytes are that template with its id and its own HMAC filled in.
        """
        ref = protocol.AudioRef(
            audio_url, audio.sha256, audio.bytes, audio.duration_s, audio.format
        )
        command = protocol.PlayCommand(
            id=_ID,
            programme=programme.id,
            title=programme.title,
            audio=ref,
            volume=planned.volume,
            priority=priority,
            start_at=planned.start,
            expires_at=planned.expires,
            issued_at=issued_at,
        )
        template = _Template(command.to_json(planned.zone), key)
        made = [(command_id, template.fill(command_id)) for command_id in self._new_ids(count)]
        if made:  # the commands of one airing are all the same size: the first one tells
            command_id, payload = made[0]
            check_command_id(command_id)
            if len(payload) > protocol.MAX_PAYLOAD_BYTES:
                raise ValueInvalid(f"command {command_id} is {len(payload)} bytes, over 16 KiB")
        return made


_ID = "IPFMPLACEHOLDERID"  # a valid command id that never occurs in a real command
_MAC = "ipfmplaceholdermac"


class _Template:
    """A command's canonical bytes with holes for its id and its signature's mac."""

    def __init__(self, body: dict[str, Any], key: SigningKey | None) -> None:
        self.mac = hmac.new(key.secret, digestmod=hashlib.sha256) if key is not None else None
        self.body = _split(protocol.canonical(body), _ID)
        signed = (
            {**body, "sig": {"alg": "HMAC-SHA256", "kid": key.kid, "mac": _MAC}} if key else body
        )
        head, tail = _split(protocol.canonical(signed), _ID)
        self.head = head
        self.tail = _split(tail, _MAC) if key is not None else (tail, b"")

    def fill(self, command_id: str) -> bytes:
        quoted = f'"{command_id}"'.encode()
        if self.mac is None:
            return self.head + quoted + self.tail[0]
        signer = self.mac.copy()  # the key's pads hashed once per airing, not per command
        signer.update(self.body[0] + quoted + self.body[1])
        mac = signer.hexdigest().encode()
        return self.head + quoted + self.tail[0] + b'"' + mac + b'"' + self.tail[1]


def _split(data: bytes, placeholder: str) -> tuple[bytes, bytes]:
    parts = data.split(f'"{placeholder}"'.encode())
    if len(parts) != 2:
        raise ValueInvalid(f"a command's text contains {placeholder!r}: can't be templated")
    return parts[0], parts[1]
