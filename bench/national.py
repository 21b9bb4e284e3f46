"""National scale on one machine (issue 15): one airing slot to 100,000 receivers (and 10,000),
the real service against the least dispatcher that does the same work, same run, same broker.

* **The service**: ``ipfm-scheduler run`` of this checkout, as systemd starts it, on a generated
  station (``bench/station.py``: 1,000 ward files of 10 or 100 loudspeakers, signing on, the keys
  folder as `keys init` makes it), whose one airing's dispatch instant comes once the service is
  ready. Timed from that instant (the decision: the timer's date job fires then) to the last ack
  recorded in its database (polled every 50 ms: ``max(acks.id)``), and to the last command out
  (every command's PUBACK or ack recorded; polled every 0.25 s). Its CPU-seconds over that time
  and its peak RSS (VmHWM, all its life) come from /proc.
* **The least dispatcher**: ``bench/least.py``, in a process of its own, the same receivers.
* **The receivers**: ``bench/fleet.py``, one process answering every command with a signed
  (version 2) `received` ack, for both.
* A private mosquitto with config/mosquitto/ipfm.conf (``max_queued_messages 200000``); SQLite
  (a fresh file each round) and PostgreSQL (a fresh database on 127.0.0.1:5432, dropped after;
  a ``CHECKPOINT`` just before each timed round, service's and least's).

    python -m bench.national [--sizes 10x1000,100x1000] [--databases sqlite,postgresql]
                             [--rounds 1] [--keep DIR]

It prints, per size and database: both times, the ratio (least / service: 1.0 is as fast as
the least dispatcher), the service's peak RSS and its CPU-seconds per 10,000 commands, and what
the database holds afterwards (acks, quarantined, repeats: each must be as expected).
Targets (issue 15): ratio >= 0.6 at 100,000 on both databases, no worse than at 10,000; peak
RSS under 250 MB.
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from bench.cpu import _machine_seconds, _process_seconds
from bench.fleet import start_fleet, stop_fleet
from bench.least import LeastFigures, least_in_process
from bench.station import service_command, service_env, slot_after, wait_line, write_station
from tests.brokers import RECOMMENDED_CONF, PrivateBroker

PG = "postgresql+psycopg://postgres@127.0.0.1:5432"
POLL_S = 0.05
OUT_EVERY = 20  # polls: whether every command is out is asked once a second (1 s resolution)


@dataclass(frozen=True)
class ServiceFigures:
    receivers: int
    seconds: float  # from the dispatch instant to the last ack recorded
    out_s: float  # ... to no command left pending
    cpu_s: float  # the service's CPU-seconds meanwhile
    peak_rss_mb: float
    startup_s: float  # from starting the process to `ready:`
    counts: dict[str, int]


def status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return -1


class Watch:
    """Reads the service's database from outside, cheaply, while it works."""

    def __init__(self, url: str) -> None:
        self.pg = url.startswith("postgres")
        if self.pg:
            self.conn: Any = psycopg.connect(
                "postgresql://" + url.split("://", 1)[1], autocommit=True
            )
        else:
            path = url.split("sqlite:///", 1)[1]
            self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)

    def one(self, sql: str) -> int:
        row = self.conn.execute(sql).fetchone()
        return int(row[0] or 0)

    def acks(self) -> int:
        return self.one("SELECT max(id) FROM acks")  # a fresh database: ids 1, 2, ...

    def out(self) -> int:
        """PUBACKs recorded (one attempt row each): the commands the broker has. A count of
        the small attempt rows, not of the commands (``state != 'pending'`` scanned the whole
        commands table, 125 MB at 100,000: about 60 ms each time, while the service it measures
        worked)."""
        return self.one("SELECT count(*) FROM send_attempts WHERE outcome = 'puback'")

    def counts(self) -> dict[str, int]:
        return {
            "commands": self.one("SELECT count(*) FROM commands"),
            "acks": self.one("SELECT count(*) FROM acks"),
            "received": self.one("SELECT count(*) FROM commands WHERE state = 'received'"),
            "quarantined": self.one("SELECT count(*) FROM ack_quarantine"),
            "repeats": self.one("SELECT coalesce(sum(repeats), 0) FROM ack_repeats"),
        }

    def close(self) -> None:
        self.conn.close()


def _row_updates(conn: Any) -> int:
    """How many times PostgreSQL wrote a new version of a command's row (``pg_stat_user_tables``:
    a PUBACK recorded on its own and an ack each write one; both recorded together, one)."""
    row = conn.execute("SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'commands'")
    return int(row.fetchone()[0])


def _admin(sql: str) -> None:
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
        c.execute(sql)


def checkpoint(db_url: str) -> None:
    """On PostgreSQL, a ``CHECKPOINT`` just before a round is timed: a round then never pays for
    the WAL the rounds before it wrote (a checkpoint that the server asks for once ~540 MB of
    WAL have gathered, with ``max_wal_size`` 1 GB, landed in one round or another by chance)."""
    if db_url.startswith("postgres"):
        _admin("CHECKPOINT")


def new_database(kind: str, folder: Path, name: str) -> tuple[str, Callable[[], None]]:
    """(URL of an empty database, how to drop it)."""
    if kind == "sqlite":
        path = folder / f"{name}.db"
        return f"sqlite:///{path}", lambda: [p.unlink() for p in folder.glob(f"{name}.db*")]
    db = f"ipfm_bench_{name}_{uuid.uuid4().hex[:8]}"
    _admin(f'CREATE DATABASE "{db}"')
    return f"{PG}/{db}", lambda: _admin(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def service_round(
    folder: Path,
    port: int,
    prefix: str,
    db_url: str,
    wards: int,
    receivers: int,
    *,
    keys: bool,
    profile: Path | None = None,
    idle: bool = False,
) -> ServiceFigures:
    total = wards * receivers
    margin = 25 + total / 2500  # the service's start-up grows with the ward and key files
    slot = slot_after(margin)
    station = write_station(folder, wards=wards, receivers=receivers, mqtt_port=port,
                            prefix=prefix, database=db_url, slot=slot, keys=keys)  # fmt: skip
    env = service_env(folder)
    subprocess.run(service_command(station, "db", "upgrade"), check=True, env=env,
                   capture_output=True, cwd=folder)  # fmt: skip
    log = folder / "run.log"
    log.unlink(missing_ok=True)
    began = time.time()
    with log.open("ab") as out:
        service = subprocess.Popen(service_command(station, "run"), stdout=out,
                                   stderr=subprocess.STDOUT, env=env, cwd=folder)  # fmt: skip
    watch: Watch | None = None
    try:
        ready = wait_line(log, "ready:", margin + 120)
        instant = slot.instant.timestamp()
        if ready is not None:
            checkpoint(db_url)
            ready = time.time()
        if ready is None or ready > instant - 1:
            raise RuntimeError(f"the service was not ready before the dispatch instant: see {log}")
        ready_peak = status_kb(service.pid, "VmHWM") / 1024  # the start-up's own peak
        spy = None if profile is None else start_spy(service.pid, profile, idle=idle)
        time.sleep(max(0.0, instant - time.time() - 0.02))
        cpu0 = _process_seconds(service.pid) or 0.0
        machine0 = _machine_seconds()
        watch = Watch(db_url)
        out_at = None
        polls = 0
        while (done := watch.acks()) < total:
            polls += 1
            if out_at is None and polls % OUT_EVERY == 0 and watch.out() >= total:
                out_at = time.time()
            if time.time() - instant > 600 or service.poll() is not None:
                raise RuntimeError(f"{done} of {total} acks recorded: see {log}")
            time.sleep(POLL_S)  # a benchmark's poll of another process's database
        ended = time.time()
        cpu = (_process_seconds(service.pid) or 0.0) - cpu0
        busy = busy_pct(machine0, _machine_seconds())
        peak = status_kb(service.pid, "VmHWM") / 1024
        counts = watch.counts()
        counts["machine_busy_pct"] = busy
        counts["ready_peak_mb"] = round(ready_peak)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        counts["reload_ms"] = reload_ms(service, log)
    finally:
        if watch is not None:
            watch.close()
        service.send_signal(signal.SIGTERM)
        try:
            service.wait(120)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait(10)
    if db_url.startswith("postgres"):  # the service's connections are closed: counted
        with psycopg.connect("postgresql://" + db_url.split("://", 1)[1]) as conn:
            counts["row_updates"] = _row_updates(conn)
    asked = time.perf_counter()
    shown = subprocess.run(service_command(station, "status"), env=env, cwd=folder,
                           capture_output=True, check=False)  # fmt: skip
    counts["status_ms"] = round((time.perf_counter() - asked) * 1000)
    counts["status_rc"] = shown.returncode
    checked = subprocess.run(service_command(station, "audit", "verify"), env=env, cwd=folder,
                             capture_output=True, check=False)  # fmt: skip
    counts["audit_verify_rc"] = checked.returncode  # 0: the hash chains verify
    out = (out_at or ended) - instant
    return ServiceFigures(total, ended - instant, out, cpu, peak, ready - began, counts)


def busy_pct(before: tuple[float, float] | None, after: tuple[float, float] | None) -> int:
    """How busy the whole machine was between two readings, in % of all its cores."""
    if before is None or after is None or after[1] <= before[1]:
        return -1
    return round(100 * (after[0] - before[0]) / (after[1] - before[1]))


def reload_ms(service: subprocess.Popen[bytes], log: Path) -> int:
    """SIGHUP, as `systemctl reload` sends it: milliseconds until the service says it reloaded
    its configuration (every ward file read and checked again), -1 if it did not in 120 s."""
    began = time.time()
    service.send_signal(signal.SIGHUP)
    seen = wait_line(log, "configuration reloaded", 120)
    return -1 if seen is None else round((seen - began) * 1000)


def start_spy(pid: int, output: Path, *, idle: bool = False) -> subprocess.Popen[bytes]:
    """py-spy sampling the service (every thread, 100 Hz, without pausing it) until SIGINT;
    ``idle``: waiting threads too (where the dispatching thread waits for the database)."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    return subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--rate", "100", "--format", "raw", "--threads",
         "--nonblocking", "--output", str(output), *(["--idle"] if idle else [])],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def top_frames(raw: Path, count: int = 15) -> str:
    """The functions most often on the CPU (self) and on the stack (inclusive), as shares of
    the samples, from py-spy's raw (collapsed) output."""
    own: Counter[str] = Counter()
    under: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")[1:]]  # no thread, line
        total += int(n)
        if frames:
            own[frames[-1]] += int(n)
        for frame in set(frames):
            under[frame] += int(n)
    lines = [f"{total} samples; self:"]
    lines += [f"  {n / total:6.1%}  {f}" for f, n in own.most_common(count)]
    lines += ["inclusive:"] + [f"  {n / total:6.1%}  {f}" for f, n in under.most_common(count)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10x1000,100x1000",
                        help="RECEIVERSxWARDS, comma-separated")  # fmt: skip
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--keep", type=Path, default=None, help="work here and keep it")
    parser.add_argument("--profile", action="store_true", help="py-spy the service's rounds")
    parser.add_argument("--idle", action="store_true",
                        help="with --profile: waiting threads' samples too")  # fmt: skip
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="ipfm-national-"))
    work.mkdir(parents=True, exist_ok=True)
    broker = PrivateBroker(work, RECOMMENDED_CONF.read_text())
    broker.start()
    url = f"mqtt://127.0.0.1:{broker.port}"
    results: list[tuple[str, int, list[ServiceFigures], list[LeastFigures]]] = []
    try:
        for size in args.sizes.split(","):
            receivers, wards = (int(x) for x in size.lower().split("x"))
            folder = work / f"{wards}x{receivers}"
            prefix = f"nat{receivers}"
            made = (folder / "keys").is_dir()
            if not made:
                write_station(folder, wards=wards, receivers=receivers, mqtt_port=broker.port,
                              prefix=prefix, database="", slot=slot_after(60))  # fmt: skip
            fleet = start_fleet(url, prefix, folder / "keys")
            try:
                for kind in args.databases.split(","):
                    ours: list[ServiceFigures] = []
                    least: list[LeastFigures] = []
                    for n in range(args.rounds):
                        db_url, drop = new_database(kind, folder, f"service{n}")
                        try:
                            spied = (
                                work / f"{kind}-{wards * receivers}-{n}.spy"
                                if args.profile
                                else None
                            )
                            s = service_round(folder, broker.port, prefix, db_url, wards,
                                              receivers, keys=False, profile=spied,
                                              idle=args.idle)  # fmt: skip
                            if spied is not None:
                                print(top_frames(spied), flush=True)
                        finally:
                            drop()
                        extra = f"start-up {s.startup_s:.1f} s, {s.counts}"
                        show("service", kind, s.receivers, s.seconds, s.out_s, s.cpu_s,
                             s.peak_rss_mb, extra)  # fmt: skip
                        ours.append(s)
                        db_url, drop = new_database(kind, folder, f"least{n}")
                        checkpoint(db_url)
                        machine0 = _machine_seconds()
                        try:
                            f = least_in_process(url, db_url, wards, receivers, prefix=prefix,
                                                 keys_dir=folder / "keys")  # fmt: skip
                        finally:
                            drop()
                        busy = busy_pct(machine0, _machine_seconds())
                        show("least", kind, f.receivers, f.seconds, f.out_s, f.cpu_s,
                             f.peak_rss_mb, f"acks {f.acks}, refused {f.refused}, "
                             f"machine_busy_pct {busy}")  # fmt: skip
                        least.append(f)
                    results.append((kind, wards * receivers, ours, least))
            finally:
                print(f"  (the fleet answered {stop_fleet(fleet)} commands)", flush=True)
    finally:
        broker.stop()
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    summary(results, args.rounds)


def show(who: str, kind: str, n: int, seconds: float, out: float, cpu: float, rss: float,
         extra: str) -> None:  # fmt: skip
    print(f"  {who:8} {kind:10} {n:>7,}: {seconds:6.2f} s to the last ack recorded, commands "
          f"out at {out:.2f} s; CPU {cpu:.2f} s ({cpu * 10_000 / n:.2f} per 10,000), peak RSS "
          f"{rss:.0f} MB; {extra}", flush=True)  # fmt: skip


def summary(
    results: list[tuple[str, int, list[ServiceFigures], list[LeastFigures]]], rounds: int
) -> None:
    print(
        f"\none slot, private mosquitto (config/mosquitto/ipfm.conf), {rounds} round(s), medians:"
    )
    print("| database | receivers | service s | least s | ratio | service RSS MB | service "
          "CPU-s/10k | least CPU-s/10k |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    med = statistics.median
    for kind, n, ours, least in results:
        s, f = med(x.seconds for x in ours), med(x.seconds for x in least)
        rss = max(x.peak_rss_mb for x in ours)
        cpu_s = med(x.cpu_s for x in ours) * 10_000 / n
        cpu_f = med(x.cpu_s for x in least) * 10_000 / n
        print(f"| {kind} | {n:,} | {s:.2f} | {f:.2f} | {f / s:.2f} | {rss:.0f} | {cpu_s:.2f} | "
              f"{cpu_f:.2f} |")  # fmt: skip
    print("ratio: the least dispatcher's time / the service's (target >= 0.6 at 100,000)")


if __name__ == "__main__":
    main()
