"""What goes to the receivers and comes back from them, as the service and its adapters hand it
on: the airings and commands to store, the commands to (re)publish and what the broker said, the
acks and statuses heard, what recording them did. Pure values, defined once (the airing log, the
outbox and the service all use these); ``core/records.py`` holds what the airing log gives back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from ipfm_scheduler.core.commands import CommandState
from ipfm_scheduler.core.expand import PlannedAiring
from ipfm_scheduler.core.ids import check_command_id, check_name
from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.errors import ValueInvalid

#: a command acknowledged received/playing whose window closed with no final answer is sent
#: again after this many times the resend interval (the receiver repeats its latest ack)
STALLED_FACTOR = 4


class SendOutcome(StrEnum):
    """What happened to one publish attempt (the send-attempts table's ``outcome``)."""

    PUBACK = "puback"  # the broker accepted it (QoS 1 PUBACK)
    NO_CONNECTION = "no-connection"
    QUEUE_FULL = "queue-full"
    TIMEOUT = "timeout"  # handed to the client, but no PUBACK came in time
    ERROR = "error"


class AckKind(StrEnum):
    """How an acknowledgement was filed."""

    STORED = "stored"  # matched its command and moved its state
    DUPLICATE = "duplicate"  # matched, stored, changed nothing (repeated or late)
    QUARANTINED = "quarantined"  # could not be matched: kept with the reason


@dataclass(frozen=True, slots=True)
class NewCommand:
    """A play command for one receiver, built once: ``payload`` is what is stored and resent."""

    id: str
    receiver: str
    topic: str
    payload: bytes = field(repr=False)

    def __post_init__(self) -> None:
        check_command_id(self.id)
        check_name(self.receiver, "receiver id")
        if not isinstance(self.payload, bytes) or not self.payload:
            raise ValueInvalid(
                f"command {self.id}: the payload must be non-empty bytes"
            )  # i18n: internal (the service encodes every command itself)


@dataclass(frozen=True, slots=True)
class AiringToStore:
    """An airing and its commands, written in one go (idempotent by the airing's key, and by
    (airing, receiver) for commands). ``missed`` records an airing whose window closed before it
    could be sent: it is stored with outcome ``missed`` and no commands, only if it is new."""

    planned: PlannedAiring
    priority: Priority
    audio_sha256: str
    commands: tuple[NewCommand, ...] = ()
    missed: bool = False
    makeup_for: int | None = None
    note: str | None = None
    request_id: int | None = None  # the `air` request it answers: linked in the same transaction


@dataclass(frozen=True, slots=True)
class StoredAiring:
    airing_id: int
    created: bool
    commands_added: int


@dataclass(frozen=True, slots=True)
class OutgoingCommand:
    """A stored command the outbox should (re)publish, with its exact bytes. ``resend``: the
    broker accepted it before (no answer from the receiver since). The airing log also says
    which airing it carries, its state, how many attempts it had and when its airing starts."""

    id: str
    ward: str
    receiver: str
    topic: str
    payload: bytes = field(repr=False)
    expires_at: datetime
    resend: bool = False
    airing_id: int | None = None
    state: CommandState = CommandState.PENDING
    attempts: int = 0
    start: datetime | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    command_id: str
    outcome: SendOutcome


class AckLike(Protocol):
    """What is read of a parsed ack (``protocol.Ack`` has these, and ``at_text``: its time as
    the receiver wrote it)."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> object: ...
    @property
    def at(self) -> datetime: ...
    @property
    def detail(self) -> str | None: ...
    @property
    def played_s(self) -> float | None: ...


def ack_time_text(ack: AckLike) -> str:
    """The ack's time exactly as the receiver wrote it (its value, if the parser kept no text)."""
    text = getattr(ack, "at_text", None)
    if isinstance(text, str) and text:
        return text
    return ack.at.isoformat()


@dataclass(frozen=True, slots=True)
class IncomingAck:
    """An ack as it arrived: the ward/receiver of its topic, its bytes, and either the parsed
    ack (``ack``) or why it could not be read (``error``)."""

    ward: str
    receiver: str
    topic: str
    raw: bytes = field(repr=False)
    ack: AckLike | None = None
    error: str | None = None
    verified: bool = False  # signed by the receiver's own key, and checked


@dataclass(frozen=True, slots=True)
class IncomingStatus:
    """A receiver's status message (its ward and receiver from the topic). ``retained``: the
    broker replayed it (MQTT retain flag), so it does not mean the receiver was heard now."""

    ward: str
    receiver: str
    online: bool
    at: datetime | None
    fw: str | None
    raw: bytes = field(repr=False)
    retained: bool = False
    verified: bool = False  # signed by the receiver's own key, and checked

    def __post_init__(self) -> None:
        if self.at is not None and self.at.tzinfo is None:
            raise ValueInvalid("a status time must carry a time zone")  # i18n: internal


@dataclass(frozen=True, slots=True)
class AckOutcome:
    """What recording one ack did. ``state`` is the command's state afterwards (None when the
    ack was quarantined); ``changed`` is False for a duplicate or a late, backwards ack;
    ``quarantined`` says why it was quarantined."""

    command_id: str | None
    ward: str
    receiver: str
    state: CommandState | None
    changed: bool
    quarantined: str | None = None

    @property
    def kind(self) -> AckKind:
        if self.quarantined is not None:
            return AckKind.QUARANTINED
        return AckKind.STORED if self.changed else AckKind.DUPLICATE


@dataclass(frozen=True, slots=True)
class CommandRef:
    id: str
    ward: str
    receiver: str


# ---------------------------------------------------------------- the outbox (MQTT)


class PublishStatus(StrEnum):
    """What the outbox did with one publish."""

    ACCEPTED = "accepted"  # handed to the client; its PUBACK is reported with the token
    BUSY = "busy"  # too many awaiting PUBACK: wait for some, then try again
    NO_CONNECTION = "no-connection"
    QUEUE_FULL = "queue-full"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Publish:
    status: PublishStatus
    reason: str = ""


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """A message from a receiver as the broker delivered it (``retain``: replayed by the broker).

    A message too large to be an answer is kept cut short as soon as it arrives: ``payload``
    holds its first bytes, ``size`` its size as received and ``sha256`` the digest of the whole
    (both None for a message kept whole)."""

    topic: str
    payload: bytes = field(repr=False)
    retain: bool = False
    size: int | None = None
    sha256: str | None = None

    def __post_init__(self) -> None:
        if (self.size is None) != (self.sha256 is None):
            raise ValueInvalid(
                "a message cut short carries both its size and its sha256"
            )  # i18n: internal (the intake's own call)
        if self.size is not None and self.size < len(self.payload):
            raise ValueInvalid(
                "a message cut short can't be larger than its size as received"
            )  # i18n: internal (the intake's own call)

    @property
    def cut(self) -> bool:
        """Only the first bytes of the message were kept."""
        return self.size is not None

    @property
    def received_bytes(self) -> int:
        return len(self.payload) if self.size is None else self.size
