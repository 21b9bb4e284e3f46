"""The baseline of the dispatch benchmark: a bare paho-mqtt loop publishing at QoS 1.

``bare_paho_rate(host, port, messages)`` publishes every (topic, payload) at QoS 1 from the
calling thread with nothing around paho, waits for every PUBACK, and returns messages per
second. The service's benchmark runs it on the same payloads in the same run, and reports its own
rate as a ratio of this one.

    python -m bench.bare_paho [--count 10000] [--host 127.0.0.1] [--port 1883]
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from ipfm_scheduler.config.settings import SigningKey
from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.protocol import AudioRef, PlayCommand, cmd_topic, encode_command

Messages = Sequence[tuple[str, bytes]]


def bare_paho_rate(
    host: str, port: int, messages: Messages, *, max_inflight: int = 20, timeout: float = 300.0
) -> float:
    """Messages per second from the first publish to the last PUBACK (bare paho, QoS 1).

    ``max_inflight`` is paho's own setting, left at paho's default (20) as a bare loop would;
    it is also the fastest setting for a bare loop here (with 1,000, paho scans its outgoing
    messages on every PUBACK and runs at about half the rate).
    """
    total = len(messages)
    acked = 0
    done = threading.Event()
    connected = threading.Event()

    def on_publish(_c: paho.Client, _u: object, _mid: int, _rc: object, _p: object) -> None:
        nonlocal acked
        acked += 1
        if acked == total:
            done.set()

    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-bare-{uuid.uuid4().hex[:8]}"
    )
    client.max_inflight_messages_set(max_inflight)
    client.on_publish = on_publish
    client.on_connect = lambda *_a: connected.set()
    client.connect(host, port)
    client.loop_start()
    try:
        if not connected.wait(10):
            raise RuntimeError(f"no connection to {host}:{port}")
        start = time.perf_counter()
        for topic, payload in messages:
            info = client.publish(topic, payload, qos=1)
            if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS,):
                raise RuntimeError(f"paho refused a publish: {paho.error_string(info.rc)}")
        if total and not done.wait(timeout):
            raise RuntimeError(f"only {acked} of {total} PUBACKs after {timeout} s")
        return total / (time.perf_counter() - start)
    finally:
        client.disconnect()
        client.loop_stop()


def sample_play_payloads(count: int, prefix: str, wards: int = 16) -> list[tuple[str, bytes]]:
    """``count`` signed play commands, one per receiver, spread over ``wards`` wards."""
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    key = SigningKey("bench-2026", b"bench secret")
    start = datetime.now(UTC) + timedelta(minutes=2)
    audio = AudioRef(f"http://127.0.0.1:8079/audio/{'0' * 64}.mp3", "0" * 64, 4915200, 612.4)
    messages = []
    for i in range(count):
        ward, receiver = f"ward-{i % wards:02d}", f"loa-{i // wards:05d}"
        command = PlayCommand(
            str(uuid.uuid4()), "kh179", "Kế hoạch 179-KH/TU", audio, 80, Priority.NORMAL,
            start, start + timedelta(minutes=30), start - timedelta(minutes=2),
        )  # fmt: skip
        messages.append((cmd_topic(prefix, ward, receiver), encode_command(command, tz, key)))
    return messages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()
    messages = sample_play_payloads(args.count, f"bench-{uuid.uuid4().hex[:8]}")
    rate = bare_paho_rate(args.host, args.port, messages)
    print(f"bare paho-mqtt, QoS 1: {args.count} play commands at {rate:,.0f} msg/s")


if __name__ == "__main__":
    main()
