"""The daemon's life with fake adapters, a real APScheduler and a real notify socket:
READY, the watchdog fed only while healthy, reload (good and bad), clean stop."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from ipfm_scheduler.config.settings import LoadedConfig, StationConfig
from ipfm_scheduler.errors import ConfigError, ConfigProblem
from ipfm_scheduler.service.daemon import Daemon, Wiring
from ipfm_scheduler.service.systemd import Notifier, Signals
from ipfm_scheduler.storage.memory import MemoryLog
from tests.core.factories import ward, weekly
from tests.service.fake_mqtt import FakeOutbox
from tests.service.helpers import make_plan

PROBLEM = ConfigProblem("wards/cam-trung.yaml", 14, 9, "airings[0].at", '"25:00" is not a time')


class Configs:
    """What the loader returns, changed by the test between reloads."""

    def __init__(self) -> None:
        plan = make_plan(ward(weekly("mon", "06:00")))
        self.good = LoadedConfig(plan.station, plan.schedule, {}, ())
        other = make_plan(
            ward(weekly("mon,thu", "06:00")), ward(weekly("tue", "06:00"), wid="cua-ong")
        )
        self.other = LoadedConfig(other.station, other.schedule, {}, ())
        self.bad = LoadedConfig(plan.station, None, {}, (PROBLEM,))
        self.current = self.good

    def __call__(self, path: Path, today: date) -> LoadedConfig:
        return self.current


class Manager:
    """A notify socket that records every datagram and lets the test wait for one."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)

    def expect(self, field: str, timeout: float = 10.0) -> list[str]:
        """Wait for a datagram holding ``field``; returns the datagrams seen until then."""
        seen = []
        self.sock.settimeout(timeout)
        while True:
            message = self.sock.recv(4096).decode()
            seen.append(message)
            if field in message.split("\n"):
                return seen

    def collect(self, seconds: float) -> list[str]:
        """Every datagram that arrives within ``seconds`` (none expected to keep coming)."""
        seen = []
        self.sock.settimeout(seconds)
        try:
            while True:
                seen.append(self.sock.recv(4096).decode())
        except TimeoutError:
            return seen

    def drain(self) -> None:
        self.sock.settimeout(0.0)
        try:
            while True:
                self.sock.recv(4096)
        except BlockingIOError:
            pass


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[Manager]:
    m = Manager(tmp_path / "notify.sock")
    yield m
    m.sock.close()


@pytest.fixture
def rig(
    manager: Manager, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Daemon, Configs, MemoryLog, FakeOutbox]]:
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # fed every 0.1 s
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    configs = Configs()
    airing_log, outbox = MemoryLog(), FakeOutbox()

    def connector(station: StationConfig) -> Wiring:
        return Wiring(airing_log, outbox)  # type: ignore[arg-type]

    daemon = Daemon(
        Path("config/ipfm.yaml"),
        loader=configs,
        connector=connector,
        notifier=Notifier(manager.path),
        signals=Signals(),
    )
    yield daemon, configs, airing_log, outbox
    daemon.signals.request_stop()


def start(daemon: Daemon) -> tuple[threading.Thread, list[int]]:
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(daemon.run()), daemon=True)
    thread.start()
    assert daemon.started.wait(10.0)
    return thread, result


def test_ready_then_watchdog_then_a_clean_stop(
    rig: tuple[Daemon, Configs, MemoryLog, FakeOutbox], manager: Manager
) -> None:
    daemon, _, airing_log, outbox = rig
    thread, result = start(daemon)
    manager.expect("READY=1")
    manager.expect("WATCHDOG=1")
    daemon.signals.request_stop()
    thread.join(10.0)
    assert result == [0]
    manager.expect("STOPPING=1")
    (instance,) = airing_log.instances.values()
    assert instance["stopped"] is not None
    assert outbox.closed
    assert airing_log.closed_log


def test_the_watchdog_is_not_fed_while_the_mqtt_loop_is_dead(
    rig: tuple[Daemon, Configs, MemoryLog, FakeOutbox], manager: Manager
) -> None:
    daemon, _, _, outbox = rig
    start(daemon)
    manager.expect("WATCHDOG=1")
    outbox.alive = False
    manager.drain()
    seen = manager.collect(0.6)  # healthy, that would be ~6 feeds (every 0.1 s)
    assert seen.count("WATCHDOG=1") <= 1  # one may have left before the loop saw the change
    outbox.alive = True
    manager.expect("WATCHDOG=1")


def test_a_bad_edit_on_reload_keeps_the_running_plan_and_says_why(
    rig: tuple[Daemon, Configs, MemoryLog, FakeOutbox],
    manager: Manager,
    caplog: pytest.LogCaptureFixture,
) -> None:
    daemon, configs, _, _ = rig
    start(daemon)
    manager.expect("READY=1")
    configs.current = configs.bad
    with caplog.at_level(logging.ERROR):
        daemon.signals.request_reload()
        manager.expect("RELOADING=1")
        seen = manager.expect("READY=1")
    assert "STATUS=reload refused: the configuration has problems" in seen[-1]
    assert f"reload refused: {PROBLEM}" in caplog.messages
    assert any("NOT reloaded" in m for m in caplog.messages)
    assert daemon.service is not None
    assert daemon.service.dispatcher.plan.schedule is configs.good.schedule  # the running plan


def test_a_good_edit_on_reload_is_swapped_in(
    rig: tuple[Daemon, Configs, MemoryLog, FakeOutbox], manager: Manager
) -> None:
    daemon, configs, airing_log, _ = rig
    start(daemon)
    manager.expect("READY=1")
    configs.current = configs.other
    daemon.signals.request_reload()
    seen = manager.expect("READY=1")
    assert "STATUS=configuration reloaded" in seen[-1]
    assert len(airing_log.configs) == 2  # a snapshot per configuration in force
    assert daemon.service is not None
    assert daemon.service.dispatcher.plan.schedule is configs.other.schedule


def test_an_invalid_configuration_refuses_to_start(
    rig: tuple[Daemon, Configs, MemoryLog, FakeOutbox],
) -> None:
    daemon, configs, airing_log, _ = rig
    configs.current = configs.bad
    with pytest.raises(ConfigError) as caught:
        daemon.run()
    assert caught.value.problems == (PROBLEM,)
    assert airing_log.instances == {}


def test_health_names_each_part_and_says_why_it_fails() -> None:
    import time

    from ipfm_scheduler.clock import SystemClock
    from ipfm_scheduler.errors import StorageError
    from ipfm_scheduler.service.daemon import health
    from ipfm_scheduler.service.jobs import Dispatcher, Jobs
    from ipfm_scheduler.service.timer import Timer
    from tests.service.helpers import MONDAY, local

    plan = make_plan(ward(weekly("mon", "06:00")))
    airing_log, outbox = MemoryLog(), FakeOutbox()
    now = local(MONDAY, "05:00")
    service = Jobs(Dispatcher(airing_log, outbox, plan, now=now), airing_log, 1)
    timer = Timer(service, SystemClock())
    parts = health(service, timer, outbox)
    assert parts["broker"] == (True, "connected")
    assert parts["scheduler"] == (False, "no job ran recently")  # not started
    assert parts["database"][0]
    outbox.connected = False  # the broker went away; paho keeps trying
    assert health(service, timer, outbox)["broker"] == (False, "not connected: reconnecting")
    assert health(service, timer, outbox, watchdog=True)["broker"] == (
        True,
        "not connected: reconnecting",
    )  # the watchdog stays fed: a restart would not bring the broker back
    outbox.last_error = "can't connect to the MQTT broker at 127.0.0.1:1883"
    assert health(service, timer, outbox)["broker"] == (
        False,
        "not connected: reconnecting (can't connect to the MQTT broker at 127.0.0.1:1883)",
    )  # the transport's words for what is wrong, for /healthz and `status`

    # the database refuses a heartbeat: /healthz says so at once, with the error; the
    # watchdog (a restart brings no database back) waits until none went through for 20 s
    def refuse(*_args: object) -> None:
        raise StorageError("not accepting")

    airing_log.heartbeat = refuse  # type: ignore[method-assign]
    timer.run("heartbeat")  # the timer's guard takes the error
    assert health(service, timer, outbox)["database"] == (
        False,
        "the last heartbeat could not be written: not accepting",
    )
    assert health(service, timer, outbox, watchdog=True)["database"] == (True, "")
    service.db_ok_at = time.monotonic() - 60
    outbox.alive = False
    parts = health(service, timer, outbox, watchdog=True)
    assert parts["database"] == (False, "no heartbeat written in 20 s (not accepting)")
    assert parts["broker"] == (False, "not connected: the MQTT network loop has stopped")


def test_a_reload_that_cannot_be_recorded_keeps_the_running_plan(
    rig: tuple[Daemon, Configs, MemoryLog, FakeOutbox],
    manager: Manager,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from ipfm_scheduler.errors import StorageError

    daemon, configs, airing_log, _ = rig
    start(daemon)
    manager.expect("READY=1")
    configs.current = configs.other
    airing_log.config_error = StorageError("database is locked")
    with caplog.at_level(logging.ERROR):
        daemon.signals.request_reload()
        seen = manager.expect("READY=1")
    assert "STATUS=reload failed: the database did not answer" in seen[-1]
    assert any("could not be recorded" in m for m in caplog.messages)
    assert daemon.service is not None
    assert daemon.service.dispatcher.plan.schedule is configs.good.schedule


def test_a_second_service_on_the_same_airing_log_is_refused_unless_the_first_is_gone() -> None:
    import os
    import socket
    import subprocess
    import sys
    from datetime import UTC, datetime

    from ipfm_scheduler.errors import ServiceAlreadyRunning
    from ipfm_scheduler.service.ports import LiveInstance
    from ipfm_scheduler.service.ports import refuse_if_running as _refuse_if_running

    now = datetime(2026, 11, 27, 10, 0, 5, tzinfo=UTC)
    beat = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)
    here = socket.gethostname()
    _refuse_if_running(None, now)  # nobody runs: start
    with pytest.raises(ServiceAlreadyRunning) as refused:
        _refuse_if_running(LiveInstance(here, os.getpid(), beat), now)  # alive, here
    assert f"on {here} (pid {os.getpid()}, heartbeat 5 s ago)" in str(refused.value)
    assert "two would send every command twice" in str(refused.value)
    with pytest.raises(ServiceAlreadyRunning):
        _refuse_if_running(LiveInstance("another-host", 1, beat), now)  # can't tell: refuse
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # its pid is free now: a service killed here and restarted by systemd
    _refuse_if_running(LiveInstance(here, gone.pid, beat), now)
