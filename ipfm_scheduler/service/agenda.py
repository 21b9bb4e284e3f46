"""The configuration in force, and the agenda of upcoming airings expanded from it.

A :class:`Plan` is swapped whole on reload (SIGHUP), never edited. The :class:`Agenda` holds the
planned airings of a time range in dispatch order (start - lead); the dispatcher pops those whose
dispatch time has come.
"""

from __future__ import annotations

import bisect
import dataclasses
import gc
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ipfm_scheduler.config.settings import AudioFile, SigningKey, StationConfig
from ipfm_scheduler.core.expand import PlannedAiring, expand_between
from ipfm_scheduler.core.model import Programme, Schedule, Ward
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.i18n import _
from ipfm_scheduler.protocol import Trust

log = logging.getLogger("ipfm_scheduler.service")


@dataclass(frozen=True, slots=True)
class Plan:
    """What should happen: the station settings and the valid wards' schedule."""

    station: StationConfig
    schedule: Schedule
    snapshot_id: int | None = None

    @property
    def tz(self) -> ZoneInfo:
        return self.schedule.timezone

    @property
    def lead(self) -> timedelta:
        return timedelta(seconds=self.station.dispatch.lead_s)

    @property
    def resend_after(self) -> timedelta:
        return timedelta(seconds=self.station.dispatch.resend_after_s)

    @property
    def prefix(self) -> str:
        return self.station.mqtt.topic_prefix

    @property
    def wards(self) -> dict[str, Ward]:
        return dict(self.schedule.wards)

    def programme(self, programme_id: str) -> Programme | None:
        return self.schedule.programmes.get(programme_id)

    def audio(self, programme_id: str) -> AudioFile | None:
        return self.station.programme_audio.get(programme_id)

    def audio_url(self, audio: AudioFile) -> str:
        return f"{self.station.audio.base_url.rstrip('/')}/{audio.sha256}.{audio.format}"

    def key_for(self, ward: str) -> SigningKey | None:
        return self.station.signing.key_for(ward)

    def speaks_v2(self, ward: str, receiver: str) -> bool:
        """Whether the receiver gets version 2 commands: it has a key of its own and its ward
        does not accept unsigned answers (docs/protocol.md "Which version a receiver gets")."""
        found = self.schedule.wards.get(ward)
        signing = self.station.signing
        return (
            found is not None
            and not found.accept_unsigned
            and signing.own_key(ward, receiver) is not None
        )

    def trust(self, ward: str, receiver: str, now: datetime) -> Trust:
        """What checks the answers of ``ward``/``receiver`` heard at ``now``: its own keys
        accepted on the station's date, and its ward's ``accept_unsigned``."""
        found = self.schedule.wards.get(ward)
        day = now.astimezone(self.tz).date()
        return Trust(
            self.station.signing.answer_keys(ward, receiver, day),
            accept_unsigned=found is not None and found.accept_unsigned,
            known=found is not None and found.receiver(receiver) is not None,
        )

    def longest_programme(self) -> timedelta:
        return max((p.duration for p in self.schedule.programmes.values()), default=timedelta())

    def week(self, now: datetime) -> IsoWeek:
        return IsoWeek.containing(now, self.tz)


class Agenda:
    """Planned airings of [start, end) not yet handled, in dispatch-time order."""

    def __init__(self, plan: Plan, start: datetime, end: datetime) -> None:
        self._lead = plan.lead
        self._items: list[tuple[datetime, PlannedAiring]] = []
        self.start = start
        self.end = start
        self.extend(plan, end)

    def extend(self, plan: Plan, end: datetime) -> None:
        """Add the airings that start in [self.end, end)."""
        if end <= self.end:
            return
        for ward in plan.schedule.wards.values():
            for airing in expand_between(ward, plan.schedule.programmes, plan.tz, self.end, end):
                self._items.append((airing.start - self._lead, airing))
        self._items.sort()
        self.end = end

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[PlannedAiring]:
        return (airing for _, airing in self._items)

    def pop_due(self, now: datetime) -> list[PlannedAiring]:
        """Remove and return every airing whose dispatch time (start - lead) has come."""
        cut = bisect.bisect_right(self._items, now, key=lambda item: item[0])
        due = [airing for _, airing in self._items[:cut]]
        del self._items[:cut]
        return due

    def drop_closed(self, now: datetime) -> int:
        """Forget every airing whose window closed by ``now``; returns how many.

        For a reload: the service was running, so what a new plan has earlier in the week was
        either handled under the old plan or was not planned then; it is not "missed"."""
        kept = [item for item in self._items if item[1].expires > now]
        dropped = len(self._items) - len(kept)
        self._items = kept
        return dropped

    def put_back(self, airings: list[PlannedAiring]) -> None:
        """Return airings taken by :meth:`pop_due` that could not be handled."""
        self._items.extend((a.start - self._lead, a) for a in airings)
        self._items.sort()

    def dispatch_times(self, after: datetime, until: datetime) -> list[datetime]:
        """Distinct dispatch instants in (after, until], for the timer's date jobs."""
        return sorted({at for at, _ in self._items if after < at <= until})

    def upcoming(self, ward: str | None = None) -> list[PlannedAiring]:
        return [a for _, a in self._items if ward is None or a.ward == ward]


def keep_connections(old: StationConfig, new: StationConfig) -> StationConfig:
    """Broker, database and HTTP settings need a restart; everything else applies on reload."""
    changed = [
        name
        for name, a, b in (
            ("mqtt", old.mqtt, new.mqtt),
            ("database", old.database_url, new.database_url),
            ("http", old.http, new.http),
            ("ha", old.ha, new.ha),
        )
        if a != b
    ]
    if changed:
        log.warning(
            _(
                "reload: %s settings changed; they apply after a restart "
                "(systemctl restart ipfm-scheduler)"
            ),
            ", ".join(changed),
        )
    return dataclasses.replace(
        new, mqtt=old.mqtt, database_url=old.database_url, http=old.http, ha=old.ha
    )


def settle_heap() -> None:
    """The configuration just loaded (for 100,000 receivers, a few hundred thousand objects
    that live until the next reload) is set aside from Python's cyclic garbage collector, which
    otherwise walks it again and again while answers come in (6 % of the CPU of taking in
    10,000 acks, docs/service.md). What the previous configuration left is collected first."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
