"""The CPU the airing log spends per 10,000 commands on the hot paths of a big slot, in process
(no broker, no receivers): storing the commands, recording their PUBACKs, taking in their acks.

    python -m bench.intake_cpu [--database sqlite|postgresql] [--commands 10000]
                               [--batch 500] [--rounds 3] [--profile FILE] [--clock cpu|wall]
                               [--ids ordered|random] [--payload-bytes 100]

Through the real ``Repository``: ``store_airings`` (wards of 100 receivers), ``record_sends``
(PUBACKs, ``FLUSH_EVERY`` at a time), ``record_acks`` (a ``received`` then a ``completed`` for
each command, ``--batch`` at a time, as ``Answers`` hands them on); each timed with
``time.process_time`` (the CPU of this process: the database server's is not counted), or with
``--clock wall`` by ``time.perf_counter`` (the time the caller waits, the server's work in it).
The command ids are the service's own (``protocol.new_command_ids``: version 7, increasing), or
with ``--ids random`` random version 4 UUIDs, as the service made them until 6 December 2026;
``--payload-bytes`` pads each command's payload to about that size (a signed play command of the
benchmark's station is about 650 bytes). Compare two trees with ``bench.against``.
"""

from __future__ import annotations

import argparse
import cProfile
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from ipfm_scheduler.core.commands import AckStatus
from ipfm_scheduler.core.expand import PlannedAiring
from ipfm_scheduler.core.model import Origin, Priority
from ipfm_scheduler.core.traffic import (
    AiringToStore,
    IncomingAck,
    NewCommand,
    SendOutcome,
    SendResult,
)
from ipfm_scheduler.protocol.command_ids import new_command_ids
from ipfm_scheduler.protocol.messages import Ack
from ipfm_scheduler.storage.db import open_engine
from ipfm_scheduler.storage.migrate import upgrade
from ipfm_scheduler.storage.repository import Repository
from ipfm_scheduler.storage.snapshot import (
    ConfigSnapshot,
    SnapshotFile,
    SnapshotProgramme,
    SnapshotReceiver,
    SnapshotWard,
)

PG = "postgresql+psycopg://postgres@127.0.0.1:5432"
PER_WARD = 100
AUDIO = "ab" * 32


def station(wards: int) -> ConfigSnapshot:
    files = (SnapshotFile("config/ipfm.yaml", "station", "timezone: Asia/Ho_Chi_Minh\n"),)
    programme = SnapshotProgramme("kh179", "Plan 179", 1, 60.0, AUDIO, None, None)
    return ConfigSnapshot(
        "Asia/Ho_Chi_Minh",
        files,
        (programme,),
        tuple(
            SnapshotWard(
                f"w{w:04d}",
                f"Ward {w}",
                tuple(SnapshotReceiver(f"r{r:03d}", True, "") for r in range(PER_WARD)),
            )
            for w in range(wards)
        ),
    )


def one_round(
    url: str,
    commands: int,
    batch: int,
    profile: cProfile.Profile | None,
    clock: Callable[[], float] = time.process_time,
    *,
    random_ids: bool = False,
    payload_bytes: int = 0,
) -> dict:
    engine = open_engine(url)
    upgrade(engine)
    repo = Repository(engine)
    now = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)
    wards = max(1, commands // PER_WARD)
    snapshot_id = repo.record_snapshot(station(wards), now=now)
    start = now + timedelta(minutes=2)
    items, ids, who = [], [], []
    fresh = (
        [str(uuid.uuid4()) for _ in range(wards * PER_WARD)]
        if random_ids
        else new_command_ids(wards * PER_WARD, now)
    )
    for w in range(wards):
        ward = f"w{w:04d}"
        plan = PlannedAiring(start, ward, "kh179", start + timedelta(minutes=30), 80,
                             Origin.SCHEDULED)  # fmt: skip
        cmds = []
        for r in range(PER_WARD):
            cid = fresh[len(ids)]
            payload = f'{{"v":2,"type":"play","id":"{cid}","audio":{{"duration_s":60}}}}'
            payload = payload[:-1] + f',"pad":"{"x" * max(0, payload_bytes - len(payload) - 10)}"}}'
            cmds.append(NewCommand(cid, f"r{r:03d}", f"ipfm/{ward}/r{r:03d}/cmd",
                                   payload.encode()))  # fmt: skip
            ids.append(cid)
            who.append((ward, f"r{r:03d}"))
        items.append(AiringToStore(plan, Priority.NORMAL, AUDIO, tuple(cmds)))
    figures = {}
    if profile:
        profile.enable()
    began = clock()
    for first in range(0, len(items), 10):
        repo.store_airings(items[first : first + 10], snapshot_id=snapshot_id, now=now)
    figures["store"] = clock() - began
    began = clock()
    for first in range(0, len(ids), 2000):
        results = [SendResult(cid, SendOutcome.PUBACK) for cid in ids[first : first + 2000]]
        repo.record_sends(results, now=now + timedelta(seconds=1))
    figures["pubacks"] = clock() - began
    for status, later in ((AckStatus.RECEIVED, 2), (AckStatus.COMPLETED, 200)):
        at = now + timedelta(seconds=later)
        acks = [
            IncomingAck(
                ward,
                receiver,
                f"ipfm/{ward}/{receiver}/ack",
                f'{{"v":2,"id":"{cid}","status":"{status.value}"}}'.encode(),
                ack=Ack(cid, status, at, None, None, at.isoformat()),
                verified=True,
            )
            for cid, (ward, receiver) in zip(ids, who, strict=True)
        ]
        began = clock()
        for first in range(0, len(acks), batch):
            repo.record_acks(acks[first : first + batch], now=at)
        figures[status.value] = clock() - began
    if profile:
        profile.disable()
    repo.close()
    return {k: v * 10000 / len(ids) for k, v in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--commands", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", type=Path, default=None)
    parser.add_argument("--clock", default="cpu", choices=["cpu", "wall"])
    parser.add_argument("--ids", default="ordered", choices=["ordered", "random"])
    parser.add_argument("--payload-bytes", type=int, default=100)
    args = parser.parse_args()
    profile = cProfile.Profile(time.process_time) if args.profile else None
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    for n in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="ipfm-intake-") as tmp:
            if args.database == "sqlite":
                url, drop = f"sqlite:///{tmp}/ipfm.db", None
            else:
                name = f"intake_{uuid.uuid4().hex[:8]}"
                with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                                     autocommit=True) as admin:  # fmt: skip
                    admin.execute(f"CREATE DATABASE {name}")
                url, drop = f"{PG}/{name}", name
            try:
                figures = one_round(url, args.commands, args.batch, profile, clock,
                                    random_ids=args.ids == "random",
                                    payload_bytes=args.payload_bytes)  # fmt: skip
            finally:
                if drop:
                    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                                         autocommit=True) as admin:  # fmt: skip
                        admin.execute(f"DROP DATABASE {drop} WITH (FORCE)")
        total = sum(figures.values())
        print(f"round {n + 1} {args.database}: {args.clock} s per 10,000: "
              + ", ".join(f"{k} {v:.3f}" for k, v in figures.items())
              + f"; total {total:.3f}", flush=True)  # fmt: skip
    if profile and args.profile:
        profile.dump_stats(str(args.profile))


if __name__ == "__main__":
    main()
