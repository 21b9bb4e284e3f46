"""One slot to 10,000 receivers through each broker: mosquitto, and a 3-node NATS JetStream
cluster (issue 18, item 3).

For each broker, a receiver fleet (`ipfm-scheduler simulate` in its own process, realtime mode:
`received` at once) and, in this process:

* **bare**: a plain paho-mqtt loop publishing one signed play command to each receiver at QoS 1
  (paho's default in-flight window of 20), subscribed to the acks: the time to the last PUBACK,
  and to the last `received` ack (every command delivered and answered);
* **service**: the real dispatcher (SQLite airing log, MQTT outbox, signed payloads) dispatching
  the same slot: stored, published, every PUBACK recorded (``bench/dispatch_10k.py``'s round; it
  waits for HH:MM:50, its slot being the next minute).

On mosquitto (a private one with config/mosquitto/ipfm.conf) both sides are on the one broker;
on NATS (tests/nats.py: config/nats with free ports) the publisher and the service are on node 1
and the fleet on node 2, so every message crosses the cluster.

    python -m bench.brokers [--broker mosquitto|nats|both] [--count 10000] [--replicas 3]
                            [--fleet-node 2] [--skip-service] [--publishers 1]
                            [--inflight 20] [--fleets 1]

``--fleets N`` splits the receivers over N simulator processes, each its own connection, in both
rounds: through NATS, one connection publishing every box's acks is itself a limit (each QoS 1
publish is stored before the node reads on), where real boxes each have their own. But each
process subscribes to every command topic and ignores the others' commands, so the broker
delivers every command N times (docs/deployment.md, "Why the service looked slow on NATS").
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bench.dispatch_10k import service_round
from ipfm_scheduler.config.settings import MqttSettings, SigningKey
from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.protocol import AudioRef, PlayCommand, cmd_topic, encode_command
from ipfm_scheduler.service.daemon import SWITCH_INTERVAL_S
from tests.brokers import RECOMMENDED_CONF, PrivateBroker
from tests.nats import NatsCluster


def fleet(url: str, prefix: str, pairs: list[tuple[str, str]]) -> subprocess.Popen[str]:
    """The receivers in their own process; returns once they said they are online."""
    binary = Path(sys.executable).with_name("ipfm-scheduler")
    receivers = ",".join(f"{w}/{r}" for w, r in pairs)
    process = subprocess.Popen(
        [str(binary), "simulate", "--quiet", "--receivers", receivers, "--time-mode", "realtime",
         "--mqtt-url", url, "--prefix", prefix],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "IPFM_LANG": "en"},  # its first line is read below
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("simulating"):
        process.kill()
        raise RuntimeError(f"the simulator did not start: {line!r}")
    return process


def play_payloads(prefix: str, pairs: list[tuple[str, str]]) -> list[tuple[str, bytes]]:
    """One signed play command to each receiver, starting in two minutes."""
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    key = SigningKey("bench-2026", b"bench secret")
    start = datetime.now(UTC) + timedelta(minutes=2)
    audio = AudioRef(f"http://127.0.0.1:8079/audio/{'0' * 64}.mp3", "0" * 64, 4915200, 612.4)
    messages = []
    for ward, receiver in pairs:
        command = PlayCommand(
            str(uuid.uuid4()), "kh179", "Kế hoạch 179-KH/TU", audio, 80, Priority.NORMAL,
            start, start + timedelta(minutes=30), start - timedelta(minutes=2),
        )  # fmt: skip
        messages.append((cmd_topic(prefix, ward, receiver), encode_command(command, tz, key)))
    return messages


def bare_round(
    port: int,
    prefix: str,
    pairs: list[tuple[str, str]],
    publishers: int = 1,
    inflight: int = 20,
    timeout: float = 600.0,
) -> tuple[float, float]:
    """(seconds to the last PUBACK, seconds to the last `received`): a command to each, over
    ``publishers`` connections at once (each its share, from its own thread)."""
    messages = play_payloads(prefix, pairs)
    count = len(messages)
    ids = {json.loads(payload)["id"] for _topic, payload in messages}
    received: set[str] = set()
    acked = 0
    all_acked, all_received, ready = threading.Event(), threading.Event(), threading.Event()
    lock = threading.Lock()

    def on_publish(*_a: object) -> None:
        nonlocal acked
        with lock:
            acked += 1
            if acked == count:
                all_acked.set()

    def on_message(_c: object, _u: object, message: paho.MQTTMessage) -> None:
        try:
            body = json.loads(message.payload)
        except ValueError:
            return
        if body.get("status") == "received" and body.get("id") in ids:
            with lock:
                received.add(body["id"])
                if len(received) == count:
                    all_received.set()

    clients = []
    for _ in range(publishers):
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"b-{uuid.uuid4().hex[:8]}")
        client.on_publish = on_publish
        client.max_inflight_messages_set(inflight)
        client.connect("127.0.0.1", port)
        client.loop_start()
        clients.append(client)
    client = clients[0]
    client.on_message = on_message
    client.on_subscribe = lambda *_a: ready.set()
    try:
        client.subscribe(f"{prefix}/+/+/ack", qos=1)
        if not ready.wait(30):
            raise RuntimeError("no SUBACK")
        began = time.perf_counter()
        threads = [
            threading.Thread(
                target=lambda c, share: [c.publish(t, p, qos=1) for t, p in share],
                args=(c, messages[n::publishers]),
            )
            for n, c in enumerate(clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if not all_acked.wait(timeout):
            raise RuntimeError(f"only {acked} of {count} PUBACKs after {timeout} s")
        pubacks = time.perf_counter() - began
        if not all_received.wait(timeout):
            raise RuntimeError(f"only {len(received)} of {count} `received` after {timeout} s")
        return pubacks, time.perf_counter() - began
    finally:
        for c in clients:
            c.disconnect()
            c.loop_stop()


@contextmanager
def broker(kind: str, work: Path, replicas: int, fleet_node: int) -> Iterator[tuple[int, str]]:
    """(the publisher's port, the fleet's URL) of a fresh broker of ``kind``."""
    if kind == "mosquitto":
        mosquitto = PrivateBroker(work, RECOMMENDED_CONF.read_text())
        mosquitto.start()
        try:
            yield mosquitto.port, f"mqtt://127.0.0.1:{mosquitto.port}"
        finally:
            mosquitto.stop()
        return
    cluster = NatsCluster(work, replicas=replicas)
    cluster.start()
    try:
        yield cluster.mqtt_port(1), cluster.url(fleet_node)
    finally:
        cluster.stop()


def measure(kind: str, args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix=f"ipfm-bench-{kind}-"))
    count = args.count
    where = (
        "one private mosquitto (config/mosquitto/ipfm.conf)"
        if kind == "mosquitto"
        else f"3-node NATS cluster, stream_replicas {args.replicas}, publisher on node 1, "
        f"fleet on node {args.fleet_node}"
    )
    print(f"{kind}: {where}, {count:,} receivers", flush=True)
    with broker(kind, work, args.replicas, args.fleet_node) as (port, fleet_url):
        prefix = f"bench-{uuid.uuid4().hex[:8]}"
        wards, per_ward = count // 10, 10
        pairs = [(f"w{i:04d}", f"loa-{j:02d}") for i in range(wards) for j in range(per_ward)]
        started = time.perf_counter()
        # --fleets N: N simulator processes (N connections), each a share of the receivers
        fleets = [fleet(fleet_url, prefix, pairs[n :: args.fleets]) for n in range(args.fleets)]
        print(
            f"  fleet online in {time.perf_counter() - started:.1f} s ({args.fleets} process(es))",
            flush=True,
        )
        try:
            pubacks, answered = bare_round(port, prefix, pairs, args.publishers, args.inflight)
            print(
                f"  bare paho QoS 1, {args.publishers} connection(s), {args.inflight} in flight: "
                f"last PUBACK {pubacks:6.1f} s ({count / pubacks:7,.0f} msg/s), "
                f"last `received` {answered:6.1f} s ({count / answered:7,.0f} /s)",
                flush=True,
            )
        finally:
            for simulator in fleets:
                simulator.terminate()
                simulator.wait(30)
        if args.skip_service:
            return
        prefix = f"bench-{uuid.uuid4().hex[:8]}"
        # the same --fleets (each process still receives every command: see the docstring)
        fleets = [fleet(fleet_url, prefix, pairs[n :: args.fleets]) for n in range(args.fleets)]
        try:
            settings = MqttSettings(host="127.0.0.1", port=port, topic_prefix=prefix)
            url = f"sqlite:///{work / 'service.db'}"
            rate, confirmed, _sent, _cpu = service_round(settings, url, wards, per_ward, {})
            print(
                f"  service ({args.fleets} fleet process(es)): every PUBACK recorded at "
                f"{rate:7,.0f} msg/s ({count / rate:6.1f} s), every `completed` at "
                f"{confirmed:7,.0f} /s ({count / confirmed:6.1f} s)",
                flush=True,
            )
        finally:
            for simulator in fleets:
                simulator.terminate()
                simulator.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", choices=("mosquitto", "nats", "both"), default="both")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--replicas", type=int, default=3, help="NATS: stream_replicas")
    parser.add_argument("--fleet-node", type=int, default=2, choices=(1, 2, 3))
    parser.add_argument("--skip-service", action="store_true", help="the bare loop only")
    parser.add_argument("--publishers", type=int, default=1, help="the bare loop's connections")
    parser.add_argument("--inflight", type=int, default=20, help="the bare loop's paho window")
    parser.add_argument("--fleets", type=int, default=1, help="fleet processes (connections)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    for kind in ("mosquitto", "nats") if args.broker == "both" else (args.broker,):
        measure(kind, args)


if __name__ == "__main__":
    main()
