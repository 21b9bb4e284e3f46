"""What receivers send (docs/protocol.md "Acknowledgements", "Status"): read and written.

:func:`parse_ack` and :func:`parse_status` read hostile bytes: they return a frozen value or raise
``ProtocolError`` with a plain reason (the service quarantines the message with that reason).
Unknown fields are ignored. The ``encode_*`` functions are for receivers (the simulator).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from enum import StrEnum
from typing import Any

from ipfm_scheduler.config.settings import SigningKey
from ipfm_scheduler.core.commands import AckStatus
from ipfm_scheduler.core.ids import check_command_id, check_name
from ipfm_scheduler.errors import ProtocolError, ValueInvalid
from ipfm_scheduler.protocol.signing import check_signature, sign
from ipfm_scheduler.protocol.wire import (
    canonical,
    check_version,
    clean_text,
    command_id,
    decode_object,
    format_time,
    name_field,
    number,
    parse_time,
    short_decimal,
    text,
    volume,
)

MAX_FW_CHARS = 64


@dataclass(frozen=True, slots=True)
class Ack:
    """A receiver's answer about one command. ``detail`` is cleaned one-line text (<= 200)."""

    id: str
    status: AckStatus
    at: datetime
    detail: str | None = None
    played_s: float | None = None
    at_text: str = field(default="", compare=False)  # `at` as the receiver wrote it (parsed)

    def __post_init__(self) -> None:
        check_command_id(self.id)
        object.__setattr__(self, "status", AckStatus(self.status))
        if self.at.tzinfo is None:
            raise ValueInvalid(f"ack for {self.id}: `at` must be timezone-aware")  # i18n: internal
        if self.detail is not None:
            object.__setattr__(self, "detail", clean_text(self.detail))
        if self.played_s is not None and not self.played_s >= 0:
            raise ValueInvalid(f"ack for {self.id}: played_s must be 0 or more")  # i18n: internal

    def to_json(self, tz: tzinfo | None = None) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "v": 1,
            "id": self.id,
            "status": self.status.value,
            "at": format_time(self.at, tz),
        }
        if self.detail is not None:
            obj["detail"] = self.detail
        if self.played_s is not None:
            obj["played_s"] = short_decimal(self.played_s)
        return obj


class ReceiverState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class ReceiverStatus:
    """A receiver's retained status. ``at`` is ``None`` when the receiver did not say when."""

    state: ReceiverState
    at: datetime | None = None
    fw: str | None = None
    volume: int | None = None
    playing: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", ReceiverState(self.state))
        if self.at is not None and self.at.tzinfo is None:
            raise ValueInvalid("status: `at` must be timezone-aware")  # i18n: internal
        if self.playing is not None:
            check_command_id(self.playing)

    @property
    def online(self) -> bool:
        return self.state is ReceiverState.ONLINE

    def to_json(self, tz: tzinfo | None = None) -> dict[str, Any]:
        obj: dict[str, Any] = {"v": 1, "state": self.state.value, "playing": self.playing}
        if self.at is not None:
            obj["at"] = format_time(self.at, tz)
        if self.fw is not None:
            obj["fw"] = self.fw
        if self.volume is not None:
            obj["volume"] = self.volume
        return obj


@dataclass(frozen=True, slots=True)
class OwnKey:
    """A receiver's own key (docs/protocol.md "Version 2"): it signs every answer of the
    receiver ``ward``/``receiver`` with it."""

    ward: str
    receiver: str
    key: SigningKey

    def __post_init__(self) -> None:
        check_name(self.ward, "ward id")
        check_name(self.receiver, "receiver id")

    def signed(self, obj: dict[str, Any]) -> dict[str, Any]:
        """``obj`` (an answer, version 1) as a signed version 2 answer of this receiver."""
        return sign({**obj, "v": 2, "ward": self.ward, "receiver": self.receiver}, self.key)


def encode_ack(ack: Ack, tz: tzinfo | None = None, own: OwnKey | None = None) -> bytes:
    """The ack's bytes: version 1, or version 2 signed with the receiver's ``own`` key."""
    obj = ack.to_json(tz)
    return canonical(own.signed(obj) if own is not None else obj)


def encode_status(
    status: ReceiverStatus, tz: tzinfo | None = None, own: OwnKey | None = None
) -> bytes:
    """The status's bytes: version 1, or version 2 signed with the receiver's ``own`` key."""
    obj = status.to_json(tz)
    return canonical(own.signed(obj) if own is not None else obj)


@dataclass(frozen=True, slots=True)
class Trust:
    """What the scheduler holds to check one receiver's answers: the ``kid`` -> secret of the
    receiver's keys accepted now (empty: it has no key), and whether its ward accepts unsigned
    answers (``accept_unsigned``). ``known``: the receiver is in the configuration."""

    keys: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    accept_unsigned: bool = False
    known: bool = True


def read_ack(payload: bytes, ward: str, receiver: str, trust: Trust) -> tuple[Ack, bool]:
    """An ack heard on ``ward``/``receiver``'s topic and whether it is verified (signed by that
    receiver's key); ``ProtocolError`` (quarantine, with the reason) if it is malformed, or
    badly signed, or unsigned where a signature is required (docs/protocol.md "Version 2")."""
    obj = decode_object(payload, "ack")
    verified = _proof(obj, "ack", ward, receiver, trust)
    return _ack_from(obj), verified


def read_status(
    payload: bytes, ward: str, receiver: str, trust: Trust
) -> tuple[ReceiverStatus, bool]:
    """A status heard on ``ward``/``receiver``'s topic, as :func:`read_ack` reads an ack."""
    obj = decode_object(payload, "status")
    verified = _proof(obj, "status", ward, receiver, trust)
    return _status_from(obj), verified


def _proof(obj: dict[str, Any], what: str, ward: str, receiver: str, trust: Trust) -> bool:
    """Whether the answer is signed by its receiver; ``ProtocolError`` if it can't count."""
    version = check_version(obj, what)
    who = f"{ward}/{receiver}"
    if version == 2:
        named = (name_field(obj, "ward", what), name_field(obj, "receiver", what))
        if named != (ward, receiver):
            raise ProtocolError(
                f"{what} on the topic of {who} speaks for {named[0]}/{named[1]}: not counted"
            )  # i18n: stored
    if "sig" not in obj:
        if trust.keys and not trust.accept_unsigned:
            raise ProtocolError(
                f"{what} from {who} is not signed, but {who} has a key: not counted"
            )  # i18n: stored
        return False
    if version == 1:
        raise ProtocolError(
            f"{what} from {who} is signed but version 1 (a signed answer is v2)"
        )  # i18n: stored
    if not trust.keys:
        raise ProtocolError(
            f"{what} from {who} is signed, but {who} has no key to check it"
        )  # i18n: stored
    check = check_signature(obj, trust.keys, what)
    if not check.ok:
        raise ProtocolError(
            f"{what} from {who}: bad signature ({check.reason}): not counted"
        )  # i18n: stored
    return True


def parse_ack(payload: bytes) -> Ack:
    """An acknowledgement from hostile bytes, or ``ProtocolError`` saying what is wrong (its
    signature is not looked at: see :func:`read_ack`)."""
    obj = decode_object(payload, "ack")
    return _ack_from(obj)


def _ack_from(obj: dict[str, Any]) -> Ack:
    check_version(obj, "ack")
    cid = command_id(obj, "id", "ack")
    what = f"ack for {cid}"
    status = obj.get("status")
    if not isinstance(status, str) or status not in _ACK_STATUSES:
        raise ProtocolError(
            f"{what}: `status` {clean_text(str(status), 40)!r} is not one of "
            + ", ".join(s.value for s in AckStatus)
        )  # i18n: stored
    return Ack(
        id=cid,
        status=AckStatus(status),
        at=parse_time(obj.get("at"), "at", what),
        detail=text(obj, "detail", what),
        played_s=number(obj, "played_s", what),
        at_text=str(obj.get("at")),
    )


def parse_status(payload: bytes) -> ReceiverStatus:
    """A receiver status from hostile bytes, or ``ProtocolError`` saying what is wrong (its
    signature is not looked at: see :func:`read_status`)."""
    return _status_from(decode_object(payload, "status"))


def _status_from(obj: dict[str, Any]) -> ReceiverStatus:
    check_version(obj, "status")
    state = obj.get("state")
    if not isinstance(state, str) or state not in _STATES:
        raise ProtocolError(
            f"status: `state` {clean_text(str(state), 40)!r} is not online or offline"
        )  # i18n: stored
    at = obj.get("at")
    playing = obj.get("playing")
    return ReceiverStatus(
        state=ReceiverState(state),
        at=None if at is None else parse_time(at, "at", "status"),
        fw=text(obj, "fw", "status", MAX_FW_CHARS),
        volume=volume(obj, "volume", "status", required=False),
        playing=None if playing is None else command_id(obj, "playing", "status"),
    )


_ACK_STATUSES = frozenset(s.value for s in AckStatus)
_STATES = frozenset(s.value for s in ReceiverState)
