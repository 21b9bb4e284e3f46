"""Commands (docs/protocol.md "Commands"): ``play`` and ``stop``, built and parsed.

The scheduler builds a command once with :func:`encode_command`; those exact bytes are what it
stores and what it publishes, the first time and every resend. A receiver (the simulator) reads
one with :func:`parse_command`, which raises ``ProtocolError`` for anything malformed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from typing import Any

from ipfm_scheduler.config.settings import AudioFile, SigningKey
from ipfm_scheduler.core.ids import check_command_id, check_name
from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.errors import ProtocolError, ValueInvalid
from ipfm_scheduler.protocol.command_ids import new_command_ids
from ipfm_scheduler.protocol.signing import PLACEHOLDER_ID, PLACEHOLDER_RECEIVER, Template, sign
from ipfm_scheduler.protocol.wire import (
    MAX_PAYLOAD_BYTES,
    canonical,
    check_version,
    command_id,
    decode_object,
    format_time,
    name_field,
    parse_time,
    short_decimal,
    volume,
)

MAX_TITLE_CHARS = 500
MAX_URL_CHARS = 2048
MAX_DURATION_S = 7 * 24 * 3600.0
STOP_ALL = "*"
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_FORMAT_RE = re.compile(r"[a-z0-9]{1,16}")


def new_command_id(at: datetime) -> str:
    """A fresh command id, unique for all time (``command_ids.new_command_ids``)."""
    return new_command_ids(1, at)[0]


@dataclass(frozen=True, slots=True)
class AudioRef:
    """Where a receiver fetches a programme, and how it checks what it got.

    ``duration_s`` is kept as a short decimal (3 places; a whole number as an int) so that the
    canonical JSON of a command is the same under Python and RFC 8785.
    """

    url: str
    sha256: str
    bytes: int
    duration_s: float
    format: str = "mp3"

    def __post_init__(self) -> None:
        if not isinstance(self.url, str) or not 0 < len(self.url) <= MAX_URL_CHARS:
            raise ValueInvalid(f"audio url must be 1 to {MAX_URL_CHARS} characters")  # i18n: stored
        if any(ch.isspace() or ord(ch) < 32 for ch in self.url):
            raise ValueInvalid(
                f"audio url {self.url[:80]!r} contains spaces or control characters"
            )  # i18n: stored
        if not isinstance(self.sha256, str) or _SHA256_RE.fullmatch(self.sha256) is None:
            raise ValueInvalid(
                f"audio sha256 {str(self.sha256)[:80]!r} is not 64 lowercase hex"
            )  # i18n: stored
        if type(self.bytes) is not int or not 0 < self.bytes < 2**53:
            raise ValueInvalid(
                f"audio bytes {self.bytes!r} must be a positive whole number"
            )  # i18n: stored
        duration = self.duration_s
        if isinstance(duration, bool) or not isinstance(duration, int | float):
            raise ValueInvalid(f"audio duration_s {duration!r} must be a number")  # i18n: stored
        if not (math.isfinite(duration) and 0 < duration <= MAX_DURATION_S):
            raise ValueInvalid(
                f"audio duration_s {duration!r} must be above 0 and at most 7 days"
            )  # i18n: stored
        object.__setattr__(self, "duration_s", short_decimal(duration))
        if not isinstance(self.format, str) or _FORMAT_RE.fullmatch(self.format) is None:
            raise ValueInvalid(
                f"audio format {str(self.format)[:40]!r} is not a format name"
            )  # i18n: stored

    @classmethod
    def for_file(cls, file: AudioFile, base_url: str) -> AudioRef:
        """The reference to a catalogued file served at ``base_url/<sha256>.<format>``."""
        url = f"{base_url.rstrip('/')}/{file.sha256}.{file.format}"
        return cls(url, file.sha256, file.bytes, file.duration_s, file.format)

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "sha256": self.sha256,
            "bytes": self.bytes,
            "duration_s": short_decimal(self.duration_s),
            "format": self.format,
        }


def _check_target(ward: str | None, receiver: str | None) -> None:
    """A version 2 command names both its ward and its receiver; version 1 neither."""
    if (ward is None) != (receiver is None):
        raise ValueInvalid(
            "a command names both its ward and its receiver, or neither"
        )  # i18n: internal
    if ward is not None and receiver is not None:
        check_name(ward, "ward id")
        check_name(receiver, "receiver id")


def _targeted(ward: str | None, receiver: str | None) -> dict[str, Any]:
    """The start of a command's JSON: its version, and its target in version 2."""
    if ward is None:
        return {"v": 1}
    return {"v": 2, "ward": ward, "receiver": receiver}


def _check_aware(**moments: datetime) -> None:
    for name, moment in moments.items():
        if not isinstance(moment, datetime) or moment.tzinfo is None:
            raise ValueInvalid(f"{name} must be a timezone-aware datetime")  # i18n: internal


@dataclass(frozen=True, slots=True)
class PlayCommand:
    """Play ``audio`` at ``start_at``, and never after ``expires_at``."""

    id: str
    programme: str
    title: str
    audio: AudioRef
    volume: int
    priority: Priority
    start_at: datetime
    expires_at: datetime
    issued_at: datetime
    #: version 2: the receiver the command is for (in its signed body); None: version 1
    ward: str | None = None
    receiver: str | None = None

    def __post_init__(self) -> None:
        check_command_id(self.id)
        _check_target(self.ward, self.receiver)
        check_name(self.programme, "programme id")
        if not isinstance(self.title, str) or len(self.title) > MAX_TITLE_CHARS:
            raise ValueInvalid(
                f"command {self.id}: title must be text of {MAX_TITLE_CHARS} or less"
            )  # i18n: stored
        if not isinstance(self.audio, AudioRef):
            raise ValueInvalid(f"command {self.id}: audio must be an AudioRef")  # i18n: stored
        if type(self.volume) is not int or not 0 <= self.volume <= 100:
            raise ValueInvalid(
                f"command {self.id}: volume {self.volume!r} is not 0 to 100"
            )  # i18n: stored
        try:
            object.__setattr__(self, "priority", Priority(self.priority))
        except ValueError:
            raise ValueInvalid(
                f"command {self.id}: priority {self.priority!r} is unknown"
            ) from None  # i18n: stored
        _check_aware(start_at=self.start_at, expires_at=self.expires_at, issued_at=self.issued_at)
        if self.expires_at < self.start_at:
            raise ValueInvalid(f"command {self.id}: expires_at is before start_at")  # i18n: stored

    def to_json(self, tz: tzinfo | None = None) -> dict[str, Any]:
        return _targeted(self.ward, self.receiver) | {
            "type": "play",
            "id": self.id,
            "programme": self.programme,
            "title": self.title,
            "audio": self.audio.to_json(),
            "volume": self.volume,
            "priority": self.priority.value,
            "start_at": format_time(self.start_at, tz),
            "expires_at": format_time(self.expires_at, tz),
            "issued_at": format_time(self.issued_at, tz),
        }


@dataclass(frozen=True, slots=True)
class StopCommand:
    """Stop the command ``target`` (playing or waiting to play), or everything (``*``)."""

    id: str
    target: str
    issued_at: datetime
    ward: str | None = None  # version 2: the receiver the command is for
    receiver: str | None = None

    def __post_init__(self) -> None:
        check_command_id(self.id)
        _check_target(self.ward, self.receiver)
        if self.target != STOP_ALL:
            check_command_id(self.target)
        _check_aware(issued_at=self.issued_at)

    def to_json(self, tz: tzinfo | None = None) -> dict[str, Any]:
        return _targeted(self.ward, self.receiver) | {
            "type": "stop",
            "id": self.id,
            "target": self.target,
            "issued_at": format_time(self.issued_at, tz),
        }


Command = PlayCommand | StopCommand


def encode_command(command: Command, tz: tzinfo, key: SigningKey | None = None) -> bytes:
    """The exact bytes to store and publish: canonical JSON, times in ``tz``, signed by ``key``.

    Without a key the command carries no ``sig``. The result is at most 16 KiB (what a receiver
    accepts), else ``ValueInvalid``.
    """
    obj = command.to_json(tz)
    payload = canonical(sign(obj, key) if key is not None else obj)
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueInvalid(
            f"command {command.id} is {len(payload)} bytes, over the 16 KiB limit"
        )  # i18n: internal
    return payload


def encode_plays(
    command: PlayCommand,
    tz: tzinfo,
    key: SigningKey | None,
    count: int,
    receivers: Sequence[str] | None = None,
) -> list[tuple[str, bytes]]:
    """``count`` copies of ``command`` (the commands of one airing, one per receiver), each with a
    new id: (id, the bytes :func:`encode_command` gives for the command with that id).

    With ``receivers`` (one per copy) and a ``command.ward``, each copy is a version 2 command
    naming its receiver. The command is checked and canonicalised once (``signing.Template``);
    each copy is signed on its own, so a receiver's command can't be passed off as another's.
    """
    targeted = command.ward is not None and receivers is not None
    if targeted and receivers is not None and len(receivers) != count:
        raise ValueInvalid(f"{count} commands but {len(receivers)} receivers")  # i18n: internal
    if targeted:
        body = replace(command, id=PLACEHOLDER_ID, receiver=PLACEHOLDER_RECEIVER)
    else:
        body = replace(command, id=PLACEHOLDER_ID, ward=None, receiver=None)
    template = Template(body.to_json(tz), key)
    ids = new_command_ids(count, command.issued_at)
    if targeted and receivers is not None:
        for receiver in dict.fromkeys(receivers):
            check_name(receiver, "receiver id")
        made = [(cid, template.fill(cid, r)) for cid, r in zip(ids, receivers, strict=True)]
    else:
        made = [(cid, template.fill(cid)) for cid in ids]
    if made:  # the commands of one airing are about the same size: the largest tells
        cid, payload = max(made, key=lambda m: len(m[1]))
        check_command_id(cid)
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise ValueInvalid(
                f"command {cid} is {len(payload)} bytes, over the 16 KiB limit"
            )  # i18n: internal
    return made


def parse_command(payload: bytes) -> Command:
    """Read a command as a receiver does; ``ProtocolError`` if it is malformed."""
    return command_from_object(decode_object(payload, "command"))


def command_from_object(obj: Mapping[str, Any]) -> Command:
    """A command from an already decoded JSON object (``sig`` is ignored here: see verify)."""
    version = check_version(obj, "command")
    cid = command_id(obj, "id", "command")
    what = f"command {cid}"
    ward = receiver = None
    if version == 2:
        ward, receiver = name_field(obj, "ward", what), name_field(obj, "receiver", what)
    kind = obj.get("type")
    try:
        if kind == "play":
            return replace(_play_from(obj, cid, what), ward=ward, receiver=receiver)
        if kind == "stop":
            target = obj.get("target")
            if target != STOP_ALL:
                target = command_id(obj, "target", what)
            issued = parse_time(obj.get("issued_at"), "issued_at", what)
            return StopCommand(cid, target, issued, ward, receiver)
    except ValueInvalid as exc:
        raise ProtocolError(f"{what}: {exc}") from exc
    raise ProtocolError(
        f"{what}: `type` is {str(kind)[:40]!r}, expected play or stop"
    )  # i18n: stored


def _play_from(obj: Mapping[str, Any], cid: str, what: str) -> PlayCommand:
    audio = obj.get("audio")
    if not isinstance(audio, dict):
        raise ProtocolError(f"{what}: `audio` must be an object")  # i18n: stored
    priority = obj.get("priority")
    if not isinstance(priority, str) or priority not in {p.value for p in Priority}:
        raise ProtocolError(
            f"{what}: `priority` {str(priority)[:40]!r} is not normal/priority/emergency"
        )  # i18n: stored
    programme, title = obj.get("programme"), obj.get("title")
    if not isinstance(programme, str) or not isinstance(title, str):
        raise ProtocolError(f"{what}: `programme` and `title` must be text")  # i18n: stored
    return PlayCommand(
        id=cid,
        programme=programme,
        title=title,
        audio=AudioRef(  # AudioRef checks the types of what the receiver was sent
            _get(audio, "url"),
            _get(audio, "sha256"),
            _get(audio, "bytes"),
            _get(audio, "duration_s"),
            _get(audio, "format"),
        ),
        volume=int(volume(obj, "volume", what, required=True) or 0),
        priority=Priority(priority),
        start_at=parse_time(obj.get("start_at"), "start_at", what),
        expires_at=parse_time(obj.get("expires_at"), "expires_at", what),
        issued_at=parse_time(obj.get("issued_at"), "issued_at", what),
    )


def _get(obj: Mapping[str, Any], key: str) -> Any:
    """A field of hostile input, any type: the value it is given to checks it."""
    return obj.get(key)
