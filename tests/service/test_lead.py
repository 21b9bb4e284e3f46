"""The leadership of one service (service/lead.py) over a fake lease log and a fake monotonic
clock: it leads, renews, steps down when another took the lease or when it could not renew in
time, and says so (WARNING, fence, may_publish, describe)."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ipfm_scheduler.config.settings import HaSettings, StationConfig
from ipfm_scheduler.core.lease import Lease, LeaseTimes, Role
from ipfm_scheduler.core.records import LiveInstance
from ipfm_scheduler.errors import StorageError
from ipfm_scheduler.service.daemon import Daemon, Wiring
from ipfm_scheduler.service.lead import Leadership, Turn, health
from ipfm_scheduler.service.systemd import Notifier, Signals
from ipfm_scheduler.storage.lease import Claim, Me
from ipfm_scheduler.storage.memory import MemoryLog
from tests.service.e2e import wait_for
from tests.service.fake_mqtt import FakeOutbox
from tests.service.test_daemon import Configs, Manager

T0 = datetime(2026, 12, 5, 5, 50, tzinfo=UTC)
ME: Me = (7, "may-a", 101)


class FakeLeaseLog:
    def __init__(self) -> None:
        self.fence: int | None = None
        self.fence_idle_ms = 0
        self.holder: Me = ME
        self.epoch = 1
        self.fail: str | None = None
        self.released = False

    def claim_lease(self, me: Me, length: timedelta) -> Claim:
        if self.fail:
            raise StorageError(self.fail)
        lease = Lease(self.epoch, *self.holder, T0, T0 + length)
        return Claim(lease, self.holder[0] == me[0], changed=False)

    def release_lease(self, instance_id: int) -> bool:
        self.released = True
        return True

    def heartbeat(self, instance_id: int, now: datetime) -> None:
        pass

    def live_instances(self, now: datetime, within: timedelta) -> list[LiveInstance]:
        return [LiveInstance("may-a", 101, now, 7, started_at=T0),
                LiveInstance("may-b", 202, now, 8, started_at=T0)]  # fmt: skip


class Mono:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def rig() -> tuple[Leadership, FakeLeaseLog, Mono]:
    store, mono = FakeLeaseLog(), Mono()
    return Leadership(store, ME, LeaseTimes(10.0), monotonic=mono), store, mono


def test_it_leads_renews_and_steps_down_when_another_took_the_lease(rig, caplog) -> None:
    lead, store, mono = rig
    assert store.fence == 0  # nothing stored before it leads
    assert lead.look() is Turn.LEAD
    assert (store.fence, lead.role, lead.may_publish()) == (1, Role.LEADER, True)
    mono.t += 2
    assert lead.look() is Turn.NONE
    store.holder, store.epoch = (8, "may-b", 202), 2
    with caplog.at_level(logging.WARNING):
        assert lead.look() is Turn.STEP_DOWN
    assert "lost the lead to may-b (pid 202, epoch 2): stepping down" in caplog.text
    assert (store.fence, lead.role, lead.may_publish(), lead.leading) == (
        0, Role.STANDBY, False, False,
    )  # fmt: skip
    assert lead.look() is Turn.NONE  # still standby


def test_a_database_blip_keeps_the_lead_until_its_trust_runs_out(rig, caplog) -> None:
    lead, store, mono = rig
    assert lead.look() is Turn.LEAD
    store.fail = "connection refused"
    mono.t += 4.9  # trust: 0.5 x 10 s from the renewal
    assert lead.look() is Turn.NONE
    assert lead.may_publish()
    mono.t += 0.2
    assert not lead.may_publish()  # already: the sender publishes nothing more
    with caplog.at_level(logging.WARNING):
        assert lead.look() is Turn.STEP_DOWN
    assert "could not renew its lead in time (the database: connection refused)" in caplog.text


def test_a_paused_leader_publishes_nothing_when_it_resumes(rig) -> None:
    lead, _store, mono = rig
    lead.look()
    mono.t += 60  # SIGSTOP ... SIGCONT: the monotonic clock ran on
    assert not lead.may_publish()


def test_a_clean_stop_gives_the_lease_up(rig) -> None:
    lead, store, _mono = rig
    lead.look()
    lead.release()
    assert store.released
    assert store.fence == 0
    assert not lead.may_publish()


def test_health_names_the_leader_and_the_standby(rig) -> None:
    lead, _store, _mono = rig
    lead.look()
    lead.beat(T0)

    class Broker:
        last_error = None

        def is_connected(self) -> bool:
            return True

        def is_alive(self) -> bool:
            return True

    parts = health(None, None, Broker(), lead)
    ok, text = parts["lead"]
    assert ok
    assert text == (
        "leader: this instance may-a pid 101, epoch 1 since 2026-12-05T05:50:00Z; "
        "standby: may-b pid 202 since 2026-12-05T05:50:00Z"
    )


class SwitchingLease:
    """A lease this service holds until the test gives it to another (``other``)."""

    def __init__(self) -> None:
        self.fence: int | None = None
        self.fence_idle_ms = 0
        self.other = False
        self.epoch = 1
        self.released = False

    def claim_lease(self, me: Me, length: timedelta) -> Claim:
        holder = (99, "may-b", 202) if self.other else me
        return Claim(Lease(self.epoch, *holder, T0, T0 + length), not self.other)

    def release_lease(self, instance_id: int) -> bool:
        self.released = True
        return True

    def heartbeat(self, instance_id: int, now: datetime) -> None:
        pass

    def live_instances(self, now: datetime, within: timedelta) -> list[LiveInstance]:
        return []


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[Manager]:
    m = Manager(tmp_path / "notify.sock")
    yield m
    m.sock.close()


def test_the_daemon_leads_steps_down_and_says_so_to_systemd(
    manager: Manager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    configs = Configs()
    station = dataclasses.replace(configs.good.station, ha=HaSettings(takeover_s=2.0))
    configs.current = dataclasses.replace(configs.good, station=station)
    lease, outbox = SwitchingLease(), FakeOutbox()

    def connector(station: StationConfig) -> Wiring:
        return Wiring(MemoryLog(), outbox, lease_log=lease)  # type: ignore[arg-type]

    daemon = Daemon(
        Path("config/ipfm.yaml"), loader=configs, connector=connector,
        notifier=Notifier(manager.path), signals=Signals(),
    )  # fmt: skip
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    try:
        assert "STATUS=airing for 1 ward(s), 2 receiver(s)" in manager.expect("READY=1")[-1]
        assert lease.fence == 1
        lease.other, lease.epoch = True, 2
        manager.expect("STATUS=standby for 1 ward(s): another service leads")
        assert lease.fence == 0
        wiring = Wiring(MemoryLog(), outbox)
        standby = (True, "standby: no job runs")
        wait_for(lambda: daemon.health(wiring, None)["scheduler"] == standby, 10, "jobs stopped")
        manager.expect("WATCHDOG=1")  # a healthy standby feeds the watchdog
        lease.other, lease.epoch = False, 3
        manager.expect("STATUS=airing for 1 ward(s), 2 receiver(s)")
        assert lease.fence == 3
    finally:
        daemon.signals.request_stop()
        thread.join(10)
    assert lease.released  # a clean stop gives the lead up
