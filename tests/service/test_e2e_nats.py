"""Issue 18's "Done when", end to end on a 3-node NATS JetStream cluster (tests/nats.py): the
dispatcher with its real adapters (SQLite airing log, MQTT outbox) on node 1, simulated
receivers on nodes 2 and 3, each side given the list of nodes. A slot dispatched and confirmed;
node 2 killed (SIGKILL) just after a slot's commands went out: its boxes move to node 3, every
command is played once and its final answer recorded; node 2 restarted rejoins and carries the
next slot. On a fresh cluster, node 1, the service's, killed: the service moves on and the next
slot is confirmed. Two clusters, not one: a node killed soon after another was restarted left
consumers without a quorum (nats-server 2.9.10: "has NO quorum, stalled"; docs/deployment.md).
The clock is a manual one shared by the service and the simulators; waits are on events and
polls with timeouts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from ipfm_scheduler.config.settings import MqttSettings
from ipfm_scheduler.core.commands import CommandState
from ipfm_scheduler.core.model import Receiver, Ward, Window
from ipfm_scheduler.storage import tables as t
from tests.brokers import settings_over
from tests.core.factories import ALL_DAYS, hm, ward, weekly
from tests.nats import NatsCluster
from tests.service.e2e import LiveRig
from tests.service.helpers import MONDAY, local

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]

PREFIX = "ipfm-nats"
MORNING = (Window(ALL_DAYS, hm("05:30"), hm("07:30")),)
SLOTS = ("06:00", "06:10", "06:20", "06:30")
WARDS_PER_SLOT, BOXES = 2, 6  # 12 receivers a slot, 48 in all: half on node 2, half on node 3


def over(cluster: NatsCluster, *nodes: int) -> MqttSettings:
    """The nodes' MQTT listeners, tried in this order."""
    return settings_over([cluster.mqtt_port(n) for n in nodes], topic_prefix=PREFIX)


def slot_wards() -> list[Ward]:
    boxes = tuple(Receiver(f"loa-{i:02d}") for i in range(1, BOXES + 1))
    return [
        ward(weekly("mon", at), windows=MORNING, receivers=boxes, wid=f"w{slot}-{i}")
        for slot, at in enumerate(SLOTS)
        for i in range(WARDS_PER_SLOT)
    ]


def confirm(rig: LiveRig, count: int, sent_at: datetime, what: str) -> None:
    """Move the clock 31 s at a time (the service sends an unanswered command again after
    30 s), up to 4 times, until ``count`` commands are completed."""
    confirmed = rig.all_in(CommandState.COMPLETED, count)
    for resend in range(1, 5):
        rig.at(sent_at + timedelta(seconds=31 * resend))
        if rig.settle(confirmed, 12):
            return
    rig.pump(confirmed, what, 1)


def first_slot(rig: LiveRig, per_slot: int) -> None:
    """The first slot confirmed. A command may go unanswered on a cluster just started (seen
    once in a CI dry run: 10 of 12 completed, 2 sent and unanswered with the clock held still;
    not confirmed why, likely a subscription a node refused for a moment, which the transport
    asks for again): as in production, the service sends it again after resend_after."""
    if not rig.settle(rig.all_in(CommandState.COMPLETED, per_slot), 30):
        confirm(rig, per_slot, local(MONDAY, "05:58:30"), "slot 1 confirmed")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    nats = NatsCluster(tmp_path)
    nats.start()
    yield nats
    nats.stop()


def rig_on(tmp_path: Path, cluster: NatsCluster) -> LiveRig:
    """The service on node 1 (then 2, then 3)."""
    return LiveRig(
        tmp_path,
        "127.0.0.1",
        cluster.mqtt_port(1),
        PREFIX,
        slot_wards(),
        local(MONDAY, "05:58:30"),
        settings=over(cluster, 1, 2, 3),
    )


def check_answers(rig: LiveRig, slots: int) -> None:
    """Every receiver of the first ``slots`` slots played once; every command's final answer
    recorded, and no answer twice (a `received` or `playing` lost with a node may stay lost:
    the service's session is clean, docs/deployment.md "Sessions")."""
    per_slot = WARDS_PER_SLOT * BOXES
    assert sum(rig.plays.plays.values()) == slots * per_slot
    assert set(rig.plays.plays.values()) == {1}, "a receiver played twice"
    with rig.engine.connect() as conn:
        answers = Counter(
            (row.command_id, row.status)
            for row in conn.execute(select(t.acks.c.command_id, t.acks.c.status))
        )
    assert set(answers.values()) == {1}
    assert sum(1 for _cid, status in answers if status == "completed") == slots * per_slot


def test_the_boxes_of_a_node_killed_mid_slot_move_and_the_node_rejoins(
    tmp_path: Path, cluster: NatsCluster
) -> None:
    rig = rig_on(tmp_path, cluster)
    try:
        pairs = rig.pairs()
        on_2, on_3 = pairs[0::2], pairs[1::2]
        sim_2 = rig.simulate(on_2, settings=over(cluster, 2, 3))
        rig.simulate(on_3, settings=over(cluster, 3, 2))
        per_slot = WARDS_PER_SLOT * BOXES

        # slot 1: dispatched and confirmed across the cluster
        first_slot(rig, per_slot)

        # slot 2: the commands go out, and node 2 dies at once (SIGKILL), the answers of its
        # boxes on their way
        rig.at(local(MONDAY, "06:08:10"))
        rig.tick()
        cluster.kill(2)
        assert sim_2.transport.wait_disconnected(30)
        assert sim_2.transport.wait_connected(30), sim_2.transport.last_error
        assert sim_2.transport.address == f"127.0.0.1:{cluster.mqtt_port(3)}"
        # what did not reach node 2's boxes is sent again after resend_after (30 s), and again
        # 30 s later while unanswered (node 3 may refuse the moved boxes' subscription for a
        # few seconds, while JetStream elects new leaders: the transport asks again)
        confirm(rig, 2 * per_slot, local(MONDAY, "06:08:10"), "slot 2 confirmed")

        # node 2 rejoins, and a slot goes through the three nodes, a box on node 2 again
        cluster.start_node(2)
        sim_2.stop()  # its boxes come back on node 2
        rig.sims.remove(sim_2)
        rig.simulate(on_2, settings=over(cluster, 2, 3))
        rig.at(local(MONDAY, "06:18:10"))
        if not rig.settle(rig.all_in(CommandState.COMPLETED, 3 * per_slot), 15):
            confirm(rig, 3 * per_slot, local(MONDAY, "06:18:10"), "slot 3 confirmed")
        check_answers(rig, 3)
    finally:
        rig.close()


def test_the_service_moves_when_its_node_is_killed(tmp_path: Path, cluster: NatsCluster) -> None:
    rig = rig_on(tmp_path, cluster)
    try:
        pairs = rig.pairs()
        rig.simulate(pairs[0::2], settings=over(cluster, 2, 3))
        rig.simulate(pairs[1::2], settings=over(cluster, 3, 2))
        per_slot = WARDS_PER_SLOT * BOXES
        first_slot(rig, per_slot)

        service = rig.outbox.transport
        assert service.address == f"127.0.0.1:{cluster.mqtt_port(1)}"
        cluster.kill(1)
        assert service.wait_disconnected(30)
        assert service.wait_connected(30), service.last_error
        assert service.address != f"127.0.0.1:{cluster.mqtt_port(1)}"
        rig.at(local(MONDAY, "06:08:10"))
        if not rig.settle(rig.all_in(CommandState.COMPLETED, 2 * per_slot), 15):
            confirm(rig, 2 * per_slot, local(MONDAY, "06:08:10"), "slot 2 confirmed")
        check_answers(rig, 2)
    finally:
        rig.close()
