"""The leadership of one service (service/lead.py) over a fake lease log and a fake monotonic
clock: it leads, renews, steps down when another took the lease or when it could not renew in
time, and says so (WARNING, fence, may_publish, describe)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from ipfm_scheduler.core.lease import Lease, LeaseTimes, Role
from ipfm_scheduler.core.records import LiveInstance
from ipfm_scheduler.errors import StorageError
from ipfm_scheduler.service.lead import Leadership, Turn, health
from ipfm_scheduler.storage.lease import Claim, Me

T0 = datetime(2026, 12, 5, 5, 50, tzinfo=UTC)
ME: Me = (7, "may-a", 101)


class FakeLeaseLog:
    def __init__(self) -> None:
        self.fence: int | None = None
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
        return [LiveInstance("may-a", 101, now, 7), LiveInstance("may-b", 202, now, 8)]


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
        "standby: may-b pid 202"
    )
