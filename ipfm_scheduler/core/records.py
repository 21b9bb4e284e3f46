"""The values the service and the airing log exchange, defined once: what is written (airings,
commands, sends, acks, statuses, week closures, manual requests) and what is read back.

The service builds them, the storage's ``Repository`` and the in-memory ``MemoryLog`` take and
return them (both implement ``service.ports.AiringLog``), the CLI shows them. Pure values: no
database, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from ipfm_scheduler.core.commands import CommandState
from ipfm_scheduler.core.expand import PlannedAiring
from ipfm_scheduler.core.ids import check_command_id, check_name
from ipfm_scheduler.core.model import Origin, Priority, Programme, Ward
from ipfm_scheduler.errors import ValueInvalid

#: a heartbeat (written every 5 s) this recent means a service runs (for `run`, `air`, `status`)
LIVE_WITHIN = timedelta(seconds=20)
#: a command acknowledged received/playing whose window closed with no final answer is sent
#: again after this many times the resend interval (the receiver repeats its latest ack)
STALLED_FACTOR = 4


def _aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueInvalid(f"{name} must be a timezone-aware datetime, got {value.isoformat()}")


# ---------------------------------------------------------------- outcomes and states


class AiringOutcome(StrEnum):
    """What became of an airing, summed up over its commands (one per receiver)."""

    PLANNED = "planned"  # recorded, no command yet
    OPEN = "open"  # commands out, some still waiting for a final answer
    COMPLETED = "completed"  # every receiver confirmed `completed`
    PARTIAL = "partial"  # some receivers completed, the others failed/rejected/expired
    MISSED = "missed"  # no receiver completed it (or its window closed before it was sent)


#: an :class:`AiringRecord`'s ``outcome`` when its window closed before it could be sent (no
#: service ran): stored with no command
MISSED = AiringOutcome.MISSED


def airing_outcome(states: Iterable[CommandState]) -> AiringOutcome:
    """The outcome of an airing whose commands are in ``states``."""
    seen = list(states)
    if not seen:
        return AiringOutcome.PLANNED
    if any(s.open for s in seen):
        return AiringOutcome.OPEN
    done = sum(1 for s in seen if s is CommandState.COMPLETED)
    if done == len(seen):
        return AiringOutcome.COMPLETED
    return AiringOutcome.PARTIAL if done else AiringOutcome.MISSED


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


class RequestState(StrEnum):
    """A manual request queued by `ipfm-scheduler air`."""

    QUEUED = "queued"
    TAKEN = "taken"  # the service picked it up
    REFUSED = "refused"
    DONE = "done"


class WeekVerdict(StrEnum):
    """A receiver's result for a programme in a closed week."""

    COMPLIANT = "compliant"
    SHORT = "short"


# ---------------------------------------------------------------- what the service writes


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
            raise ValueInvalid(f"command {self.id}: the payload must be non-empty bytes")


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

    def __post_init__(self) -> None:
        if self.at is not None and self.at.tzinfo is None:
            raise ValueInvalid("a status time must carry a time zone")


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


@dataclass(frozen=True, slots=True)
class WeekCloseRow:
    """One receiver's verdict for one programme in one closed week."""

    ward: str
    programme: str
    receiver: str
    completed: int
    minimum: int
    compliant: bool
    reason: str = ""

    def __post_init__(self) -> None:
        if self.completed < 0 or self.minimum < 0:
            raise ValueInvalid(
                f"{self.ward}/{self.receiver} {self.programme}: counts cannot be negative "
                f"(completed {self.completed}, minimum {self.minimum})"
            )

    @property
    def verdict(self) -> WeekVerdict:
        return WeekVerdict.COMPLIANT if self.compliant else WeekVerdict.SHORT


# ---------------------------------------------------------------- what the service reads


@dataclass(frozen=True, slots=True)
class CommandRecord:
    """A stored play command for one receiver, and where it stands."""

    id: str
    receiver: str
    state: CommandState
    detail: str | None = None  # the receiver's word on a failure or rejection: "device"

    def __post_init__(self) -> None:
        if not self.receiver:
            raise ValueInvalid(f"command {self.id!r}: its receiver is empty")


@dataclass(frozen=True, slots=True)
class AiringRecord:
    """A stored airing with its commands (keyed by receiver). ``outcome``: what became of it
    (None when not known); ``local``: its planned local time with the offset, as text."""

    id: int
    ward: str
    programme: str
    start: datetime
    expires: datetime
    origin: Origin
    priority: Priority
    commands: Mapping[str, CommandRecord]
    outcome: AiringOutcome | None = None
    makeup_for: int | None = None
    local: str = ""

    def __post_init__(self) -> None:
        _aware(self.start, f"airing {self.id}: start")
        _aware(self.expires, f"airing {self.id}: expires")
        for receiver, command in self.commands.items():
            if command.receiver != receiver:
                raise ValueInvalid(
                    f"airing {self.id}: the command filed under {receiver!r} is for "
                    f"{command.receiver!r}"
                )

    @property
    def missed(self) -> bool:
        """Its window closed while no service ran: nothing was sent for it."""
        return self.outcome == MISSED and not self.commands

    @property
    def states(self) -> dict[str, CommandState]:
        """Receiver -> the state of its command."""
        return {receiver: c.state for receiver, c in self.commands.items()}


@dataclass(frozen=True, slots=True)
class ManualRequest:
    """A request for an airing by ``ipfm-scheduler air``. ``receiver`` None means every enabled
    one; ``start`` None means now. ``id`` and ``requested_at`` are given when it is queued (0 and
    None before)."""

    ward: str
    programme: str
    priority: Priority
    requested_by: str = ""
    receiver: str | None = None
    start: datetime | None = None
    id: int = 0
    requested_at: datetime | None = None

    def __post_init__(self) -> None:
        check_name(self.ward, "ward id")
        check_name(self.programme, "programme id")
        if self.receiver is not None:
            check_name(self.receiver, "receiver id")
        if self.start is not None and self.start.tzinfo is None:
            raise ValueInvalid("a requested start must carry a time zone")


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """A queued request as recorded, with what became of it."""

    id: int
    request: ManualRequest
    requested_at: datetime
    state: RequestState
    airing_id: int | None
    message: str | None


@dataclass(frozen=True, slots=True)
class StaleRequest:
    """A request a service took and never finished; ``airing_id``: the airing stored for it."""

    request: ManualRequest
    taken_at: datetime | None
    airing_id: int | None


@dataclass(frozen=True, slots=True)
class ConfigInForce:
    """The configuration recorded as in force at some moment, as a week is judged by it: the
    wards with their receivers (no windows or airings), and the programmes."""

    snapshot_id: int
    wards: Mapping[str, Ward]
    programmes: Mapping[str, Programme]


@dataclass(frozen=True, slots=True)
class LiveInstance:
    """A run of the service, as its heartbeat in the airing log shows it (the database also
    keeps its id, version and start)."""

    host: str
    pid: int
    last_beat_at: datetime
    id: int | None = None
    version: str = ""
    started_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ReceiverStatusRecord:
    ward: str
    receiver: str
    online: bool
    since: datetime
    last_seen_at: datetime
    fw: str | None
