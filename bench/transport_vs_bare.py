"""Our transport against the bare paho loop, on the same 10,000 signed play commands.

Rounds alternate (bare, transport, bare, ...) in one run so both see the same machine load;
the medians and their ratio are printed. The transport is used as the service uses it: publish
from our own thread with a token, paced by ``max_outstanding``, every PUBACK reported.

    python -m bench.transport_vs_bare [--count 10000] [--rounds 3] [--port 1883]
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid

from bench.bare_paho import Messages, bare_paho_rate, sample_play_payloads
from ipfm_scheduler.config.settings import MqttSettings
from ipfm_scheduler.transport.mqtt import DEFAULT_MAX_OUTSTANDING, MqttTransport


def transport_rate(
    host: str, port: int, messages: Messages, max_outstanding: int = DEFAULT_MAX_OUTSTANDING
) -> float:
    """Messages per second from the first publish to the last Delivered (PUBACK) report."""
    transport = MqttTransport(MqttSettings(host=host, port=port), max_outstanding=max_outstanding)
    transport.connect(10)
    try:
        start = time.perf_counter()
        for index, (topic, payload) in enumerate(messages):
            transport.publish(topic, payload, token=index)
        for _ in messages:
            transport.delivered.get(timeout=300)
        return len(messages) / (time.perf_counter() - start)
    finally:
        transport.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    messages = sample_play_payloads(args.count, f"bench-{uuid.uuid4().hex[:8]}")
    bare, ours = [], []
    for _ in range(args.rounds):
        bare.append(bare_paho_rate(args.host, args.port, messages))
        ours.append(transport_rate(args.host, args.port, messages))
    b, o = statistics.median(bare), statistics.median(ours)
    print(f"{args.count} signed play commands, QoS 1, {args.rounds} alternating rounds (median):")
    print(
        f"  bare paho-mqtt loop   {b:8,.0f} msg/s   rounds: {', '.join(f'{r:,.0f}' for r in bare)}"
    )
    print(
        f"  MqttTransport         {o:8,.0f} msg/s   rounds: {', '.join(f'{r:,.0f}' for r in ours)}"
    )
    print(f"  ratio transport/bare  {o / b:.2f}")


if __name__ == "__main__":
    main()
