"""The values the repository takes and gives back: plain frozen dataclasses and enums.

Nothing here touches the database; the service builds the inputs and reads the outputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from ipfm_scheduler.core.commands import AckStatus, CommandState
from ipfm_scheduler.core.ids import check_command_id, check_name
from ipfm_scheduler.core.model import Origin, Priority
from ipfm_scheduler.errors import ValueInvalid


class AiringOutcome(StrEnum):
    """What became of an airing, summed up over its commands (one per receiver)."""

    PLANNED = "planned"  # recorded, no command yet
    OPEN = "open"  # commands out, some still waiting for a final answer
    COMPLETED = "completed"  # every receiver confirmed `completed`
    PARTIAL = "partial"  # some receivers completed, the others failed/rejected/expired
    MISSED = "missed"  # no receiver completed it


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
    """What happened when the service tried to hand a command to the broker."""

    PUBACK = "puback"  # the broker accepted it (QoS 1)
    NO_CONNECTION = "no-connection"
    QUEUE_FULL = "queue-full"
    TIMEOUT = "timeout"  # no PUBACK in time
    ERROR = "error"


class ReceiverState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class RequestState(StrEnum):
    """A manual request queued by `ipfm-scheduler air`."""

    QUEUED = "queued"
    TAKEN = "taken"  # the service picked it up
    REFUSED = "refused"
    DONE = "done"


class Verdict(StrEnum):
    COMPLIANT = "compliant"
    SHORT = "short"


class AckKind(StrEnum):
    """How :meth:`Repository.record_ack` filed an acknowledgement."""

    STORED = "stored"  # matched its command and moved its state
    DUPLICATE = "duplicate"  # matched, stored, changed nothing (repeated or late)
    QUARANTINED = "quarantined"  # could not be matched: kept with the reason


@dataclass(frozen=True, slots=True)
class ParsedAck:
    """An acknowledgement as the protocol parser understood it (docs/protocol.md).

    ``at`` is the receiver's time parsed to an aware datetime (``None`` if it gave none);
    ``at_text`` is that time exactly as the receiver wrote it.
    """

    id: str
    status: AckStatus
    at: datetime | None = None
    at_text: str = ""
    detail: str | None = None
    played_s: float | None = None

    def __post_init__(self) -> None:
        if self.at is not None and self.at.tzinfo is None:
            raise ValueInvalid("an ack's time must carry a time zone")


@dataclass(frozen=True, slots=True)
class AckOutcome:
    kind: AckKind
    command_id: str | None
    state: CommandState | None  # the command's state after this ack (None when quarantined)
    reason: str = ""  # why it was quarantined


@dataclass(frozen=True, slots=True)
class NewCommand:
    """A play command for one receiver of an airing, exactly as it will be published."""

    id: str
    receiver: str
    topic: str
    payload: bytes

    def __post_init__(self) -> None:
        check_command_id(self.id)
        check_name(self.receiver, "receiver id")
        if not isinstance(self.payload, bytes) or not self.payload:
            raise ValueInvalid(f"command {self.id}: the payload must be non-empty bytes")


@dataclass(frozen=True, slots=True)
class CommandToSend:
    """A command the service should (re)publish now: always the same bytes."""

    id: str
    airing_id: int
    ward: str
    receiver: str
    topic: str
    payload: bytes
    state: CommandState
    attempts: int
    start: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class AiringRecord:
    """An airing as recorded, with the state of each receiver's command."""

    id: int
    ward: str
    programme: str
    start: datetime  # UTC
    local: str  # the planned local time with its offset, as text
    expires_at: datetime
    origin: Origin
    priority: Priority
    outcome: AiringOutcome
    commands: Mapping[str, CommandState] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WeekCloseRow:
    """One receiver's result for a ward, programme and week, as the service closes it."""

    receiver: str
    completed: int
    minimum: int
    reason: str = ""

    @property
    def verdict(self) -> Verdict:
        return Verdict.COMPLIANT if self.completed >= self.minimum else Verdict.SHORT


@dataclass(frozen=True, slots=True)
class ManualRequest:
    """What `ipfm-scheduler air` asks the service to do."""

    ward: str
    programme: str
    priority: Priority
    requested_by: str
    receiver: str | None = None  # None: every enabled receiver of the ward
    start: datetime | None = None  # None: as soon as possible

    def __post_init__(self) -> None:
        check_name(self.ward, "ward id")
        check_name(self.programme, "programme id")
        if self.receiver is not None:
            check_name(self.receiver, "receiver id")
        if self.start is not None and self.start.tzinfo is None:
            raise ValueInvalid("a requested start must carry a time zone")


@dataclass(frozen=True, slots=True)
class RequestRecord:
    id: int
    request: ManualRequest
    requested_at: datetime
    state: RequestState
    airing_id: int | None
    message: str | None


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    """A run of the service, with its heartbeat."""

    id: int
    host: str
    pid: int
    version: str
    started_at: datetime
    last_beat_at: datetime
    stopped_at: datetime | None


@dataclass(frozen=True, slots=True)
class ReceiverStatusRecord:
    ward: str
    receiver: str
    online: bool
    since: datetime
    last_seen_at: datetime
    fw: str | None
