"""One airing slot to 10,000 receivers (1,000 wards x 10): the service against a bare paho loop.

Each round, the real dispatcher (SQLite airing log, MQTT transport, signed payloads) finds one
airing per ward due at the same instant, stores every command, publishes them (paced, PUBACKs
recorded) and records the simulated receivers' answers. The receivers are `ipfm-scheduler
simulate` in its own process (one shared connection, realtime mode: `received` at once,
`playing` at start_at 10 s later, `completed` after a 2 s jingle), as in production where
receivers answer while the service is still sending. Then a bare paho-mqtt loop publishes the
very same payload bytes at QoS 1, twice: under another topic prefix (nobody answers: the bare
loop alone on the machine), and to the receivers' own topics (they answer each as a duplicate, so
the machine is as busy as during the service's dispatch; nobody reads those answers).
All on a private mosquitto with config/mosquitto/ipfm.conf, in the same run; medians printed.

    python -m bench.dispatch_10k [--wards 1000] [--receivers 10] [--rounds 3] [--database URL]

"dispatch" counts from the decision (airings due) to the last PUBACK recorded in the database,
payload building, signing and storing included (the dispatcher stores a batch, hands it to the
broker, and builds the next while the broker works); the target is dispatch at least half the
bare loop's rate. Each round waits for HH:MM:50 (its slot is the next minute), after the
receivers' retained statuses have been read, as at any start. Each measurement prints the CPU
used meanwhile (bench/cpu.py); the summary gives the CPU-seconds per 10,000 commands of the
service and of the bare loop alone. What paho-mqtt and SQLite alone cost per command, the floor
under the service's rate, is measured by ``python -m bench.floor``.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bench.bare_paho import bare_paho_rate
from bench.cpu import CpuWindow
from ipfm_scheduler.config.settings import (
    AudioFile,
    AudioSettings,
    DispatchSettings,
    HttpSettings,
    LoadedConfig,
    MqttSettings,
    SigningKey,
    SigningSettings,
    StationConfig,
)
from ipfm_scheduler.core.model import AiringRule, Programme, Receiver, Schedule, Ward, Window
from ipfm_scheduler.service.agenda import Plan
from ipfm_scheduler.service.daemon import SWITCH_INTERVAL_S
from ipfm_scheduler.service.jobs import Dispatcher
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.db import open_engine
from ipfm_scheduler.storage.migrate import upgrade
from ipfm_scheduler.storage.repository import Repository
from ipfm_scheduler.transport.outbox import MqttOutbox
from tests.brokers import RECOMMENDED_CONF, PrivateBroker

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
ALL_DAYS = frozenset(range(7))
DURATION_S = 2.0  # a short jingle: the simulated receivers play it in real time


def station(settings: MqttSettings, wards: int, receivers: int, start: datetime) -> Plan:
    """1,000 wards x 10 receivers, all airing kh179 at ``start`` (local HH:MM), signed."""
    programme = Programme("kh179", "Kế hoạch 179-KH/TU", "kh179.mp3", DURATION_S, 1)
    at = start.astimezone(TZ).time().replace(second=0, microsecond=0)
    window = Window(ALL_DAYS, at.replace(hour=0, minute=0), at.replace(hour=23, minute=59))
    rule = AiringRule("kh179", at, dates=(start.astimezone(TZ).date(),))  # this slot only
    names = tuple(Receiver(f"loa-{i:02d}") for i in range(receivers))
    schedule = Schedule(
        TZ,
        {"kh179": programme},
        {
            f"w{i:04d}": Ward(f"w{i:04d}", f"Ward {i}", names, (window,), (rule,))
            for i in range(wards)
        },
    )
    config = StationConfig(
        path=Path("bench.yaml"),
        timezone=TZ,
        database_url="",
        mqtt=settings,
        audio=AudioSettings(dir=Path("audio")),
        http=HttpSettings(enabled=False),
        signing=SigningSettings(default=SigningKey("bench-2026", b"bench secret")),
        dispatch=DispatchSettings(lead_s=120, resend_after_s=60),
        programmes={"kh179": programme},
        programme_audio={"kh179": AudioFile(Path("kh179.mp3"), "ab" * 32, 16_000, DURATION_S)},
        wards_dir=Path("wards"),
    )
    return Plan(config, schedule)


def service_round(
    settings: MqttSettings, url: str, wards: int, receivers: int, others: dict[str, int]
) -> tuple[float, float, list[tuple[str, bytes]], CpuWindow]:
    """(dispatch rate, confirmed rate, the payloads published, the CPU used while it
    dispatched) for one airing slot; prints the CPU use of this process and of ``others``
    (name -> pid) while it dispatches."""
    engine = open_engine(url)
    upgrade(engine)
    log = Repository(engine)
    outbox = MqttOutbox(settings, prefix=settings.topic_prefix)
    assert outbox.wait_connected(10), "no broker"
    total = wards * receivers
    try:
        drain_statuses(outbox, total)  # the receivers' retained statuses, as at any start
        now = wait_for_slot()  # HH:MM:50; the slot starts at the next minute
        start = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
        base = station(settings, wards, receivers, start)
        snapshot = log.record_config(LoadedConfig(base.station, base.schedule, {}, ()), now=now)
        plan = Plan(base.station, base.schedule, snapshot)
        dispatcher = Dispatcher(log, outbox, plan, now=now, send_limit=total)
        with CpuWindow({"service": os.getpid(), **others}) as cpu:
            began = time.perf_counter()
            dispatcher.dispatch_due(now)
            stored = time.perf_counter()
            # one send step lasts at most STEP_LIMIT_S (20 s): a slower broker needs several
            while dispatcher.send(now) or dispatcher.sender.in_flight:
                dispatcher.sender.settle(now, timeout=1.0)
            dispatched = time.perf_counter()
        log_phase(
            f"stored (and mostly sent) in {stored - began:.2f} s, "
            f"all PUBACKs recorded at {dispatched - began:.2f} s"
        )
        log_phase(f"meanwhile: {cpu.describe()}")
        while completed(engine) < total:
            outbox.wait_incoming(1.0)
            dispatcher.receive(datetime.now(UTC))
        confirmed = time.perf_counter() - began
        log_phase(
            f"every `completed` recorded at {confirmed:.2f} s "
            f"(the slot started at {(start - now).total_seconds():.1f} s, played {DURATION_S:g} s)"
        )
        with engine.connect() as conn:
            sent = [(r.topic, bytes(r.payload)) for r in conn.execute(select(t.commands))]
        return total / (dispatched - began), total / confirmed, sent, cpu
    finally:
        outbox.close()
        engine.dispose()


def drain_statuses(outbox: MqttOutbox, count: int) -> None:
    seen = 0
    while seen < count and outbox.wait_incoming(10.0):
        seen += len(outbox.take_incoming(count))


def wait_for_slot() -> datetime:
    """Sleep until 10 s before the next minute (a benchmark, not a test: it may sleep)."""
    now = datetime.now(UTC)
    target = now.replace(second=50, microsecond=0)
    if target <= now + timedelta(seconds=1):
        target += timedelta(minutes=1)
    time.sleep((target - now).total_seconds())
    return datetime.now(UTC)


def log_phase(text: str) -> None:
    print(f"    round: {text}", flush=True)


def completed(engine: object) -> int:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        query = (
            select(func.count()).select_from(t.commands).where(t.commands.c.state == "completed")
        )
        return int(conn.execute(query).scalar_one())


def simulate(port: int, prefix: str, pairs: list[tuple[str, str]]) -> subprocess.Popen[str]:
    """The receivers, in their own process; returns once they said they are online."""
    binary = Path(sys.executable).with_name("ipfm-scheduler")
    receivers = ",".join(f"{w}/{r}" for w, r in pairs)
    process = subprocess.Popen(
        [str(binary), "simulate", "--quiet", "--receivers", receivers, "--time-mode", "realtime",
         "--mqtt-url", f"mqtt://127.0.0.1:{port}", "--prefix", prefix],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()  # "simulating N receivers ..." once all are online
    if not line.startswith("simulating"):
        process.kill()
        raise RuntimeError(f"the simulator did not start: {line!r}")
    return process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wards", type=int, default=1000)
    parser.add_argument("--receivers", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", default=None, help="a PostgreSQL URL (default: SQLite)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    sys.setswitchinterval(SWITCH_INTERVAL_S)  # as `ipfm-scheduler run` does (for both loops)
    work = Path(tempfile.mkdtemp(prefix="ipfm-bench-"))
    broker = PrivateBroker(work, RECOMMENDED_CONF.read_text())
    broker.start()
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    settings = MqttSettings(host="127.0.0.1", port=broker.port, topic_prefix=prefix)
    pairs = [
        (f"w{i:04d}", f"loa-{j:02d}") for i in range(args.wards) for j in range(args.receivers)
    ]
    simulator = simulate(broker.port, prefix, pairs)
    bare, busy, dispatch, confirm = [], [], [], []
    spent: dict[str, list[float]] = defaultdict(list)  # CPU seconds per 10,000 commands
    per = 10_000 / (args.wards * args.receivers)
    try:
        for n in range(args.rounds):
            url = args.database or f"sqlite:///{work / f'round-{n}.db'}"
            others = {"simulator": simulator.pid, "mosquitto": broker.process.pid}
            d, c, sent, used = service_round(settings, url, args.wards, args.receivers, others)
            dispatch.append(d)
            confirm.append(c)
            for name, seconds in used.seconds.items():
                spent[name].append(seconds * per)
            elsewhere = [(topic.replace(prefix, "bare", 1), payload) for topic, payload in sent]
            with CpuWindow({"bare loop": os.getpid(), **others}) as cpu:
                bare.append(bare_paho_rate("127.0.0.1", broker.port, elsewhere))
            log_phase(f"bare loop alone: {cpu.describe()}")
            spent["bare loop"].append(cpu.seconds.get("bare loop", math.nan) * per)
            with CpuWindow({"bare loop": os.getpid(), **others}) as cpu:
                busy.append(bare_paho_rate("127.0.0.1", broker.port, sent))
            log_phase(f"bare loop, receivers answering: {cpu.describe()}")
    finally:
        simulator.terminate()
        simulator.wait(30)
        broker.stop()
    count = args.wards * args.receivers
    b, u, d, c = (statistics.median(x) for x in (bare, busy, dispatch, confirm))
    database = "PostgreSQL" if args.database else "SQLite"
    print(
        f"one slot to {count:,} receivers ({args.wards:,} wards x {args.receivers}), {database}, "
        f"private mosquitto with config/mosquitto/ipfm.conf, {args.rounds} rounds (median):"
    )
    rounds = lambda xs: ", ".join(f"{x:,.0f}" for x in xs)  # noqa: E731
    print(f"  bare paho-mqtt loop, QoS 1, same payloads   {b:8,.0f} msg/s  ({rounds(bare)})")
    print(f"    ... to the receivers' topics (they answer) {u:8,.0f} msg/s  ({rounds(busy)})")
    print(f"  service: stored, published, PUBACKs recorded {d:8,.0f} msg/s  ({rounds(dispatch)})")
    print(f"  service: ... and every `completed` recorded  {c:8,.0f} msg/s  ({rounds(confirm)})")
    print(
        f"  ratio dispatch/bare {d / b:.2f} (target >= 0.50); against the bare loop that the "
        f"receivers answer too: {d / u:.2f}"
    )
    cost = {name: statistics.median(xs) for name, xs in spent.items()}
    service, loop = cost.get("service", math.nan), cost.get("bare loop", math.nan)
    print(
        f"  CPU-seconds per 10,000 commands: the service {service:.2f}, the bare loop alone "
        f"{loop:.2f} ({service / loop:.1f}x); while the service dispatched, the simulator "
        f"{cost.get('simulator', math.nan):.2f} and mosquitto {cost.get('mosquitto', math.nan):.2f}"
    )
    print("  the floor under these rates (paho-mqtt and SQLite alone): python -m bench.floor")


if __name__ == "__main__":
    main()
