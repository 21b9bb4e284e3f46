"""``ipfm-scheduler run``: the service's life, from a valid configuration to a clean stop.

1. Load and validate the configuration; an invalid one is refused with the same messages as
   ``validate`` (``ConfigError``: exit code 3, which the unit file keeps systemd from restarting).
2. Open the database and check its schema (``SchemaOutOfDate`` names ``db upgrade``), register
   this instance (its heartbeat tells `air` and `status` that a service runs). SQLite: refuse
   to run beside another service; PostgreSQL: lead, or stand by (``lead.py``).
3. Connect to the broker (if it does not answer, the service starts anyway and keeps trying:
   commands wait in the database), start the HTTP server, and the timer once leading (with
   its configuration snapshot recorded), tell systemd READY=1.
4. Until SIGTERM/SIGINT: feed the systemd watchdog while healthy; on SIGHUP re-read the
   configuration on a thread of its own (``agenda.Reloads``) and swap it in only if valid.
   Signal handlers only set a flag.
5. Stop: STOPPING=1, let the running job finish, give up the lead, close, mark the instance stopped.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Protocol

from ipfm_scheduler import logtime
from ipfm_scheduler.clock import SystemClock
from ipfm_scheduler.config.settings import LoadedConfig, StationConfig
from ipfm_scheduler.core.lease import LeaseTimes
from ipfm_scheduler.errors import ConfigError, IpfmError, ServiceAlreadyRunning
from ipfm_scheduler.i18n import N_, _
from ipfm_scheduler.service.agenda import Plan, Reloads, settle_heap
from ipfm_scheduler.service.jobs import Dispatcher, Jobs
from ipfm_scheduler.service.lead import Leadership, LeaseLog, Turn, health, status_text
from ipfm_scheduler.service.ports import (
    LIVE_WITHIN,
    AiringLog,
    Clock,
    IncomingMessage,
    MetricsSink,
    Outbox,
    refuse_if_running,
)
from ipfm_scheduler.service.systemd import Notifier, Signals, watchdog_interval
from ipfm_scheduler.service.timer import Guard, Timer

log = logging.getLogger("ipfm_scheduler.service")

CONNECT_WAIT_S = 5.0
DEMO_DELAY = timedelta(seconds=15)
# Our thread publishes while paho's network thread reads the PUBACKs that make room for more:
# with Python's default 5 ms between thread switches, each hand-over of the GIL waits; 1 ms
# let one airing slot to 10,000 receivers go out about 1.5x faster here (bench/dispatch_10k.py).
SWITCH_INTERVAL_S = 0.001
# what receivers say reaches a standby too: it keeps the latest (acks heard while no service
# led, before it took over, are recorded when it does), the leader records them
STANDBY_KEEP = 50_000


class ServiceLog(AiringLog, Protocol):
    def record_config(self, loaded: LoadedConfig, *, now: datetime) -> int: ...
    def close(self) -> None: ...


class ServiceOutbox(Outbox, Protocol):
    def wait_connected(self, timeout: float) -> bool: ...
    def put_back(self, messages: list[IncomingMessage]) -> None: ...
    def fence(self, gate: Callable[[], bool]) -> None: ...
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
    #: PostgreSQL: the lease (service/lead.py), so services may stand by; None: SQLite, one only
    lease_log: LeaseLog | None = None


Loader = Callable[[Path, date], LoadedConfig]
Connector = Callable[[StationConfig], Wiring]


class Daemon(Reloads):
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
        self._term: tuple[Jobs, Timer] | None = None  # the jobs, while they run (leading)
        self._heard: deque[IncomingMessage] = deque(maxlen=STANDBY_KEEP)  # by a standby
        self.plan: Plan  # the configuration in force (set by run)
        self.loaded: LoadedConfig  # as read (recorded when this service takes the lead)
        self.clock = clock or SystemClock()
        self.notifier = notifier or Notifier()
        self.signals = signals or Signals()
        self.demo = demo
        self.timer_options = timer_options or {}
        self.started = threading.Event()
        self._reloader: threading.Thread | None = None  # a reload under way (its own thread)
        self._config_lock = threading.Lock()  # self.loaded, self.plan and the jobs they run

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
        if wiring.lease_log is None:  # SQLite: one service only
            try:
                refuse_if_running(wiring.log.live_instance(now, LIVE_WITHIN), now)
            except ServiceAlreadyRunning:
                wiring.log.close()
                raise
        # a standby records its configuration when it takes the lead (the one in force is the
        # leader's): until then, its plan has no snapshot
        self.loaded = loaded
        snapshot = wiring.log.record_config(loaded, now=now) if wiring.lease_log is None else None
        self.plan = Plan(station, loaded.schedule, snapshot)
        settle_heap()
        host, pid = socket.gethostname(), os.getpid()
        instance = wiring.log.start_instance(host=host, pid=pid, now=now)
        lead = None
        if wiring.lease_log is not None:
            times = LeaseTimes(station.ha.takeover_s)
            lead = Leadership(wiring.lease_log, (instance, host, pid), times)
        try:
            return self._serve(wiring, instance, lead)
        finally:
            wiring.log.stop_instance(instance, self.clock.now())
            wiring.log.close()

    def _serve(self, wiring: Wiring, instance: int, lead: Leadership | None) -> int:
        if not wiring.outbox.wait_connected(CONNECT_WAIT_S):
            log.warning(
                _(
                    "broker %s not reachable yet: starting anyway, commands wait in the database "
                    "until it answers"
                ),
                self.plan.station.mqtt.shown,
            )
        http = self._start_http(wiring, lead)
        if lead is not None:  # not even what paho holds goes out once this service stops leading
            wiring.outbox.fence(lead.may_publish)
        try:
            if lead is None:
                self._begin(wiring, instance, None)
            else:
                self._turn(wiring, instance, lead, lead.look())
            self._ready(lead)
            self._loop(wiring, instance, lead)
        finally:
            self.notifier.stopping()
            log.info(_("stopping: finishing the current job"))
            if self._reloader is not None:  # it swaps nothing in once asked to stop
                self._reloader.join(60.0)
            self._end(keep_answers=True)
            if lead is not None:
                Guard()(N_("giving up the lead"), lead.release)
            self.guard_close(wiring, http)
        log.info(_("stopped cleanly"))
        return 0

    def _begin(self, wiring: Wiring, instance: int, lead: Leadership | None) -> None:
        """Start the jobs: at start (SQLite), or when this service takes the lead."""
        now = self.clock.now()
        if lead is not None:
            snapshot = wiring.log.record_config(self.loaded, now=now)
            self.plan = replace(self.plan, snapshot_id=snapshot)
        dispatcher = Dispatcher(
            wiring.log, wiring.outbox, self.plan, now=now, metrics=wiring.metrics,
            spill=wiring.spill, clock=self.clock.now,
        )  # fmt: skip
        service = Jobs(dispatcher, wiring.log, instance)
        if lead is not None:
            service.gate = dispatcher.sender.gate = lead.may_publish
        timer = Timer(
            service,
            self.clock,
            misfire_grace_s=self.plan.station.dispatch.misfire_grace_s,
            **self.timer_options,
        )
        service.progress = timer.mark  # a long send that still beats is not a stuck scheduler
        self.service, self._term = service, (service, timer)
        if self.demo:
            self.demo = False
            count = dispatcher.demo(now, DEMO_DELAY)
            log.info(_("demo: %d airing(s) planned %d s from now"), count, DEMO_DELAY.seconds)
        timer.start()

    def _end(self, *, keep_answers: bool) -> None:
        """Stop the jobs (letting the running one finish): at a stop, or when stepping down."""
        term, self._term = self._term, None
        if term is None:
            return
        service, timer = term
        timer.shutdown()
        if not keep_answers:  # stepping down: the next leader resends what has no answer
            return
        # answers still in the intake (the broker has forgotten them): stored if the
        # database takes them, else set aside in the spill file for the next start
        dispatcher = service.dispatcher
        timer.guard("receiving acks", lambda: dispatcher.receive(self.clock.now()))
        timer.guard("sending commands", lambda: dispatcher.sender.settle(self.clock.now()))
        timer.guard("setting answers aside", lambda: dispatcher.answers.stop(self.clock.now()))

    def _turn(self, wiring: Wiring, instance: int, lead: Leadership, turn: Turn) -> None:
        if turn is Turn.LEAD:
            wiring.outbox.put_back(list(self._heard))
            self._heard.clear()
            try:
                with self._config_lock:  # a reload under way: its plan is swapped in first
                    self._begin(wiring, instance, lead)
            except IpfmError as exc:
                log.error(_("could not start leading: %s"), exc)
                lead.release()
        if turn is not Turn.NONE:  # said at once: stopping the jobs waits for the running one
            self.notifier.status(status_text(self.plan, lead))
        if wiring.metrics is not None:
            wiring.metrics.role(lead.role.value, 0 if lead.lease is None else lead.lease.epoch)
        if turn is Turn.STEP_DOWN:
            with self._config_lock:
                self._end(keep_answers=False)

    def _start_http(self, wiring: Wiring, lead: Leadership | None) -> Http | None:
        if wiring.http is None:
            return None

        def checks() -> dict[str, tuple[bool, str]]:
            return self.health(wiring, lead)

        self._http = wiring.http(checks, self.plan)
        self._http.start()
        return self._http

    def health(
        self, wiring: Wiring, lead: Leadership | None, *, watchdog: bool = False
    ) -> dict[str, tuple[bool, str]]:
        service, timer = self._term if self._term is not None else (None, None)
        return health(service, timer, wiring.outbox, lead, watchdog=watchdog)

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

    def _ready(self, lead: Leadership | None) -> None:
        status = status_text(self.plan, lead)
        log.info(_("ready: %s (configuration %s)"), status, self.path)
        self.notifier.ready(status)
        self.started.set()

    def _loop(self, wiring: Wiring, instance: int, lead: Leadership | None) -> None:
        interval = watchdog_interval()
        period = min(interval or 5.0, 5.0, lead.times.every_s if lead is not None else 5.0)
        last_problem = ""
        while not self.signals.stop:
            self.signals.wait(period)
            if self.signals.reload and not self.signals.stop and not self._reloading():
                self.signals.reload = False
                self._reload_aside(wiring)
            if lead is not None:
                self._turn(wiring, instance, lead, lead.look())
                lead.beat(self.clock.now())
                if not lead.leading:
                    self._heard.extend(wiring.outbox.take_incoming(STANDBY_KEEP))
            parts = self.health(wiring, lead, watchdog=True)
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
