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
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from ipfm_scheduler.config.settings import AudioFile, SigningKey, StationConfig
from ipfm_scheduler.core.expand import PlannedAiring, expand_between
from ipfm_scheduler.core.model import Programme, Schedule, Ward
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.errors import ConfigError
from ipfm_scheduler.i18n import N_, _
from ipfm_scheduler.protocol import Trust
from ipfm_scheduler.service.timer import Guard

if TYPE_CHECKING:
    from ipfm_scheduler.config.settings import LoadedConfig
    from ipfm_scheduler.service.ports import Clock
    from ipfm_scheduler.service.systemd import Notifier, Signals
    from ipfm_scheduler.service.timer import Timer

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

    def knows(self, ward: str, receiver: str) -> bool:
        """Whether ``ward``/``receiver`` is a receiver of this configuration (a disabled one
        too: it may still report)."""
        found = self.schedule.wards.get(ward)
        return found is not None and found.receiver(receiver) is not None

    def trust(self, ward: str, receiver: str, now: datetime) -> Trust:
        """What checks the answers of ``ward``/``receiver`` heard at ``now``: its own keys
        accepted on the station's date, and its ward's ``accept_unsigned``."""
        found = self.schedule.wards.get(ward)
        day = now.astimezone(self.tz).date()
        return Trust(
            self.station.signing.answer_keys(ward, receiver, day),
            accept_unsigned=found is not None and found.accept_unsigned,
            known=self.knows(ward, receiver),
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


class _Replans(Protocol):
    def replan(self, plan: Plan, now: datetime) -> None: ...


class _Jobs(Protocol):  # what a reload needs of the jobs (service/jobs.py)
    @property
    def dispatcher(self) -> _Replans: ...


class _Recorder(Protocol):
    def record_config(self, loaded: LoadedConfig, *, now: datetime) -> int: ...


class _Wiring(Protocol):  # ... and of the daemon's adapters (service/daemon.py)
    @property
    def log(self) -> _Recorder: ...
    @property
    def lease_log(self) -> object | None: ...


class _Http(Protocol):
    def update(self, plan: Plan) -> None: ...


class Reloads:
    """The daemon's reload (SIGHUP), on a thread of its own: while the configuration is read
    again (100,000 receivers: seconds), the main loop goes on feeding the watchdog and the timer
    goes on dispatching with the plan in force; the new plan is swapped in whole on the timer's
    worker, between two jobs. One reload at a time (a SIGHUP meanwhile: another after it)."""

    plan: Plan
    loaded: LoadedConfig
    clock: Clock
    notifier: Notifier
    signals: Signals
    _http: _Http | None
    _term: tuple[_Jobs, Timer] | None  # the jobs, while they run (leading)
    _reloader: threading.Thread | None  # a reload under way
    _config_lock: threading.Lock  # plan, loaded and the jobs: a reload or a change of lead

    def _load(self) -> LoadedConfig:
        raise NotImplementedError

    def _reload_aside(self, wiring: _Wiring) -> None:
        """:meth:`reload` on a thread of its own: meanwhile the loop feeds the watchdog and the
        timer dispatches with the plan in force, until the new one is swapped in."""

        def reload() -> None:
            try:
                self.reload(wiring)
            except Exception:
                log.exception(_("configuration reload failed: the running plan stays"))
                self.notifier.ready(_("reload failed: see the log"))

        self._reloader = threading.Thread(target=reload, name="ipfm-reload", daemon=True)
        self._reloader.start()

    def _reloading(self) -> bool:
        return self._reloader is not None and self._reloader.is_alive()

    def reload(self, wiring: _Wiring) -> bool:
        """Re-read the configuration; swap it in only if it is valid (a standby keeps it for
        when it leads)."""
        self.notifier.reloading()
        try:
            loaded = self._load()
        except ConfigError as exc:
            for problem in exc.problems:
                log.error(_("reload refused: %s"), problem)
            log.error(
                _("configuration NOT reloaded (%d problem(s)): the running plan stays"),
                len(exc.problems),
            )
            self.notifier.ready(_("reload refused: the configuration has problems"))
            return False
        if self.signals.stop:
            return False  # stopping: nothing is swapped in now
        with self._config_lock:  # not while the loop takes or gives up the lead
            return self._reload(wiring, loaded)

    def _reload(self, wiring: _Wiring, loaded: LoadedConfig) -> bool:
        service, timer = self._term or (None, None)
        assert loaded.station is not None
        assert loaded.schedule is not None
        station = keep_connections(self.plan.station, loaded.station)
        self.loaded = loaded
        guard = timer.guard if timer is not None else Guard()
        standby = wiring.lease_log is not None and service is None  # records it when it leads
        snapshot = None if standby else _record_config(wiring, guard, loaded, self.clock.now())
        if snapshot is None and not standby:  # airings are recorded with the configuration in force
            log.error(_("configuration NOT reloaded: it could not be recorded in the database"))
            self.notifier.ready(_("reload failed: the database did not answer"))
            return False
        plan = Plan(station, loaded.schedule, snapshot)
        if service is not None and timer is not None and not self._swap(service, timer, plan):
            log.error(_("configuration reload failed: the running plan stays"))
            self.notifier.ready(_("reload failed: see the log"))
            return False
        self.plan = plan
        if service is None and self._http is not None:
            self._http.update(plan)
        settle_heap()
        log.info(_("configuration reloaded: %d ward(s)"), len(plan.schedule.wards))
        self.notifier.ready(_("configuration reloaded"))
        return True

    def _swap(self, service: _Jobs, timer: Timer, plan: Plan) -> bool:
        """Swap ``plan`` in on the timer's worker thread (never while a job runs)."""

        def apply() -> None:
            service.dispatcher.replan(plan, self.clock.now())
            timer.plan_dates()
            if self._http is not None:
                self._http.update(plan)

        return timer.run_and_wait("reload", N_("applying the new configuration"), apply, 60.0)


def _record_config(
    wiring: _Wiring, guard: Guard, loaded: LoadedConfig, now: datetime
) -> int | None:
    """The configuration snapshot for a reload; None if the database did not answer."""
    snapshot: list[int] = []
    guard(
        N_("recording the configuration"),
        lambda: snapshot.append(wiring.log.record_config(loaded, now=now)),
    )
    return snapshot[0] if snapshot else None
