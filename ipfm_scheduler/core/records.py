"""What happened, as the weekly rule reads it: stored airings with the state of their commands,
and the verdict kept when a week closes. Defined here, in the core, so the service (its airing
log), `status` and the auditors' `report` hand the one rule (``core/verdicts.py``) the same
values; ``service/ports.py`` re-exports them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from ipfm_scheduler.core.commands import CommandState
from ipfm_scheduler.core.model import Origin, Priority
from ipfm_scheduler.errors import ValueInvalid

#: an :class:`AiringRecord`'s ``outcome`` when its window closed before it could be sent (no
#: service ran): stored with no command
MISSED = "missed"


def _aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueInvalid(f"{name} must be a timezone-aware datetime, got {value.isoformat()}")


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
    """A stored airing with the state of each of its commands (keyed by receiver)."""

    id: int
    ward: str
    programme: str
    start: datetime
    expires: datetime
    origin: Origin
    priority: Priority
    commands: Mapping[str, CommandRecord]
    outcome: str | None = None
    makeup_for: int | None = None

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
