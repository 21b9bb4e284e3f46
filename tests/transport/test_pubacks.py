"""transport/pubacks.py: paho hands an MQTT 3.1.1 PUBACK to ``on_publish`` without its general
decoding, with the same values paho gives, and leaves everything else to paho's own handler.

Packets go through paho's own dispatch (``_packet_handle``) of a real client; then the
transport against the real mosquitto takes every PUBACK of a burst through the new handler.
"""

from __future__ import annotations

from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes

from ipfm_scheduler.protocol import scheduler_filters
from ipfm_scheduler.transport.mqtt import MqttTransport
from ipfm_scheduler.transport.pubacks import fast_pubacks
from tests.brokers import PrivateBroker, settings_over

WAIT = 10.0
PUBACK, PUBCOMP = 0x40, 0x70


def client_with(protocol: int = paho.MQTTv311) -> tuple[paho.Client, list[tuple[Any, ...]]]:
    """A client (paho's own handler until a test installs ours), whose ``on_publish`` calls are
    listed."""
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=protocol)
    calls: list[tuple[Any, ...]] = []
    client.on_publish = lambda _c, _u, mid, reason, properties: calls.append(
        (mid, reason, properties)
    )
    return client, calls


def outstanding(client: paho.Client) -> int:
    """A QoS 1 publish paho holds, awaiting its PUBACK (no connection: it stays queued)."""
    info = client.publish("ipfm/w/r/cmd", b"x", qos=1)
    assert info.mid in client._out_messages
    return info.mid


def handle(client: paho.Client, command: int, packet: bytes) -> MQTTErrorCode:
    """``packet`` as paho's reader leaves it, through paho's own dispatch."""
    client._in_packet["command"] = command
    client._in_packet["packet"] = packet
    client._in_packet["remaining_length"] = len(packet)
    result: MQTTErrorCode = client._packet_handle()
    return result


def test_a_puback_reaches_on_publish_with_what_paho_would_give() -> None:
    client, calls = client_with()
    plain, plain_calls = client_with()  # paho's own handler, for comparison
    assert fast_pubacks(client, paho)
    first, second = outstanding(client), outstanding(client)
    assert handle(client, PUBACK, second.to_bytes(2, "big")) is MQTTErrorCode.MQTT_ERR_SUCCESS
    assert [mid for mid, _r, _p in calls] == [second]
    assert second not in client._out_messages
    assert first in client._out_messages

    mid = outstanding(plain)
    assert handle(plain, PUBACK, mid.to_bytes(2, "big")) is MQTTErrorCode.MQTT_ERR_SUCCESS
    (_mid, expected_reason, expected_properties) = plain_calls[0]
    _mid, reason, properties = calls[0]
    assert reason == expected_reason
    assert not reason.is_failure
    assert properties.packetType == expected_properties.packetType == PacketTypes.PUBACK
    assert properties.json() == expected_properties.json() == {}


def test_a_puback_for_a_message_paho_no_longer_holds_is_not_reported() -> None:
    client, calls = client_with()
    fast_pubacks(client, paho)
    mid = outstanding(client)
    handle(client, PUBACK, mid.to_bytes(2, "big"))
    assert handle(client, PUBACK, mid.to_bytes(2, "big")) is MQTTErrorCode.MQTT_ERR_SUCCESS
    assert handle(client, PUBACK, (mid + 7).to_bytes(2, "big")) is MQTTErrorCode.MQTT_ERR_SUCCESS
    assert [m for m, _r, _p in calls] == [mid]


def outcome(client: paho.Client, packet: bytes) -> object:
    """What paho's dispatch does with a PUBACK ``packet``: its result, or the error's type."""
    try:
        return handle(client, PUBACK, packet)
    except Exception as exc:  # paho 2.2 raises MalformedPacket, 2.1 returns an error code
        return type(exc)


def test_a_puback_of_another_size_meets_pahos_own_checks() -> None:
    client, calls = client_with()
    plain, _plain_calls = client_with()
    fast_pubacks(client, paho)
    mid = outstanding(client)
    outstanding(plain)
    for packet in (mid.to_bytes(2, "big") + b"\x00", b"\x01"):
        found = outcome(client, packet)
        assert found == outcome(plain, packet)
        assert found is not MQTTErrorCode.MQTT_ERR_SUCCESS
    assert calls == []
    assert mid in client._out_messages


def test_a_pubcomp_goes_to_pahos_handler() -> None:
    client, calls = client_with()
    fast_pubacks(client, paho)
    mid = client.publish("ipfm/w/r/cmd", b"x", qos=2).mid
    assert handle(client, PUBCOMP, mid.to_bytes(2, "big")) is MQTTErrorCode.MQTT_ERR_SUCCESS
    assert [m for m, _r, _p in calls] == [mid]


def test_mqtt_5_keeps_pahos_handler() -> None:
    client, _calls = client_with(paho.MQTTv5)
    own = client._handle_pubackcomp
    assert not fast_pubacks(client, paho)
    assert client._handle_pubackcomp == own


def test_a_paho_without_what_the_handler_uses_keeps_its_own() -> None:
    class Bare:
        _protocol = paho.MQTTv311

    assert not fast_pubacks(Bare(), paho)


@pytest.mark.mqtt
def test_the_transports_pubacks_all_come_through_the_handler(
    private_broker: PrivateBroker,
) -> None:
    settings = settings_over([private_broker.port])
    scheduler = MqttTransport(settings, scheduler_filters("ipfm"))
    try:
        assert scheduler._client._handle_pubackcomp.__name__ == "handle_pubackcomp"
        scheduler.connect(WAIT)
        for i in range(2000):
            scheduler.publish(f"ipfm/w/r{i}/cmd", b"x", token=i)
        assert scheduler.flush(WAIT)
        tokens = {scheduler.delivered.get(timeout=WAIT).token for _ in range(2000)}
        assert tokens == set(range(2000))
        assert scheduler._client._out_messages == {}
    finally:
        scheduler.close(1)
