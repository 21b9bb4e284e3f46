"""A reload reads the configuration on a thread of its own (service/agenda.py ``Reloads``): while
a slow load goes on (100,000 receivers' keys), the watchdog is still fed and the timer still runs
its jobs with the plan in force; the new plan is swapped in when the load ends, whole."""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

from ipfm_scheduler.config.settings import LoadedConfig
from ipfm_scheduler.service.daemon import Daemon
from ipfm_scheduler.storage.memory import MemoryLog
from tests.service.fake_mqtt import FakeOutbox
from tests.service.test_daemon import Configs, Manager, manager, rig, start

__all__ = ["manager", "rig"]  # fixtures


class Held:
    """A loader that, once ``hold`` is set, waits in the load until the test lets it go."""

    def __init__(self, configs: Configs) -> None:
        self.configs = configs
        self.hold = False
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, path: Path, today: date) -> LoadedConfig:
        if self.hold:
            self.entered.set()
            assert self.release.wait(10.0)
        return self.configs(path, today)


def started(
    daemon: Daemon, configs: Configs, manager: Manager
) -> tuple[Held, threading.Thread, list[int]]:
    """The daemon running (READY) with a :class:`Held` loader; ``start``'s thread and result."""
    held = Held(configs)
    daemon.loader = held
    thread, result = start(daemon)
    manager.expect("READY=1")
    return held, thread, result


def test_the_watchdog_is_fed_and_the_timer_runs_while_a_reload_reads(
    rig: tuple[Daemon, Configs, MemoryLog, FakeOutbox], manager: Manager
) -> None:
    daemon, configs, airing_log, _ = rig
    held = started(daemon, configs, manager)[0]
    assert daemon._term is not None
    timer = daemon._term[1]
    held.hold = True
    configs.current = configs.other
    daemon.signals.request_reload()
    manager.expect("RELOADING=1")
    assert held.entered.wait(10.0)
    manager.drain()
    manager.expect("WATCHDOG=1")  # fed every 0.1 s: the main loop is not held by the load
    manager.expect("WATCHDOG=1")
    fed = threading.Event()
    timer.run_soon("probe", fed.set)  # the timer's worker is free to run a job
    assert fed.wait(10.0)
    assert daemon.service is not None
    assert daemon.service.dispatcher.plan.schedule is configs.good.schedule  # still in force
    assert len(airing_log.configs) == 1
    held.release.set()
    seen = manager.expect("READY=1")
    assert "STATUS=configuration reloaded" in seen[-1]
    assert daemon.service.dispatcher.plan.schedule is configs.other.schedule
    assert len(airing_log.configs) == 2


def test_a_sighup_during_a_reload_reloads_again_after_it(
    rig: tuple[Daemon, Configs, MemoryLog, FakeOutbox], manager: Manager
) -> None:
    daemon, configs, _, _ = rig
    held = started(daemon, configs, manager)[0]
    held.hold = True
    daemon.signals.request_reload()
    assert held.entered.wait(10.0)
    configs.current = configs.other
    daemon.signals.request_reload()  # while the first one reads
    held.hold = False
    held.release.set()
    manager.expect("READY=1")  # the first
    manager.expect("RELOADING=1")  # then the second: it reads the edit made meanwhile
    assert "STATUS=configuration reloaded" in manager.expect("READY=1")[-1]
    assert daemon.service is not None
    assert daemon.service.dispatcher.plan.schedule is configs.other.schedule


def test_a_stop_during_a_reload_swaps_nothing_in_and_stops_cleanly(
    rig: tuple[Daemon, Configs, MemoryLog, FakeOutbox], manager: Manager
) -> None:
    daemon, configs, airing_log, _ = rig
    held, thread, result = started(daemon, configs, manager)
    held.hold = True
    configs.current = configs.other
    daemon.signals.request_reload()
    assert held.entered.wait(10.0)
    daemon.signals.request_stop()
    manager.expect("STOPPING=1")
    held.release.set()
    thread.join(10.0)
    assert result == [0]
    assert len(airing_log.configs) == 1  # the new configuration was not recorded
    assert daemon.plan.schedule is configs.good.schedule
