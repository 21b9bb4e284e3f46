"""The floor under the service's dispatch rate: what paho-mqtt and SQLite themselves cost.

The service publishes one QoS 1 command per receiver and takes in the receivers' answers, also
QoS 1 (docs/protocol.md), and it stores each command before publishing it and records its
PUBACK, all in one Python process. This measures, on a private mosquitto with
config/mosquitto/ipfm.conf, the CPU-seconds this process spends per 10,000 messages:

1. publishing signed play commands at QoS 1 and waiting for every PUBACK (the bare loop that
   ``bench.dispatch_10k`` compares the service with);
2. taking in 10,000 `received` acks at QoS 1 with a bare paho subscriber whose callback only
   counts (paho answers each with a PUBACK); a bare loop in another process publishes them;
3. the same through ``MqttTransport``, the service's own intake (up to the queue its thread
   reads);
4. the SQL the service runs per command on SQLite, sent through the sqlite3 driver directly
   (no SQLAlchemy, no Python objects per row), on the schema of ``migrations/``:
   4a. storing: the commands (and one airing per 10) inserted, 1,000 per transaction;
   4b. recording their PUBACKs: an attempt row each and the command's row updated, 1,000 per
       transaction.
   Foreign keys are not checked here, so this is a little below what the service's database
   must do.

It then prints the highest rate one core could reach doing, for every command, 1 and 3; then
also 4a; then also 4b, with nothing else (no payload built or signed, no bookkeeping), each as
a share of the bare loop's rate.

    python -m bench.floor [--count 10000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bench.bare_paho import Messages, bare_paho_rate, sample_play_payloads
from bench.cpu import CpuWindow
from ipfm_scheduler.config.settings import MqttSettings
from ipfm_scheduler.core.commands import AckStatus
from ipfm_scheduler.protocol import Ack, ack_topic, encode_ack
from ipfm_scheduler.storage.db import open_engine
from ipfm_scheduler.storage.migrate import upgrade
from ipfm_scheduler.transport.mqtt import Incoming, MqttTransport
from tests.brokers import RECOMMENDED_CONF, PrivateBroker

WAIT_S = 120.0  # for one round's messages to arrive
Subscribe = Callable[[int, str, Callable[..., None]], Callable[[], None]]


def sample_acks(count: int, prefix: str, wards: int = 16) -> Messages:
    """``count`` `received` acks, one per receiver, as the simulated receivers send them."""
    at = datetime.now(UTC)
    return [
        (
            ack_topic(prefix, f"ward-{i % wards:02d}", f"loa-{i // wards:05d}"),
            encode_ack(Ack(str(uuid.uuid4()), AckStatus.RECEIVED, at)),
        )
        for i in range(count)
    ]


def publish_acks(port: int, prefix: str, count: int) -> subprocess.Popen[bytes]:
    """The receivers' side: a bare loop in another process (its CPU is not counted here)."""
    return subprocess.Popen(
        [sys.executable, "-m", "bench.floor", "--publish-acks", prefix,
         "--count", str(count), "--port", str(port)],
        stdout=subprocess.DEVNULL, cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip


def intake_seconds(port: int, prefix: str, count: int, subscribe: Subscribe) -> float:
    """CPU-seconds of this process while ``count`` acks arrive through ``subscribe``'s client
    (nothing else runs here meanwhile: the messages are counted as they come, and this thread
    wakes once, when the last one is in)."""
    arrived = 0
    done = threading.Event()

    def count_one(_message: object = None) -> None:
        nonlocal arrived
        arrived += 1
        if arrived == count:
            done.set()

    close = subscribe(port, prefix, count_one)
    try:
        with CpuWindow({"intake": os.getpid()}) as cpu:
            sender = publish_acks(port, prefix, count)
            if not done.wait(WAIT_S):
                raise RuntimeError(f"{arrived} of {count} acks arrived within {WAIT_S:g} s")
        sender.wait(WAIT_S)
    finally:
        close()
    return cpu.seconds["intake"]


def sql_seconds(workdir: Path, messages: Messages) -> tuple[float, float]:
    """CPU-seconds of this process for the service's rows of ``messages`` (4 above): storing
    the commands, and recording their PUBACKs."""
    path = workdir / f"floor-{uuid.uuid4().hex[:8]}.db"
    engine = open_engine(f"sqlite:///{path}")
    upgrade(engine)  # the real schema, its indexes included
    engine.dispose()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")  # as storage/db.py opens SQLite
    db.execute("PRAGMA synchronous=NORMAL")
    now = datetime.now(UTC).isoformat()
    ids = [str(uuid.uuid4()) for _ in messages]
    airing = (
        "INSERT INTO airings (id, ward, programme, planned_start, planned_local, week, "
        "expires_at, origin, priority, volume, audio_sha256, snapshot_id, outcome, created_at) "
        "VALUES (?, ?, 'kh179', ?, ?, '2026-W48', ?, 'scheduled', 'normal', 80, ?, 1, 'open', ?)"
    )
    command = (
        "INSERT INTO commands (id, airing_id, ward, receiver, topic, payload, state, "
        "expires_at, created_at, attempts, state_at) VALUES "
    )
    one = "(?, ?, ?, ?, ?, ?, 'pending', ?, ?, 0, ?)"
    with CpuWindow({"sql": os.getpid()}) as store:
        for first in range(0, len(messages), 1000):
            db.execute("BEGIN")
            batch = range(first, min(first + 1000, len(messages)))
            for n in range(first // 10, (batch[-1] // 10) + 1):
                db.execute(airing, (n + 1, f"w{n}", now, now, now, "ab" * 32, now))
            for rows in (batch[i : i + 500] for i in range(0, len(batch), 500)):
                params = []
                for i in rows:
                    topic, payload = messages[i]
                    params += [ids[i], i // 10 + 1, f"w{i // 10}", f"r{i}", topic, payload]
                    params += [now, now, now]
                db.execute(command + ", ".join([one] * len(rows)), params)
            db.execute("COMMIT")
    with CpuWindow({"sql": os.getpid()}) as record:
        for first in range(0, len(messages), 1000):
            db.execute("BEGIN")
            for chunk in (ids[i : i + 500] for i in range(first, first + 1000, 500)):
                marks = ", ".join("?" * len(chunk))
                db.execute(
                    "INSERT INTO send_attempts (command_id, attempt, at, outcome) "
                    f"SELECT id, attempts + 1, ?, 'puback' FROM commands WHERE id IN ({marks})",
                    [now, *chunk],
                )
                db.execute(
                    "UPDATE commands SET attempts = attempts + 1, last_attempt_at = ?, "
                    "first_sent_at = coalesce(first_sent_at, ?), last_sent_at = ?, "
                    "state = CASE WHEN state = 'pending' THEN 'sent' ELSE state END, "
                    "state_at = CASE WHEN state = 'pending' THEN ? ELSE state_at END "
                    f"WHERE id IN ({marks})",
                    [now, now, now, now, *chunk],
                )
            db.execute("COMMIT")
    sent = db.execute("SELECT count(*) FROM commands WHERE state = 'sent'").fetchone()[0]
    db.close()
    if sent != len(messages):
        raise RuntimeError(f"{sent} of {len(messages)} commands were recorded as sent")
    return store.seconds["sql"], record.seconds["sql"]


def bare_subscriber(port: int, prefix: str, on_message: Callable[[], None]) -> Callable[[], None]:
    subscribed = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"floor-{uuid.uuid4().hex[:8]}")
    client.on_connect = lambda c, *_a: c.subscribe(f"{prefix}/+/+/ack", qos=1)
    client.on_subscribe = lambda *_a: subscribed.set()
    client.on_message = lambda *_a: on_message()
    client.connect("127.0.0.1", port)
    client.loop_start()
    if not subscribed.wait(10):
        raise RuntimeError("the bare subscriber did not subscribe")

    def close() -> None:
        client.disconnect()
        client.loop_stop()

    return close


def transport_subscriber(
    port: int, prefix: str, on_message: Callable[[Incoming], None]
) -> Callable[[], None]:
    """The service's transport: each message made an ``Incoming`` and handed on, as it hands
    them to the queue that the service's thread drains in batches."""
    settings = MqttSettings(host="127.0.0.1", port=port)
    transport = MqttTransport(settings, [f"{prefix}/+/+/ack"], on_message=on_message)
    transport.connect(10)
    return transport.close


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--publish-acks", metavar="PREFIX", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=1883, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.publish_acks:
        bare_paho_rate("127.0.0.1", args.port, sample_acks(args.count, args.publish_acks))
        return
    work = Path(tempfile.mkdtemp(prefix="ipfm-floor-"))
    broker = PrivateBroker(work, RECOMMENDED_CONF.read_text())
    broker.start()
    per = 10_000 / args.count
    publish, rates, bare_in, ours_in, stored, recorded = [], [], [], [], [], []
    try:
        for _ in range(args.rounds):
            prefix = f"floor-{uuid.uuid4().hex[:8]}"
            commands = sample_play_payloads(args.count, prefix)
            with CpuWindow({"loop": os.getpid()}) as cpu:
                rates.append(bare_paho_rate("127.0.0.1", broker.port, commands))
            publish.append(cpu.seconds["loop"] * per)
            bare_in.append(intake_seconds(broker.port, prefix, args.count, bare_subscriber) * per)
            ours_in.append(
                intake_seconds(broker.port, prefix, args.count, transport_subscriber) * per
            )
            store, record = sql_seconds(work, commands)
            stored.append(store * per)
            recorded.append(record * per)
    finally:
        broker.stop()
    rounds = lambda xs: ", ".join(f"{x:.2f}" for x in xs)  # noqa: E731
    p, b, o, q, u, r = (
        statistics.median(x) for x in (publish, bare_in, ours_in, stored, recorded, rates)
    )
    print(
        f"CPU-seconds of one process per 10,000 commands, QoS 1, private mosquitto with "
        f"config/mosquitto/ipfm.conf, SQLite, {args.rounds} rounds (median):"
    )
    print(f"  1  publishing, every PUBACK awaited (bare loop)     {p:.2f}  ({rounds(publish)})")
    print(f"  2  taking in receivers' acks, bare paho subscriber  {b:.2f}  ({rounds(bare_in)})")
    print(f"  3  the same through MqttTransport (the service's)   {o:.2f}  ({rounds(ours_in)})")
    print(f"  4a storing the commands, through sqlite3 directly  {q:.2f}  ({rounds(stored)})")
    print(f"  4b recording their PUBACKs, the same                {u:.2f}  ({rounds(recorded)})")
    print(f"  the bare loop's rate meanwhile: {r:,.0f} msg/s")
    for label, seconds in (
        ("1 and 3", p + o),
        ("1, 3 and 4a", p + o + q),
        ("1, 3, 4a and 4b", p + o + q + u),
    ):
        if seconds <= 0:  # /proc counts CPU time in ticks (10 ms): too few messages
            print(f"  {label}: too little CPU time to measure (use --count 10000)")
            continue
        ceiling = 10_000 / seconds
        print(
            f"  {label}: {seconds:.2f} s per 10,000 commands; one core doing only that reaches "
            f"at most {ceiling:,.0f} commands/s, {ceiling / r:.2f} of the bare loop's rate"
        )


if __name__ == "__main__":
    main()
