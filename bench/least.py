"""The least dispatcher that does the service's work for one airing slot (issue 15's baseline).

For every receiver it builds and signs the play command (``protocol.encode_plays``, as the
service does: version 2, one template per ward), **stores it before publishing it** (batched:
``--batch`` commands per transaction), publishes it at QoS 1 (paho-mqtt, nothing around it),
**takes in the receiver's ack** at QoS 1, reads and checks it (``protocol.read_ack``: its
version 2 signature against the receiver's own key) and **records it** (the ack's row, and the
command's state, one transaction per batch of acks taken). Nothing else: no airings, no
PUBACKs recorded, no bookkeeping, no resends. Its own two tables (``least_commands``,
``least_acks``), created afresh in the database given, through the driver directly (sqlite3,
or psycopg for PostgreSQL).

Timed from the decision (the first command built) to the last ack recorded (committed); the
receivers answer in another process (``bench/fleet.py``: `received` at once).

From code::

    from bench.least import run_least
    figures = run_least("mqtt://127.0.0.1:1883", "sqlite:////tmp/least.db", pairs,
                        prefix="bench", keys_dir=Path("keys"))
    figures.seconds, figures.out_s, figures.cpu_s, figures.peak_rss_mb

or in a process of its own (its CPU and peak RSS then are its own)::

    python -m bench.least --mqtt-url URL --database URL --wards 1000 --receivers 10 \\
        --prefix P [--keys DIR] [--fleet]        # prints one JSON object

``least_in_process(...)`` runs that from a benchmark and returns the figures. With ``--fleet``
it starts ``bench.fleet`` itself (with the same keys); otherwise a fleet must be answering.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as paho
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from bench.fleet import host_port, start_fleet, stop_fleet
from ipfm_scheduler.config import keyfiles
from ipfm_scheduler.config.settings import SigningKey
from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.errors import ProtocolError
from ipfm_scheduler.protocol import AudioRef, PlayCommand, Trust, encode_plays, read_ack
from ipfm_scheduler.service.daemon import SWITCH_INTERVAL_S

ROOT = Path(__file__).resolve().parent.parent
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
AUDIO = AudioRef(f"http://127.0.0.1:8079/audio/{'ab' * 32}.mp3", "ab" * 32, 16_000, 2.0)


@dataclass(frozen=True)
class LeastFigures:
    receivers: int
    seconds: float  # from the decision to the last ack recorded
    out_s: float  # from the decision to the last PUBACK
    cpu_s: float  # CPU-seconds of this process meanwhile (all its threads)
    peak_rss_mb: float  # this process's peak RSS (all of its life)
    acks: int  # acks recorded
    refused: int  # acks that could not be read or checked (must be 0)


class _Db:
    """The two tables, through sqlite3 or psycopg directly."""

    def __init__(self, url: str) -> None:
        self.pg = url.startswith("postgres")
        if self.pg:
            conninfo = "postgresql://" + url.split("://", 1)[1]
            self.conn: Any = psycopg.connect(conninfo, autocommit=True)
            self.mark = "%s"
            blob = "BYTEA"
        else:
            self.conn = sqlite3.connect(url.split("sqlite:///", 1)[1], isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")  # as storage/db.py opens SQLite
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.mark = "?"
            blob = "BLOB"
        for statement in (
            "DROP TABLE IF EXISTS least_acks",
            "DROP TABLE IF EXISTS least_commands",
            f"CREATE TABLE least_commands (id TEXT PRIMARY KEY, ward TEXT NOT NULL, "
            f"receiver TEXT NOT NULL, topic TEXT NOT NULL, payload {blob} NOT NULL, "
            f"state TEXT NOT NULL, created_at TEXT NOT NULL, state_at TEXT)",
            f"CREATE TABLE least_acks (command_id TEXT NOT NULL REFERENCES least_commands(id), "
            f"status TEXT NOT NULL, raw {blob} NOT NULL, received_at TEXT NOT NULL)",
        ):
            self.conn.execute(statement)

    def transaction(self, statement: str, rows: list[tuple[Any, ...]], *more: Any) -> None:
        """``statement`` over ``rows`` (and each further (statement, rows)), one transaction."""
        m = self.mark
        work = [(statement, rows), *more]
        if self.pg:
            with self.conn.transaction(), self.conn.cursor() as cur:
                for sql, params in work:
                    cur.executemany(sql.replace("?", m), params)
            return
        self.conn.execute("BEGIN")
        for sql, params in work:
            self.conn.executemany(sql, params)
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


def _keys(keys_dir: Path | None) -> tuple[SigningKey | None, dict[tuple[str, str], Trust]]:
    if keys_dir is None:
        return None, {}
    commands, receivers = keyfiles.read_keys_dir(keys_dir)
    trust = {
        pair: Trust(keys.accepted(datetime.now(UTC).date())) for pair, keys in receivers.items()
    }
    return (commands.current if commands else None), trust


def run_least(
    mqtt_url: str,
    db_url: str,
    receivers: Sequence[tuple[str, str]],
    *,
    prefix: str,
    keys_dir: Path | None = None,
    batch: int = 1000,
    window: int = 1000,
    timeout: float = 600.0,
) -> LeastFigures:
    """One slot to ``receivers`` ((ward, receiver), grouped by ward) through the least
    dispatcher; a fleet must answer on ``prefix`` (``bench.fleet``). Times from the decision.
    A batch is published once at most ``window`` publishes await their PUBACK (as the
    service's in-flight window: a broker flooded with 100,000 at once slows down)."""
    key, trust = _keys(keys_dir)
    unsigned = Trust(accept_unsigned=True)
    db = _Db(db_url)
    acks: deque[tuple[str, bytes]] = deque()
    arrived = threading.Event()
    subscribed = threading.Event()
    total = len(receivers)
    pubacks = published = 0
    room = threading.Event()
    out_at = 0.0

    def on_message(_c: paho.Client, _u: object, message: paho.MQTTMessage) -> None:
        acks.append((message.topic, message.payload))
        arrived.set()

    def on_publish(*_a: object) -> None:
        nonlocal pubacks, out_at
        pubacks += 1
        if published - pubacks <= window // 2:
            room.set()
        if pubacks == total:
            out_at = time.perf_counter()

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"least-{uuid.uuid4().hex[:8]}")
    client.on_connect = lambda c, *_a: c.subscribe(f"{prefix}/+/+/ack", qos=1)
    client.on_subscribe = lambda *_a: subscribed.set()
    client.on_message = on_message
    client.on_publish = on_publish
    client.max_inflight_messages_set(0)  # no window (as the service's transport: its own)
    host, port = host_port(mqtt_url)
    client.connect(host, port, keepalive=60)
    client.loop_start()
    recorded = refused = 0

    def record() -> None:
        """Read, check and record every ack taken so far (one transaction)."""
        nonlocal recorded, refused
        now = datetime.now(UTC).isoformat()
        rows, states = [], []
        while acks:
            topic, raw = acks.popleft()
            parts = topic.split("/")
            ward, receiver = parts[-3], parts[-2]
            try:
                ack, _verified = read_ack(
                    raw, ward, receiver, trust.get((ward, receiver), unsigned)
                )
            except ProtocolError:
                refused += 1
                continue
            rows.append((ack.id, ack.status.value, raw, now))
            states.append((ack.status.value, now, ack.id))
        if rows:
            db.transaction(
                "INSERT INTO least_acks (command_id, status, raw, received_at) VALUES (?, ?, ?, ?)",
                rows,
                ("UPDATE least_commands SET state = ?, state_at = ? WHERE id = ?", states),
            )
            recorded += len(rows)

    try:
        if not subscribed.wait(30):
            raise RuntimeError(f"no subscription at {mqtt_url}")
        by_ward: dict[str, list[str]] = {}
        for ward, receiver in receivers:
            by_ward.setdefault(ward, []).append(receiver)
        cpu0 = sum(os.times()[:2])
        began = time.perf_counter()
        now = datetime.now(UTC)
        start = now + timedelta(minutes=2)
        created = now.isoformat()
        store = (
            "INSERT INTO least_commands (id, ward, receiver, topic, payload, state, created_at) "
            "VALUES (?, ?, ?, ?, ?, 'pending', ?)"
        )
        rows: list[tuple[Any, ...]] = []

        def flush() -> None:
            nonlocal published
            db.transaction(store, rows)  # stored before it is published
            while published - pubacks > window:  # the broker is behind: answers meanwhile
                room.clear()
                record()
                room.wait(0.05)
            for _cid, _w, _r, topic, payload, _c in rows:
                client.publish(topic, payload, qos=1)
            published += len(rows)
            rows.clear()
            record()

        for ward, names in by_ward.items():
            ends = start + timedelta(minutes=30)
            body = PlayCommand("x", "kh179", "Kế hoạch 179-KH/TU", AUDIO, 80, Priority.NORMAL,
                               start, ends, now, ward, names[0])  # fmt: skip
            for (cid, payload), receiver in zip(
                encode_plays(body, TZ, key, len(names), names), names, strict=True
            ):
                rows.append(
                    (cid, ward, receiver, f"{prefix}/{ward}/{receiver}/cmd", payload, created)
                )
            if len(rows) >= batch:
                flush()
        if rows:
            flush()
        deadline = time.monotonic() + timeout
        while recorded + refused < total:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{recorded} of {total} acks recorded after {timeout:g} s")
            arrived.wait(1.0)
            arrived.clear()
            record()
        ended = time.perf_counter()
        cpu = sum(os.times()[:2]) - cpu0
    finally:
        client.disconnect()
        client.loop_stop()
        db.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return LeastFigures(
        total, ended - began, (out_at or ended) - began, cpu, peak, recorded, refused
    )


def pairs_of(wards: int, receivers: int) -> list[tuple[str, str]]:
    """The benchmark's receivers: ``w0000/loa-00`` ... (the station bench.national writes)."""
    return [(f"w{i:04d}", f"loa-{j:02d}") for i in range(wards) for j in range(receivers)]


def least_in_process(
    mqtt_url: str,
    db_url: str,
    wards: int,
    receivers: int,
    *,
    prefix: str,
    keys_dir: Path | None = None,
    fleet: bool = False,
    timeout: float = 900.0,
) -> LeastFigures:
    """:func:`run_least` over ``pairs_of(wards, receivers)`` in a process of its own."""
    args = [sys.executable, "-m", "bench.least", "--mqtt-url", mqtt_url, "--database", db_url,
            "--wards", str(wards), "--receivers", str(receivers), "--prefix", prefix]  # fmt: skip
    args += ["--keys", str(keys_dir)] if keys_dir is not None else []
    args += ["--fleet"] if fleet else []
    done = subprocess.run(
        args, capture_output=True, text=True, cwd=ROOT, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.least failed: {done.stderr[-2000:]}")
    return LeastFigures(**json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mqtt-url", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--database", required=True, help="sqlite:///PATH or a PostgreSQL URL")
    parser.add_argument("--wards", type=int, default=1000)
    parser.add_argument("--receivers", type=int, default=10)
    parser.add_argument("--prefix", default=f"least-{uuid.uuid4().hex[:8]}")
    parser.add_argument("--keys", type=Path, default=None)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--fleet", action="store_true", help="start bench.fleet too")
    args = parser.parse_args()
    sys.setswitchinterval(SWITCH_INTERVAL_S)  # as `ipfm-scheduler run` does
    fleet = start_fleet(args.mqtt_url, args.prefix, args.keys) if args.fleet else None
    try:
        figures = run_least(args.mqtt_url, args.database, pairs_of(args.wards, args.receivers),
                            prefix=args.prefix, keys_dir=args.keys, batch=args.batch)  # fmt: skip
    finally:
        if fleet is not None:
            stop_fleet(fleet)
    print(json.dumps(asdict(figures)))


if __name__ == "__main__":
    main()
