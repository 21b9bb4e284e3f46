"""What the airing log gives back, defined once: stored airings with their commands, the week's
closing verdicts, manual requests, the configuration in force, running services, receivers'
states. The storage's ``Repository`` and the in-memory ``MemoryLog`` (both implement
``service.ports.AiringLog``) return them; the service, the weekly rule (``core/verdicts.py``)
and the CLI read them. What is written (commands, sends, acks, statuses) is in
``core/traffic.py``. Pure values: no database, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from ipfm_scheduler.core.commands import CommandState
from ipfm_scheduler.core.ids import check_name
from ipfm_scheduler.core.model import Origin, Priority, Programme, Ward
from ipfm_scheduler.errors import ValueInvalid
from ipfm_scheduler.i18n import _

#: a heartbeat (written every 5 s) this recent means a service runs (for `run`, `air`, `status`)
LIVE_WITHIN = timedelta(seconds=20)


def _aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueInvalid(
            _("{name} must be a timezone-aware datetime, got {value}").format(
                name=name, value=value.isoformat()
            )
        )


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
                _(
                    "{ward}/{receiver} {programme}: counts cannot be negative "
                    "(completed {completed}, minimum {minimum})"
                ).format(
                    ward=self.ward,
                    receiver=self.receiver,
                    programme=self.programme,
                    completed=self.completed,
                    minimum=self.minimum,
                )
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
            raise ValueInvalid(_("command {id}: its receiver is empty").format(id=repr(self.id)))


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
        _aware(self.start, _("airing {id}: start").format(id=self.id))
        _aware(self.expires, _("airing {id}: expires").format(id=self.id))
        for receiver, command in self.commands.items():
            if command.receiver != receiver:
                raise ValueInvalid(
                    _("airing {id}: the command filed under {filed} is for {receiver}").format(
                        id=self.id, filed=repr(receiver), receiver=repr(command.receiver)
                    )
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
            raise ValueInvalid(_("a requested start must carry a time zone"))


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
    clock_offset_s: float | None = None  # its clock minus ours, when it last said so live
