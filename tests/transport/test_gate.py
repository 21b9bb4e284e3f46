"""The publish gate (transport/window.py ``GatedPackets``): while it is closed, paho's network
thread drops every PUBLISH it has not begun to write, paho forgets it (no resend after a
reconnect) and the window frees its place; other packets, and a PUBLISH half written, go on."""

from __future__ import annotations

import queue
import threading

import pytest

from ipfm_scheduler.protocol import cmd_topic
from ipfm_scheduler.transport.mqtt import MqttTransport
from ipfm_scheduler.transport.window import (
    JOIN_BYTES,
    PUBACK,
    PUBLISH,
    GatedPackets,
    PublishWindow,
)
from tests.transport.test_mqtt import WAIT, settings_for


def packet(command: int, mid: int, pos: int = 0, qos: int = 1) -> dict[str, object]:
    body = bytes([command]) + mid.to_bytes(2, "big")
    return {"command": command, "mid": mid, "pos": pos, "qos": qos, "packet": body}


def test_a_closed_gate_drops_publishes_not_begun_and_nothing_else() -> None:
    is_open = [False]
    dropped: list[int] = []
    packets = GatedPackets(lambda: is_open[0], dropped.append)
    packets.extend([packet(PUBLISH | 2, 1), packet(0xC0, 0), packet(PUBLISH | 2, 2, pos=5),
                    packet(PUBLISH | 2, 3)])  # fmt: skip
    assert packets.popleft()["command"] == 0xC0  # PINGREQ: written
    assert packets.popleft()["mid"] == 2  # half written: finished, or the stream breaks
    with pytest.raises(IndexError):
        packets.popleft()
    assert dropped == [1, 3]
    is_open[0] = True
    packets.append(packet(PUBLISH | 2, 4))
    assert packets.popleft()["mid"] == 4


def test_packets_paho_forgets_once_written_are_handed_to_it_joined() -> None:
    """QoS 1 PUBLISHes and PUBACKs in a row become one packet (their bytes in order, one
    ``send``), which paho takes for a PUBACK (nothing to do after writing it); any other packet
    ends the run and comes next, whole; a publish dropped by the gate is not among the bytes."""
    is_open = [True]
    dropped: list[int] = []
    packets = GatedPackets(lambda: is_open[0], dropped.append)
    run = [packet(PUBLISH | 2, 1), packet(PUBACK, 7, qos=0), packet(PUBLISH | 2, 2)]
    others = [packet(0xC0, 0), packet(PUBLISH, 3, qos=0), packet(0x82, 4), packet(0xE0, 0)]
    packets.extend([*run, *others, packet(PUBLISH | 2, 5), packet(PUBLISH | 2, 6, pos=1)])
    joined = packets.popleft()
    assert joined["packet"] == b"".join(p["packet"] for p in run)  # type: ignore[misc]
    assert (joined["command"], joined["pos"], joined["qos"]) == (PUBACK, 0, 0)
    assert joined["to_process"] == len(joined["packet"])
    for other in others:  # PINGREQ, a QoS 0 PUBLISH, SUBSCRIBE, DISCONNECT: each on its own
        assert packets.popleft() is other
    assert packets.popleft()["mid"] == 5  # alone before a packet begun: as it was
    assert packets.popleft()["pos"] == 1
    is_open[0] = False
    packets.extend([packet(PUBACK, 8, qos=0), packet(PUBLISH | 2, 9), packet(PUBACK, 10, qos=0)])
    joined = packets.popleft()
    assert joined["packet"] == packet(PUBACK, 8)["packet"] + packet(PUBACK, 10)["packet"]
    assert dropped == [9]


def test_a_joined_packet_begun_before_the_gate_closed_finishes_only_its_part_begun() -> None:
    """A leader paused in the middle of writing a joined packet: when it resumes, no longer
    leading, the PUBLISH it had begun is finished (the stream needs it whole) and the PUBLISHes
    after it are dropped, not written; the PUBACKs among them still go."""
    is_open = [True]
    dropped: list[int] = []
    packets = GatedPackets(lambda: is_open[0], dropped.append)
    run = [packet(PUBLISH | 2, 1), packet(PUBLISH | 2, 2), packet(PUBACK, 7, qos=0),
           packet(PUBLISH | 2, 3)]  # fmt: skip
    packets.extend(run)
    joined = packets.popleft()
    joined["pos"] = 4  # paho wrote the first PUBLISH (3 bytes) and 1 byte of the second
    joined["to_process"] -= 4
    packets.appendleft(joined)  # as paho does with a packet not written whole
    is_open[0] = False
    rest = packets.popleft()
    parts = [p["packet"] for p in run[:3]]
    assert rest["packet"] == b"".join(parts)  # type: ignore[misc]
    assert rest["pos"] == 4
    assert rest["to_process"] == len(b"".join(parts)) - 4  # type: ignore[misc]
    assert dropped == [3]
    with pytest.raises(IndexError):
        packets.popleft()
    is_open[0] = True  # open again (say, the lead taken back): what is begun is as it was
    packets.appendleft(rest)
    assert packets.popleft() is rest


def test_a_join_stops_at_its_size() -> None:
    packets = GatedPackets(lambda: True, lambda mid: None)
    big = {"command": PUBLISH | 2, "mid": 1, "pos": 0, "qos": 1, "packet": b"x" * 40_000}
    packets.extend([big, dict(big, mid=2), dict(big, mid=3)])
    assert len(packets.popleft()["packet"]) == 80_000  # past JOIN_BYTES: the next waits
    assert packets.popleft()["mid"] == 3
    assert 40_000 < JOIN_BYTES < 80_000


def test_the_window_frees_the_place_of_a_dropped_publish_whenever_it_is_recorded() -> None:
    window = PublishWindow(2)
    for _ in range(2):
        assert window.reserve("t", 0, lambda: True)
    window.sent(7, "t", "a")
    window.forget(7)  # dropped after the publisher recorded it
    window.forget(8)  # dropped before the publisher recorded it...
    assert not window.sent(8, "t", "b")  # ...no PUBACK reported for it
    assert window.outstanding == 0


@pytest.mark.mqtt
def test_nothing_reaches_the_broker_while_the_gate_is_closed(
    mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    topic = cmd_topic(topic_prefix, "cam-trung", "loa-01")
    heard: queue.SimpleQueue[bytes] = queue.SimpleQueue()
    listener = MqttTransport(settings_for(*mqtt_broker), (topic,),
                             on_message=lambda m: heard.put(m.payload))  # fmt: skip
    sender = MqttTransport(settings_for(*mqtt_broker))
    try:
        listener.connect(WAIT)
        sender.connect(WAIT)
        sender.gate = lambda: False  # this service no longer leads
        for n in range(50):
            sender.publish(topic, b"late %d" % n, token=n)
        freed = threading.Event()
        threading.Thread(target=lambda: sender.flush(WAIT) and freed.set(), daemon=True).start()
        assert freed.wait(WAIT)  # every place freed: nothing awaits a PUBACK
        assert not sender._client._out_messages  # paho forgot them: never resent
        sender.gate = lambda: True
        sender.publish(topic, b"leading", token="x")
        assert heard.get(timeout=WAIT) == b"leading"  # the first thing the broker passed on
        assert heard.empty()
    finally:
        sender.close(timeout=1)
        listener.close(timeout=1)
