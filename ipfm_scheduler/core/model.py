"""The values of the schedule: station, programmes, wards, receivers, windows, airing rules.

Every value checks itself when built, so an invalid schedule can't exist in memory. The config
layer turns YAML into these values (with file:line messages); everything else only reads them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from types import MappingProxyType
from zoneinfo import ZoneInfo

from ipfm_scheduler.core.ids import check_name
from ipfm_scheduler.core.weeks import DAY_NAMES
from ipfm_scheduler.errors import ValueInvalid
from ipfm_scheduler.i18n import N_, _

MINUTES_PER_DAY = 24 * 60
DEFAULT_VOLUME = 80


class Priority(StrEnum):
    """Bulletin classes of Circular 39/2020, lowest first (docs/protocol.md)."""

    NORMAL = "normal"
    PRIORITY = "priority"
    EMERGENCY = "emergency"


class Origin(StrEnum):
    """How an airing came to be."""

    SCHEDULED = "scheduled"  # expanded from a ward file
    MAKEUP = "makeup"  # planned by the service because a receiver fell short
    MANUAL = "manual"  # queued by `ipfm-scheduler air`
    EMERGENCY = "emergency"  # queued by `ipfm-scheduler air --priority emergency`


def day_names(days: Iterable[int]) -> str:
    return ", ".join(DAY_NAMES[d] for d in sorted(days))


def _check_days(days: frozenset[int], what: str) -> None:
    """``what``: marked with ``N_``."""
    if not days:
        raise ValueInvalid(_("{what} needs at least one day").format(what=_(what)))
    bad = [d for d in days if not (isinstance(d, int) and 0 <= d <= 6)]
    if bad:
        raise ValueInvalid(
            _("{what}: days must be 0 (mon) to 6 (sun), not {bad}").format(what=_(what), bad=bad)
        )


def minutes(t: time) -> int:
    return t.hour * 60 + t.minute


@dataclass(frozen=True, slots=True)
class Window:
    """When a ward's loudspeakers may sound: ``start`` to ``end`` on each of ``days``.

    Days are 0 (Monday) to 6 (Sunday). A window lies within one day: ``start < end``, and an
    ``end`` of 00:00 is not allowed (write 23:59, or split the window at midnight).
    """

    days: frozenset[int]
    start: time
    end: time

    def __post_init__(self) -> None:
        _check_days(self.days, N_("a window"))
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueInvalid(_("window times are local wall-clock times, without a zone"))
        if minutes(self.end) <= minutes(self.start):
            raise ValueInvalid(
                _("a window must end after it starts ({start} to {end})").format(
                    start=f"{self.start:%H:%M}", end=f"{self.end:%H:%M}"
                )
            )

    def opens_on(self, weekday: int) -> bool:
        return weekday in self.days

    def holds(self, weekday: int, at: time, duration_s: float) -> bool:
        """True if a programme of ``duration_s`` starting at ``at`` fits in this window."""
        if weekday not in self.days:
            return False
        start_s = minutes(at) * 60 + at.second
        return minutes(self.start) * 60 <= start_s <= minutes(self.end) * 60 - duration_s

    def starts_in(self, weekday: int, at: time) -> bool:
        return weekday in self.days and minutes(self.start) <= minutes(at) < minutes(self.end)

    def describe(self) -> str:
        return f"{day_names(self.days)} {self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True, slots=True)
class Receiver:
    """One loudspeaker cluster of a ward. Disabled receivers get no commands and don't count."""

    id: str
    location: str = ""
    enabled: bool = True

    def __post_init__(self) -> None:
        check_name(self.id, N_("receiver id"))


@dataclass(frozen=True, slots=True)
class AiringRule:
    """One line of a ward's ``airings``: weekly on ``days`` or once on each of ``dates``."""

    programme: str
    at: time
    days: frozenset[int] = frozenset()
    dates: tuple[date, ...] = ()
    volume: int = DEFAULT_VOLUME

    def __post_init__(self) -> None:
        check_name(self.programme, N_("programme id"))
        if bool(self.days) == bool(self.dates):
            raise ValueInvalid(_("an airing has `days` (weekly) or `dates` (one-off), not both"))
        if self.days:
            _check_days(self.days, N_("an airing"))
        if self.at.tzinfo is not None or self.at.second or self.at.microsecond:
            raise ValueInvalid(_("an airing time is a local HH:MM, without seconds or zone"))
        if not (isinstance(self.volume, int) and 0 <= self.volume <= 100):
            raise ValueInvalid(
                _("volume must be 0 to 100, not {volume}").format(volume=repr(self.volume))
            )

    @property
    def weekly(self) -> bool:
        return bool(self.days)


@dataclass(frozen=True, slots=True)
class Ward:
    """A ward or commune, with its receivers, windows, planned airings and days off."""

    id: str
    name: str
    receivers: tuple[Receiver, ...]
    windows: tuple[Window, ...]
    airings: tuple[AiringRule, ...]
    skip_dates: frozenset[date] = frozenset()
    #: its receivers' unsigned answers (protocol version 1) count, marked unverified
    accept_unsigned: bool = False
    #: receiver id -> receiver, for :meth:`receiver` (asked once per answer received: a search
    #: through 100 receivers each time made taking in an answer cost more in bigger wards)
    _by_id: dict[str, Receiver] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        check_name(self.id, N_("ward id"))
        seen: dict[str, Receiver] = {}
        for receiver in self.receivers:
            if receiver.id in seen:
                raise ValueInvalid(
                    _("ward {ward}: receiver id {receiver} appears twice").format(
                        ward=self.id, receiver=repr(receiver.id)
                    )
                )
            seen[receiver.id] = receiver
        object.__setattr__(self, "_by_id", seen)

    @property
    def enabled_receivers(self) -> tuple[Receiver, ...]:
        return tuple(r for r in self.receivers if r.enabled)

    def receiver(self, receiver_id: str) -> Receiver | None:
        return self._by_id.get(receiver_id)

    def window_at(self, weekday: int, at: time) -> Window | None:
        """The window in which an airing starting at ``at`` on ``weekday`` starts, if any.

        Where windows overlap, the one that stays open longest wins.
        """
        found = [w for w in self.windows if w.starts_in(weekday, at)]
        return max(found, key=lambda w: minutes(w.end)) if found else None


@dataclass(frozen=True, slots=True)
class Programme:
    """A recorded programme that wards air (``kh179`` is Plan 179).

    ``duration_s`` is the length of its audio, read from the file (the config layer reads it).
    ``start``/``until`` bound the campaign (inclusive, local dates; ``None`` = open).
    """

    id: str
    title: str
    audio: str
    duration_s: float
    min_per_week: int = 0
    start: date | None = None
    until: date | None = None

    def __post_init__(self) -> None:
        check_name(self.id, N_("programme id"))
        if not self.duration_s > 0:
            raise ValueInvalid(
                _("programme {id}: audio duration must be positive").format(id=self.id)
            )
        if not (isinstance(self.min_per_week, int) and self.min_per_week >= 0):
            raise ValueInvalid(
                _("programme {id}: min_per_week must be 0 or more").format(id=self.id)
            )
        if self.start and self.until and self.until < self.start:
            raise ValueInvalid(
                _("programme {id}: the campaign ends ({until}) before it starts ({start})").format(
                    id=self.id, until=self.until, start=self.start
                )
            )

    @property
    def duration(self) -> timedelta:
        return timedelta(seconds=self.duration_s)

    def runs_on(self, day: date) -> bool:
        """True if ``day`` lies inside the campaign."""
        return (self.start is None or day >= self.start) and (
            self.until is None or day <= self.until
        )


@dataclass(frozen=True, slots=True)
class Schedule:
    """Everything the core needs to plan: the station's zone, its programmes, its wards."""

    timezone: ZoneInfo
    programmes: Mapping[str, Programme]
    wards: Mapping[str, Ward] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "programmes", MappingProxyType(dict(self.programmes)))
        object.__setattr__(self, "wards", MappingProxyType(dict(self.wards)))
        for key, programme in self.programmes.items():
            if key != programme.id:
                raise ValueInvalid(
                    _("programme {id} is filed under {key}").format(
                        id=repr(programme.id), key=repr(key)
                    )
                )
        for key, ward in self.wards.items():
            if key != ward.id:
                raise ValueInvalid(
                    _("ward {id} is filed under {key}").format(id=repr(ward.id), key=repr(key))
                )

    def localise(self, moment: datetime) -> datetime:
        if moment.tzinfo is None:
            raise ValueInvalid(_("the core takes aware datetimes only"))
        return moment.astimezone(self.timezone)
