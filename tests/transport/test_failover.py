"""A list of brokers in ``mqtt.url``: the transport moves to the next one when its broker dies,
on a 3-node NATS JetStream cluster (tests/nats.py) and on a pair of mosquitto brokers bridged
to each other. A QoS 1 publish still awaiting its PUBACK when the broker died is sent again on
the next node by paho (DUP). No sleeps: events and polls with timeouts."""

from __future__ import annotations

import contextlib
import queue
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ipfm_scheduler.errors import BrokerUnavailable
from ipfm_scheduler.transport.mqtt import MqttTransport
from tests.brokers import PrivateBroker, settings_over
from tests.nats import NatsCluster

pytestmark = [pytest.mark.mqtt, pytest.mark.slow]
WAIT = 15.0
ELECTION_WAIT = 40.0
TOPIC = "ipfm-failover/ward-00/loa-01/cmd"


@pytest.fixture
def made() -> Iterator[list[MqttTransport]]:
    transports: list[MqttTransport] = []
    yield transports
    for transport in transports:
        transport.close(timeout=1)


def transport(made: list[MqttTransport], ports: list[int], *subs: str) -> MqttTransport:
    """A connection of its own (its own client id: two clients that meet on one broker after a
    move must not take each other's session)."""
    settings = settings_over(ports, client_id=f"ipfm-failover-{len(made)}")
    t = MqttTransport(settings, subs, reconnect_min_s=0.2, reconnect_max_s=1.0)
    made.append(t)
    t.connect(WAIT)
    return t


def payloads(q: queue.SimpleQueue[Any], count: int) -> list[bytes]:
    return [q.get(timeout=WAIT).payload for _ in range(count)]


def heard(service: MqttTransport, payload: bytes, *boxes: MqttTransport) -> None:
    """Publish ``payload`` every 2 s (at most 10 times) until every box got it."""
    waiting = list(boxes)
    for _ in range(10):
        with contextlib.suppress(BrokerUnavailable):  # between two connections: the next try
            service.publish(TOPIC, payload)
        for box in list(waiting):
            try:
                while box.incoming.get(timeout=2).payload != payload:
                    pass
                waiting.remove(box)
            except queue.Empty:
                pass
        if not waiting:
            return
    raise AssertionError(f"{payload!r} not heard by {len(waiting)} box(es) in 10 tries")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    nats = NatsCluster(tmp_path)
    nats.start()
    yield nats
    nats.stop()


def test_both_ends_move_to_the_next_node_and_a_restarted_node_rejoins(
    cluster: NatsCluster, made: list[MqttTransport]
) -> None:
    ports = [cluster.mqtt_port(n) for n in (1, 2, 3)]
    service = transport(made, ports)
    box = transport(made, [ports[1], ports[2]], TOPIC)
    service.publish(TOPIC, b"one")
    assert payloads(box.incoming, 1) == [b"one"]

    cluster.kill(2)  # the box's node
    assert box.wait_disconnected(WAIT)
    # node 3 may drop the box's first connections, and refuse its subscription, while the
    # cluster elects new leaders: seen lasting more than 15 s on this 2-core machine under load
    assert box.wait_connected(ELECTION_WAIT), box.last_error
    assert box.address == f"127.0.0.1:{ports[2]}"
    # sent again until heard, as the service's outbox does: a node refuses subscriptions for a
    # few seconds after another died, and the box's clean session misses what came meanwhile
    heard(service, b"two", box)

    # node 2 comes back and rejoins: a box on it hears the service on node 1
    cluster.start_node(2)
    late = transport(made, [ports[1]], TOPIC)
    heard(service, b"three", late, box)


def test_the_service_moves_to_the_bridged_mosquitto_when_its_own_dies(
    tmp_path: Path, made: list[MqttTransport]
) -> None:
    first = PrivateBroker(tmp_path)
    first.start()
    bridge = (
        f"connection to-first\naddress 127.0.0.1:{first.port}\n"
        "topic ipfm-failover/# both 1\ncleansession true\nrestart_timeout 1\n"
    )
    second = PrivateBroker(tmp_path, extra=bridge)
    second.start()
    try:
        service = transport(made, [first.port, second.port])
        box = transport(made, [second.port, first.port], TOPIC)
        # the bridge is up once a message crosses it (published again until one does: a
        # message published before the bridge has subscribed on the first broker is not carried)
        heard(service, b"one", box)

        first.kill()
        assert service.wait_disconnected(WAIT)
        assert service.wait_connected(WAIT), service.last_error
        assert service.address == f"127.0.0.1:{second.port}"
        service.publish(TOPIC, b"two")
        assert payloads(box.incoming, 1) == [b"two"]
        assert box.connections == 1  # the box's broker never went away
    finally:
        second.stop()
        first.stop()
