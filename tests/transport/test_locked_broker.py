"""The broker broker-config writes, run by a private mosquitto over TLS: nobody gets in without
a user and password, and a receiver's credentials reach its own topics only (it can neither
answer for another receiver nor read another's commands, nor command one)."""

from __future__ import annotations

import queue
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipfm_scheduler import protocol
from ipfm_scheduler.config.settings import MqttSettings
from ipfm_scheduler.errors import BrokerUnavailable
from ipfm_scheduler.protocol.topics import topic_for
from ipfm_scheduler.transport.mqtt import Incoming, MqttTransport
from tests.service.e2e import wait_for
from tests.transport.locked import WARD, Locked, broker_config, lock

pytestmark = [pytest.mark.mqtt, pytest.mark.usefixtures("ffmpeg")]  # the station is probed
WAIT = 10.0
MINE, OTHER = "loa-01", "loa-02"


@pytest.fixture
def locked(
    tmp_path: Path, topic_prefix: str, capsys: pytest.CaptureFixture[str]
) -> Iterator[Locked]:
    made = lock(tmp_path, topic_prefix, capsys)
    yield made
    made.broker.stop()


class Client:
    """One connection, every message it receives in a queue."""

    def __init__(self, settings: MqttSettings, *filters: str) -> None:
        self.heard: queue.SimpleQueue[Incoming] = queue.SimpleQueue()
        self.transport = MqttTransport(settings, filters, on_message=self.heard.put)
        self.transport.connect(WAIT)

    def send(self, topic: str, payload: bytes) -> None:
        self.transport.publish(topic, payload, token=topic, timeout=WAIT)
        assert self.transport.flush(WAIT)

    def heard_until(self, marker: bytes) -> list[tuple[str, bytes]]:
        """Every message up to ``marker`` (which proves whatever came before it has arrived)."""
        got: list[tuple[str, bytes]] = []
        while True:
            message = self.heard.get(timeout=WAIT)
            if message.payload == marker:
                return got
            got.append((message.topic, message.payload))


@pytest.fixture
def clients(locked: Locked) -> Iterator[list[Client]]:
    made: list[Client] = []
    yield made
    for client in made:
        client.transport.close(1)


def topic(locked: Locked, receiver: str, kind: protocol.TopicKind) -> str:
    return topic_for(locked.prefix, WARD, receiver, kind)


def test_a_client_without_its_password_is_refused(locked: Locked) -> None:
    attempts = {
        "anonymous": locked.settings(None),
        "a wrong password": locked.settings(f"{WARD}.{MINE}", "not-the-password"),
        "a receiver's password as the service": locked.settings(
            "ipfm-scheduler", locked.password(f"{WARD}.{MINE}")
        ),
    }
    for what, settings in attempts.items():
        transport = MqttTransport(settings, reconnect_min_s=0.2, reconnect_max_s=0.5)
        try:
            with pytest.raises(BrokerUnavailable, match="refused the connection: Not authorized"):
                transport.connect(3.0)
        finally:
            transport.close(1)
        assert not transport.connected, what


def test_the_listener_speaks_tls_only(locked: Locked) -> None:
    plain = MqttSettings(
        host="127.0.0.1", port=locked.broker.port, username="ipfm-scheduler",
        password=locked.password("ipfm-scheduler"),
    )  # fmt: skip
    transport = MqttTransport(plain, reconnect_min_s=0.2, reconnect_max_s=0.5)
    try:
        with pytest.raises(BrokerUnavailable):
            transport.connect(3.0)
    finally:
        transport.close(1)


def test_a_receiver_cannot_answer_for_another_nor_command_one(
    locked: Locked, clients: list[Client]
) -> None:
    service = Client(locked.settings("ipfm-scheduler"), *protocol.scheduler_filters(locked.prefix))
    other = Client(locked.settings(f"{WARD}.{OTHER}"), topic(locked, OTHER, protocol.TopicKind.CMD))
    mine = Client(locked.settings(f"{WARD}.{MINE}"))
    clients += [service, other, mine]
    forged = [
        (topic(locked, OTHER, protocol.TopicKind.ACK), b'{"forged": "completed"}'),
        (topic(locked, OTHER, protocol.TopicKind.STATUS), b'{"forged": "offline"}'),
        (topic(locked, OTHER, protocol.TopicKind.CMD), b'{"forged": "play"}'),
    ]
    for where, payload in forged:
        mine.send(where, payload)  # the broker takes it (PUBACK) and passes it to nobody
    mine.send(topic(locked, MINE, protocol.TopicKind.ACK), b"marker")
    own_ack = service.heard_until(b"marker")
    assert own_ack == [], "a receiver's forgery reached the service"
    service.send(topic(locked, OTHER, protocol.TopicKind.CMD), b"marker")
    assert other.heard_until(b"marker") == [], "a receiver commanded another"
    # the receiver's own answer does arrive (the marker above was its ack)
    mine.send(topic(locked, MINE, protocol.TopicKind.STATUS), b"own status")
    mine.send(topic(locked, MINE, protocol.TopicKind.ACK), b"marker")
    assert service.heard_until(b"marker") == [
        (topic(locked, MINE, protocol.TopicKind.STATUS), b"own status")
    ]


def test_a_receiver_cannot_read_another_receivers_commands(
    locked: Locked, clients: list[Client]
) -> None:
    service = Client(locked.settings("ipfm-scheduler"))
    # it asks for every command topic and another box's by name: only its own is delivered
    mine = Client(
        locked.settings(f"{WARD}.{MINE}"),
        protocol.receivers_filter(locked.prefix),
        topic(locked, OTHER, protocol.TopicKind.CMD),
        topic(locked, MINE, protocol.TopicKind.CMD),
    )
    clients += [service, mine]
    service.send(topic(locked, OTHER, protocol.TopicKind.CMD), b"for the other box")
    service.send(topic(locked, "loa-03", protocol.TopicKind.CMD), b"for a third box")
    service.send(topic(locked, MINE, protocol.TopicKind.CMD), b"mine")
    service.send(topic(locked, MINE, protocol.TopicKind.CMD), b"marker")
    heard = mine.heard_until(b"marker")
    assert [payload for _, payload in heard] == [b"mine"]


def connects(settings: MqttSettings) -> bool:
    transport = MqttTransport(settings, reconnect_min_s=0.2, reconnect_max_s=0.5)
    try:
        transport.connect(3.0)
    except BrokerUnavailable:
        return False
    finally:
        transport.close(1)
    return True


def test_a_rotated_password_takes_effect_when_mosquitto_reloads(
    locked: Locked, capsys: pytest.CaptureFixture[str], clients: list[Client]
) -> None:
    user = f"{WARD}.{MINE}"
    old = locked.password(user)
    rotated = Client(locked.settings(user, old))
    other = Client(locked.settings(f"{WARD}.{OTHER}"), topic(locked, OTHER, protocol.TopicKind.CMD))
    clients += [rotated, other]
    code, _, err = broker_config(
        capsys, locked.station, "-o", str(locked.out), "--rotate", user, "--port",
        str(locked.broker.port), "--bind", "127.0.0.1", "--cafile", str(locked.certs["ca.crt"]),
        "--certfile", str(locked.certs["server.crt"]), "--keyfile", str(locked.certs["server.key"]),
    )  # fmt: skip
    assert code == 0, err
    new = locked.password(user)
    assert new != old
    assert connects(locked.settings(user, old))  # mosquitto has not read the new file yet
    assert locked.broker.process is not None
    locked.broker.process.send_signal(signal.SIGHUP)  # what `systemctl reload mosquitto` sends
    wait_for(lambda: connects(locked.settings(user, new)), WAIT, "the new password to work")
    assert not connects(locked.settings(user, old))
    assert connects(locked.settings(f"{WARD}.{OTHER}"))  # the others keep theirs
    # the reload dropped the connection made with the old password; the other box's stayed
    assert rotated.transport.wait_disconnected(WAIT)
    assert rotated.transport.connections == 1
    service = Client(locked.settings("ipfm-scheduler"))
    clients.append(service)
    service.send(topic(locked, OTHER, protocol.TopicKind.CMD), b"after the reload")
    service.send(topic(locked, OTHER, protocol.TopicKind.CMD), b"marker")
    assert other.heard_until(b"marker") == [
        (topic(locked, OTHER, protocol.TopicKind.CMD), b"after the reload")
    ]
    assert other.transport.connections == 1  # the same connection throughout
