"""The CPU of paho's network thread taking in PUBACKs and acks, with one of the transport's
changes to paho switched off, then on, alternately in one run: ``transport/buffered.py``'s
chunked reads (``--hook read_in_chunks``, the default) or ``transport/pubacks.py``'s PUBACK
handler (``--hook fast_pubacks``).

    python -m bench.sock_reads [--count 50000] [--rounds 3] [--hook read_in_chunks|fast_pubacks]

A private mosquitto (config/mosquitto/ipfm.conf). Each round: one ``MqttTransport`` subscribed
to the acks as the service is; a publisher in its own process sends ``--count`` acks at QoS 1
(~170 bytes each) while the transport publishes as many commands (its window of 1,000), and the
round ends when every ack has arrived and every PUBACK has come. Timed: the CPU of paho's
network thread alone (``time.pthread_getcpuclockid``), in µs per message taken in (an ack or a
PUBACK), so neither the publisher's work nor this thread's publishing is counted. "paho" rounds
switch the hook off (it answers False: paho as it comes), "ours" rounds leave it on.
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
from ipfm_scheduler.transport import buffered, pubacks
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


HOOKS = {"read_in_chunks": buffered, "fast_pubacks": pubacks}


def one_round(port: int, count: int, hook: str, on: bool) -> float:
    """µs of paho's network thread per message taken in, with ``hook`` on or off."""
    module = HOOKS[hook]
    original = getattr(module, hook)
    if not on:
        setattr(module, hook, lambda *_args: False)
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
        if hook == "read_in_chunks":
            assert isinstance(transport._client.socket(), buffered.BufferedSocket) is on
        else:
            assert (transport._client._handle_pubackcomp.__name__ == "handle_pubackcomp") is on
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
        setattr(module, hook, original)
    return spent / (2 * count) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hook", choices=sorted(HOOKS), default="read_in_chunks")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ipfm-sock-reads-") as work:
        broker = PrivateBroker(Path(work), RECOMMENDED_CONF.read_text())
        broker.start()
        times: dict[str, list[float]] = {"paho": [], "ours": []}
        try:
            for n in range(opts.rounds):
                for name, spent in times.items():
                    spent.append(one_round(broker.port, opts.count, opts.hook, name == "ours"))
                    print(f"round {n + 1} {name}: {spent[-1]:.2f} µs", flush=True)
        finally:
            broker.stop()
    paho_us, ours_us = (statistics.median(times[k]) for k in ("paho", "ours"))
    print(f"paho's network thread, µs per message taken in (median of {opts.rounds}): "
          f"{opts.hook} off {paho_us:.2f}, on {ours_us:.2f} "
          f"({(ours_us / paho_us - 1) * 100:+.1f}%)")  # fmt: skip


if __name__ == "__main__":
    main()
