"""``ipfm-scheduler run``: the service's life, from a valid configuration to a clean stop.

1. Load and validate the configuration; an invalid one is refused with the same messages as
   ``validate`` (``ConfigError``: exit code 3, which the unit file keeps systemd from restarting).
2. Open the database and check its schema (``SchemaOutOfDate`` names ``db upgrade``), record
   the configuration snapshot, register this instance (its heartbeat tells `air` and `status`
   that a service runs).
3. Connect to the broker (if it does not answer, the service starts anyway and keeps trying:
   commands wait in the database), start the HTTP server and the timer, tell systemd READY=1.
4. Until SIGTERM/SIGINT: feed the systemd watchdog while the scheduler, the MQTT network loop and
   the database are healthy; on SIGHUP re-read the configuration and swap it in only if valid.
   Signal handlers only set a flag; this loop does the work.
5. Stop: STOPPING=1, let the running job finish, close the connection, mark the instance stopped.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Protocol

from ipfm_scheduler import logtime
from ipfm_scheduler.clock import SystemClock
from ipfm_scheduler.config.settings import LoadedConfig, StationConfig
from ipfm_scheduler.errors import ConfigError, ServiceAlreadyRunning
from ipfm_scheduler.i18n import N_, _
from ipfm_scheduler.service.agenda import Plan
from ipfm_scheduler.service.jobs import DB_STALE_S, Dispatcher, Jobs
from ipfm_scheduler.service.ports import (
    LIVE_WITHIN,
    AiringLog,
    Clock,
    MetricsSink,
    Outbox,
    refuse_if_running,
)
from ipfm_scheduler.service.signals import Signals
from ipfm_scheduler.service.systemd import Notifier, watchdog_interval
from ipfm_scheduler.service.timer import Timer

log = logging.getLogger("ipfm_scheduler.service")

CONNECT_WAIT_S = 5.0
DEMO_DELAY = timedelta(seconds=15)
# Our thread publishes while paho's network thread reads the PUBACKs that make room for more:
# with Python's default 5 ms between thread switches, each hand-over of the GIL waits; 1 ms
# let one airing slot to 10,000 receivers go out about 1.5x faster here (bench/dispatch_10k.py).
SWITCH_INTERVAL_S = 0.001


class ServiceLog(AiringLog, Protocol):
    def record_config(self, loaded: LoadedConfig, *, now: datetime) -> int: ...
    def close(self) -> None: ...


class ServiceOutbox(Outbox, Protocol):
    def wait_connected(self, timeout: float) -> bool: ...
    def close(self) -> None: ...
    @property
    def last_error(self) -> str | None:
        """The last connection problem, in plain words; None while all is well."""
        ...


class Http(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def update(self, plan: Plan) -> None:
        """The configuration changed (reload): serve its audio."""
        ...


HealthFn = Callable[[], dict[str, tuple[bool, str]]]


@dataclass
class Wiring:
    """The real (or, in tests, fake) adapters the daemon runs on."""

    log: ServiceLog
    outbox: ServiceOutbox
    metrics: MetricsSink | None = None
    http: Callable[[HealthFn, Plan], Http] | None = None  # builds the HTTP server
    spill: Path | None = None  # answers the database could not take wait here (storage/spill.py)


Loader = Callable[[Path, date], LoadedConfig]
Connector = Callable[[StationConfig], Wiring]


class Daemon:
    def __init__(
        self,
        station_path: Path,
        *,
        loader: Loader,
        connector: Connector,
        clock: Clock | None = None,
        notifier: Notifier | None = None,
        signals: Signals | None = None,
        demo: bool = False,
        timer_options: dict[str, float] | None = None,
    ) -> None:
        self.path = station_path
        self.loader = loader
        self.connector = connector
        self._http: Http | None = None
        self.service: Jobs | None = None  # while running (tests look at its plan)
        self.clock = clock or SystemClock()
        self.notifier = notifier or Notifier()
        self.signals = signals or Signals()
        self.demo = demo
        self.timer_options = timer_options or {}
        self.started = threading.Event()

    # ------------------------------------------------------------------ configuration

    def _load(self) -> LoadedConfig:
        now = self.clock.now()
        loaded = self.loader(self.path, now.date())
        if not loaded.ok or loaded.station is None or loaded.schedule is None:
            raise ConfigError(loaded.problems)
        logtime.use_zone(loaded.station.timezone)  # the log's times: the station's, from now on
        return loaded

    # ------------------------------------------------------------------ life

    def run(self) -> int:
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        loaded = self._load()
        station = loaded.station
        assert station is not None
        assert loaded.schedule is not None
        wiring = self.connector(station)
        now = self.clock.now()
        try:
            refuse_if_running(wiring.log.live_instance(now, LIVE_WITHIN), now)
        except ServiceAlreadyRunning:
            wiring.log.close()
            raise
        snapshot = wiring.log.record_config(loaded, now=now)
        plan = Plan(station, loaded.schedule, snapshot)
        instance = wiring.log.start_instance(host=socket.gethostname(), pid=os.getpid(), now=now)
        try:
            return self._serve(wiring, plan, instance)
        finally:
            wiring.log.stop_instance(instance, self.clock.now())
            wiring.log.close()

    def _serve(self, wiring: Wiring, plan: Plan, instance: int) -> int:
        if not wiring.outbox.wait_connected(CONNECT_WAIT_S):
            log.warning(
                _(
                    "broker %s not reachable yet: starting anyway, commands wait in the database "
                    "until it answers"
                ),
                plan.station.mqtt.shown,
            )
        now = self.clock.now()
        dispatcher = Dispatcher(
            wiring.log, wiring.outbox, plan, now=now, metrics=wiring.metrics, spill=wiring.spill
        )
        service = Jobs(dispatcher, wiring.log, instance)
        self.service = service
        timer = Timer(
            service,
            self.clock,
            misfire_grace_s=plan.station.dispatch.misfire_grace_s,
            **self.timer_options,
        )
        http = self._start_http(wiring, service, timer, plan)
        try:
            if self.demo:
                count = dispatcher.demo(now, DEMO_DELAY)
                log.info(_("demo: %d airing(s) planned %d s from now"), count, DEMO_DELAY.seconds)
            timer.start()
            self._ready(plan)
            self._loop(wiring, service, timer)
        finally:
            self.notifier.stopping()
            log.info(_("stopping: finishing the current job"))
            timer.shutdown()
            self.guard_close(wiring, http)
            # answers still in the intake (the broker has forgotten them): stored if the
            # database takes them, else set aside in the spill file for the next start
            timer.guard("receiving acks", lambda: dispatcher.receive(self.clock.now()))
            timer.guard("setting answers aside", lambda: dispatcher.answers.stop(self.clock.now()))
        log.info(_("stopped cleanly"))
        return 0

    def _start_http(self, wiring: Wiring, service: Jobs, timer: Timer, plan: Plan) -> Http | None:
        if wiring.http is None:
            return None

        def checks() -> dict[str, tuple[bool, str]]:
            return health(service, timer, wiring.outbox)

        self._http = wiring.http(checks, plan)
        self._http.start()
        return self._http

    @staticmethod
    def guard_close(wiring: Wiring, http: Http | None) -> None:
        for name, close in (
            (_("HTTP server"), http.stop if http else None),
            (_("broker connection"), wiring.outbox.close),
        ):
            if close is None:
                continue
            try:
                close()
            except Exception as exc:
                log.warning(_("closing the %s failed: %s"), name, exc)

    def _ready(self, plan: Plan) -> None:
        wards = len(plan.schedule.wards)
        receivers = sum(len(w.enabled_receivers) for w in plan.schedule.wards.values())
        status = _("airing for {wards} ward(s), {receivers} receiver(s)")
        status = status.format(wards=wards, receivers=receivers)
        log.info(_("ready: %s (configuration %s)"), status, self.path)
        self.notifier.ready(status)
        self.started.set()

    def _loop(self, wiring: Wiring, service: Jobs, timer: Timer) -> None:
        interval = watchdog_interval()
        last_problem = ""
        while not self.signals.stop:
            self.signals.wait(min(interval or 5.0, 5.0))
            if self.signals.reload and not self.signals.stop:
                self.signals.reload = False
                self.reload(wiring, service, timer)
            parts = health(service, timer, wiring.outbox, watchdog=True)
            problems = [k for k, (ok, _) in parts.items() if not ok]
            problem = ", ".join(problems)
            if problem != last_problem:
                if problem:
                    log.warning(_("unhealthy (%s): the systemd watchdog is not fed"), problem)
                else:
                    log.info(_("healthy again"))
                last_problem = problem
            if interval is not None and not problems:
                self.notifier.watchdog()

    def reload(self, wiring: Wiring, service: Jobs, timer: Timer) -> bool:
        """Re-read the configuration; swap it in only if it is valid."""
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
        old = service.dispatcher.plan
        assert loaded.station is not None
        assert loaded.schedule is not None
        station = _keep_connections(old.station, loaded.station)
        snapshot = _record_config(wiring.log, timer, loaded, self.clock.now())
        if snapshot is None:  # airings must be recorded with the configuration in force
            log.error(_("configuration NOT reloaded: it could not be recorded in the database"))
            self.notifier.ready(_("reload failed: the database did not answer"))
            return False
        plan = Plan(station, loaded.schedule, snapshot)
        if not self._swap(service, timer, plan):
            log.error(_("configuration reload failed: the running plan stays"))
            self.notifier.ready(_("reload failed: see the log"))
            return False
        log.info(_("configuration reloaded: %d ward(s)"), len(plan.schedule.wards))
        self.notifier.ready(_("configuration reloaded"))
        return True

    def _swap(self, service: Jobs, timer: Timer, plan: Plan) -> bool:
        """Swap ``plan`` in on the timer's worker thread (never while a job runs)."""
        done = threading.Event()
        applied: list[bool] = []

        def apply() -> None:
            service.dispatcher.replan(plan, self.clock.now())
            timer.plan_dates()
            if self._http is not None:
                self._http.update(plan)

        def swap() -> None:
            try:
                applied.append(timer.guard(N_("applying the new configuration"), apply))
            finally:
                done.set()

        timer.run_soon("reload", swap)
        return done.wait(60.0) and all(applied)


def _record_config(
    airing_log: ServiceLog, timer: Timer, loaded: LoadedConfig, now: datetime
) -> int | None:
    """The configuration snapshot for a reload; None if the database did not answer."""
    snapshot: list[int] = []
    timer.guard(
        N_("recording the configuration"),
        lambda: snapshot.append(airing_log.record_config(loaded, now=now)),
    )
    return snapshot[0] if snapshot else None


def _keep_connections(old: StationConfig, new: StationConfig) -> StationConfig:
    """Broker, database and HTTP settings need a restart; everything else applies on reload."""
    changed = [
        name
        for name, a, b in (
            ("mqtt", old.mqtt, new.mqtt),
            ("database", old.database_url, new.database_url),
            ("http", old.http, new.http),
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
    return dataclasses.replace(new, mqtt=old.mqtt, database_url=old.database_url, http=old.http)


def health(
    service: Jobs, timer: Timer, outbox: ServiceOutbox, *, watchdog: bool = False
) -> dict[str, tuple[bool, str]]:
    """Each part /healthz and the watchdog look at: (ok, reason).

    /healthz is 200 only while the broker is connected. The watchdog asks less of the broker:
    that paho's network loop is alive (reconnecting counts), because restarting the service
    does not bring a stopped broker back; commands wait in the database meanwhile.
    """
    connected = outbox.is_connected()
    broker_ok = outbox.is_alive() if watchdog else connected
    if connected:
        broker_why = "connected"
    elif outbox.is_alive():
        why = outbox.last_error
        broker_why = "not connected: reconnecting" + (f" ({why})" if why else "")
    else:
        broker_why = "not connected: the MQTT network loop has stopped"
    return {
        "scheduler": (timer.healthy(), "" if timer.healthy() else "no job ran recently"),
        "broker": (broker_ok, broker_why),
        "database": _database_health(service, timer, watchdog=watchdog),
    }


def _database_health(service: Jobs, timer: Timer, *, watchdog: bool) -> tuple[bool, str]:
    """/healthz turns red at the first heartbeat the database refuses (every 5 s), with its
    error; the watchdog only once no heartbeat went through for ``DB_STALE_S`` (a short blip
    must not get the service restarted, and a restart does not bring a database back)."""
    error = timer.guard.last_error.get("heartbeat")  # why the last heartbeat failed, if it did
    if not service.database_ok():
        return False, f"no heartbeat written in {DB_STALE_S:.0f} s ({error or 'no answer'})"
    if error is not None and not watchdog:
        return False, f"the last heartbeat could not be written: {error}"
    return True, ""
