"""Can one simulator connection keep up with a province? 10,000 receivers, one play each.

Starts a private mosquitto (with config/mosquitto/ipfm.conf unless --default-broker), runs the
simulator (instant mode) and a scheduler-side transport in this process, publishes one signed
play per receiver and counts the final acks. Prints the time to dispatch and to the last answer.

    python -m bench.simulator_scale [--receivers 10000] [--default-broker]
"""

from __future__ import annotations

import argparse
import queue
import tempfile
import time
from pathlib import Path

from bench.bare_paho import sample_play_payloads
from ipfm_scheduler.config.settings import MqttSettings
from ipfm_scheduler.protocol import parse_topic, scheduler_filters
from ipfm_scheduler.simulator import Behaviour, Simulator, TimeMode
from ipfm_scheduler.transport.mqtt import MqttTransport
from tests.brokers import RECOMMENDED_CONF, PrivateBroker


def run(count: int, default_broker: bool, quiet_s: float = 10.0) -> str:
    broker = PrivateBroker(
        Path(tempfile.mkdtemp()), "" if default_broker else RECOMMENDED_CONF.read_text()
    )
    broker.start()
    settings = MqttSettings(host="127.0.0.1", port=broker.port, topic_prefix="ipfm")
    messages = sample_play_payloads(count, "ipfm")
    pairs = [(ref.ward, ref.receiver) for ref in (parse_topic("ipfm", t) for t, _ in messages)]
    scheduler = MqttTransport(settings, scheduler_filters("ipfm"))
    simulator = Simulator(settings, pairs, Behaviour(mode=TimeMode.INSTANT))
    try:
        scheduler.connect(10)
        simulator.start()
        start = time.perf_counter()
        for topic, payload in messages:
            scheduler.publish(topic, payload)
        scheduler.flush(300)
        dispatched = time.perf_counter() - start
        finals = acks = 0
        last = start
        while finals < count:
            try:
                message = scheduler.incoming.get(timeout=quiet_s)
            except queue.Empty:
                break
            if message.topic.endswith("/ack"):
                acks += 1
                last = time.perf_counter()
                finals += b'"completed"' in message.payload or b'"failed"' in message.payload
        return (
            f"{count} receivers, one simulator connection, "
            f"{'default' if default_broker else 'recommended'} broker settings: dispatched in "
            f"{dispatched:.1f} s; {finals} final acks ({acks} acks) by {last - start:.1f} s; "
            f"simulator handled {simulator.handled_count}; broker dropped messages: "
            f"{any('dropped' in line for line in broker.log)}"
        )
    finally:
        simulator.stop()
        scheduler.close(1)
        broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receivers", type=int, default=10_000)
    parser.add_argument("--default-broker", action="store_true")
    args = parser.parse_args()
    print(run(args.receivers, args.default_broker))


if __name__ == "__main__":
    main()
