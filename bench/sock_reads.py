"""The CPU of paho's network thread taking in PUBACKs and acks: paho's own socket, then
``transport/buffered.py``'s chunked reads, alternately in one run.

    python -m bench.sock_reads [--count 50000] [--rounds 3]

A private mosquitto (config/mosquitto/ipfm.conf). Each round: one ``MqttTransport`` subscribed
to the acks as the service is; a publisher in its own process sends ``--count`` acks at QoS 1
(~170 bytes each) while the transport publishes as many commands (its window of 1,000), and the
round ends when every ack has arrived and every PUBACK has come. Timed: the CPU of paho's
network thread alone (``time.pthread_getcpuclockid``), in µs per message taken in (an ack or a
PUBACK), so neither the publisher's work nor this thread's publishing is counted. "paho" rounds
switch the wrapping off (``buffered.read_in_chunks`` answers False: paho's own socket).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ipfm_scheduler.config.settings import MqttSettings
from ipfm_scheduler.protocol import scheduler_filters
from ipfm_scheduler.transport import buffered
from ipfm_scheduler.transport.mqtt import Delivered, Incoming, MqttTransport
from tests.brokers import RECOMMENDED_CONF, PrivateBroker

PUBLISHER = """
import sys, threading
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
port, count = int(sys.argv[1]), int(sys.argv[2])
done, acked = threading.Event(), [0]
def on_publish(*_a):
    acked[0] += 1
    if acked[0] == count:
        done.set()
c = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
c.max_inflight_messages_set(0)
c.on_publish = on_publish
c.connect("127.0.0.1", port)
c.loop_start()
body = (b'{"v":1,"type":"ack","command_id":"%032d","status":"received",'
        b'"at":"2026-12-05T14:00:00+07:00","note":"bench"}')
for i in range(count):
    c.publish(f"bench/w{i % 100}/r{i}/ack", body % i, qos=1)
done.wait(600)
c.disconnect()
c.loop_stop()
"""


def one_round(port: int, count: int, chunked: bool) -> float:
    """µs of paho's network thread per message taken in."""
    original = buffered.read_in_chunks
    if not chunked:
        buffered.read_in_chunks = lambda _client: False  # type: ignore[assignment]
    got, acked = [0], [0]
    all_in, all_acked = threading.Event(), threading.Event()

    def on_message(_m: Incoming) -> None:
        got[0] += 1
        if got[0] == count:
            all_in.set()

    def on_delivered(_d: Delivered) -> None:
        acked[0] += 1
        if acked[0] == count:
            all_acked.set()

    settings = MqttSettings(host="127.0.0.1", port=port)
    transport = MqttTransport(
        settings, scheduler_filters("bench"), on_message=on_message, on_delivered=on_delivered
    )
    try:
        transport.connect(10)
        assert isinstance(transport._client.socket(), buffered.BufferedSocket) is chunked
        thread = transport._client._thread
        clock = time.pthread_getcpuclockid(thread.ident)
        start = time.clock_gettime(clock)
        publisher = subprocess.Popen([sys.executable, "-c", PUBLISHER, str(port), str(count)])
        for i in range(count):
            transport.publish(f"bench/w/c{i}/cmd", b"x" * 120, token=i)
        ok = all_in.wait(600) and all_acked.wait(600)
        spent = time.clock_gettime(clock) - start
        publisher.wait(60)
        if not ok:
            raise RuntimeError(f"only {got[0]} acks and {acked[0]} PUBACKs of {count}")
    finally:
        transport.close(2)
        buffered.read_in_chunks = original  # type: ignore[assignment]
    return spent / (2 * count) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ipfm-sock-reads-") as work:
        broker = PrivateBroker(Path(work), RECOMMENDED_CONF.read_text())
        broker.start()
        times: dict[str, list[float]] = {"paho": [], "chunked": []}
        try:
            for n in range(opts.rounds):
                for name, spent in times.items():
                    spent.append(one_round(broker.port, opts.count, name == "chunked"))
                    print(f"round {n + 1} {name}: {spent[-1]:.2f} µs", flush=True)
        finally:
            broker.stop()
    paho_us, chunked_us = (statistics.median(times[k]) for k in ("paho", "chunked"))
    print(f"paho's network thread, µs per message taken in (median of {opts.rounds}): "
          f"paho's socket {paho_us:.2f}, chunked {chunked_us:.2f} "
          f"({(chunked_us / paho_us - 1) * 100:+.1f}%)")  # fmt: skip


if __name__ == "__main__":
    main()
