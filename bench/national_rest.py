"""The rest of the service at national scale (issue 15, item 3): 1,000 wards x 100 receivers.

On a generated station (``bench/station.py``: 1,000 ward files of 100 loudspeakers, signing on,
100,000 receiver key files) and an airing log filled directly (bulk inserts, chained as the
service writes them, as ``bench/history.py`` does):

* week W: 7 airings per ward (one a day), 700,000 commands and acks (95 % completed);
* week W+1: Monday's slot, 100,000 commands, 10 % of them ``failed (device)``.

Then, in this process, through the service's own code (the real ``Repository``):

* **reload**: what a SIGHUP re-reads (``load_config``: 1,000 ward files and 100,000 key files
  read and checked) and records (the configuration's snapshot), and the plan built from it;
  (``bench.national`` times the SIGHUP itself on a running service);
* **week close**: ``Weekly.close_weeks`` closing W (every receiver's verdict, 100,000 rows);
* **make-up sweep**: ``Weekly.makeups`` after Monday's slot of W+1 (10,000 receivers short:
  one make-up per ward, ``core/makeup.py``), and storing the 1,000 make-up airings;
* **status**: ``ipfm-scheduler status`` (a process, as an operator runs it), no service running;
  and **status_late**: what it does as week W ends (Sunday 23:00: the week's 700,000 commands,
  and the next Monday's), in this process: the configuration read, ``gather``, the text;
* **report --week W**: what ``ipfm-scheduler report --week`` does (table and CSV).

Each against the issue's bound: 10 s. The service's own steps (reload, week close, sweep, storing)
run with the garbage collector's thresholds `run` sets (``systemd.collect_less``); `status` and
`report`, commands of their own, with Python's.

    python -m bench.national_rest [--wards 1000] [--receivers 100] [--databases sqlite,postgresql]
        [--steps reload,close,sweep,store,status,status_late,report] [--keep FOLDER]

``--keep FOLDER`` keeps the station and the filled databases (``FOLDER/sqlite.db``, the
PostgreSQL database ``ipfm_bench_keep_<FOLDER's name>``) for the next run, which skips the fill:
run the read-only steps (``--steps status,report``) again on the same log. Remove them yourself.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.history import command_and_ack, database
from bench.station import TZ, Slot, service_command, service_env, write_station
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.service import systemd
from ipfm_scheduler.service.agenda import Plan
from ipfm_scheduler.service.http.metrics import Metrics
from ipfm_scheduler.service.weekly import Weekly
from ipfm_scheduler.service.wiring import config_loader
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.audit import open_for_audit
from ipfm_scheduler.storage.chain import Appender
from ipfm_scheduler.storage.db import open_engine
from ipfm_scheduler.storage.migrate import upgrade
from ipfm_scheduler.storage.report import week_report
from ipfm_scheduler.storage.repository import Repository

BOUND_S = 10.0
CHUNK = 20_000
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
STEPS = ("reload", "close", "sweep", "store", "status", "status_late", "report")


@contextmanager
def kept_database(kind: str, folder: Path) -> Iterator[str]:
    """The URL of the database of ``kind`` kept in (or beside) ``folder``: made if missing."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'sqlite.db'}"
        return
    name = f"ipfm_bench_keep_{folder.resolve().name}".replace("-", "_")
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        there = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if there.first() is None:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    yield make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)


def airing(
    aid: int, ward: str, start: datetime, week: IsoWeek, snapshot: int, outcome: str
) -> dict[str, Any]:
    return {
        "id": aid, "ward": ward, "programme": "kh179",
        "planned_start": start.astimezone(UTC),
        "planned_local": start.isoformat(timespec="seconds"),
        "week": str(week), "expires_at": (start + timedelta(minutes=30)).astimezone(UTC),
        "origin": "scheduled", "priority": "normal", "volume": 80, "audio_sha256": "5" * 64,
        "snapshot_id": snapshot, "outcome": outcome,
        "created_at": (start - timedelta(minutes=2)).astimezone(UTC),
        "makeup_for": None, "makeup_week": None, "note": None,
    }  # fmt: skip


def failed(pair: tuple[dict[str, Any], dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    command, ack = pair
    command.update(state="failed", detail="device", played_s=None)
    ack.update(status="failed", detail="device", played_s=None, state_after="failed")
    return command, ack


def insert(engine: Any, airings: list[dict[str, Any]], receivers: int, rng: random.Random,
           fail: Callable[[int], bool] | None) -> int:  # fmt: skip
    pairs = []
    for a in airings:
        for r in range(receivers):
            pair = command_and_ack(a, f"loa-{r:02d}", rng)
            if fail is not None:
                pair = failed(pair) if fail(r) else _completed(pair)
            pairs.append(pair)
    with engine.begin() as conn:  # chained as the service writes them (storage/chain.py)
        for table, rows in ((t.airings, airings), (t.commands, [c for c, _ in pairs]),
                            (t.acks, [a for _, a in pairs])):  # fmt: skip
            chain = Appender.open(conn, table)
            chain.add(rows)
            conn.execute(table.insert(), rows)
            chain.close()
    return len(pairs)


def _completed(
    pair: tuple[dict[str, Any], dict[str, Any]],
) -> tuple[dict[str, Any], dict[str, Any]]:
    command, ack = pair
    command.update(state="completed", detail=None, played_s=612.4)
    ack.update(status="completed", detail=None, played_s=612.4, state_after="completed")
    return command, ack


def fill(url: str, loaded: Any, wards: int, receivers: int, week: IsoWeek) -> tuple[int, int]:
    """Week ``week``: 7 airings a ward; the next week: Monday 06:00, 10 % failed. Returns the
    snapshot id and the commands written."""
    engine = open_engine(url)
    upgrade(engine)
    snapshot = Repository(engine).record_config(loaded, now=week.start(TZ) - timedelta(days=1))
    rng, aid, written, batch = random.Random(179), 0, 0, []
    per_batch = max(1, CHUNK // receivers)
    for w in range(wards):
        for day in range(7):
            aid += 1
            start = datetime.combine(week.monday + timedelta(days=day), clock(6), tzinfo=TZ)
            batch.append(airing(aid, f"w{w:04d}", start, week, snapshot, "partial"))
            if len(batch) >= per_batch:
                written, batch = written + insert(engine, batch, receivers, rng, None), []
    written += insert(engine, batch, receivers, rng, None) if batch else 0
    following, batch = week.next(), []
    monday = datetime.combine(following.monday, clock(6), tzinfo=TZ)
    for w in range(wards):
        aid += 1
        batch.append(airing(aid, f"w{w:04d}", monday, following, snapshot, "partial"))
        if len(batch) >= per_batch:
            written, batch = written + insert(engine, batch, receivers, rng, _tenth), []
    written += insert(engine, batch, receivers, rng, _tenth) if batch else 0
    engine.dispose()
    if url.startswith("postgres"):
        with open_engine(url).begin() as conn:  # the ids above were given, not drawn
            conn.exec_driver_sql("SELECT setval('airings_id_seq', (SELECT max(id) FROM airings))")
            conn.exec_driver_sql("ANALYZE")
    return snapshot, written


def _tenth(receiver: int) -> bool:
    return receiver % 10 == 0


def edit_one(folder: Path) -> None:
    """A ward file's name and a receiver's key changed (a new configuration to record)."""
    ward = folder / "wards" / "w0000.yaml"
    ward.write_text(ward.read_text(encoding="utf-8").replace("name: Phường 0", "name: P0"), "utf-8")
    (key,) = (folder / "keys" / "receivers" / "w0001" / "loa-01").glob("*.key")
    key.write_text(secrets.token_hex(32) + "\n", encoding="ascii")


def _cpu() -> float:
    """CPU seconds of this process and of its children waited for (`status`, the processes
    that read the ward files); not the database server's."""
    mine, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return sum(u.ru_utime + u.ru_stime for u in (mine, children))


def timed(
    label: str, step: Callable[[], object], lines: list[str], *, service: bool = True
) -> object:
    """Time ``step``; ``service``: a step of the service's own process, run with its garbage
    collector's thresholds (``systemd.collect_less``, which `run` sets); the others (`status`,
    `report`: commands of their own) with Python's."""
    before = gc.get_threshold()
    if service:
        systemd.collect_less()
    try:
        started, cpu = time.perf_counter(), _cpu()
        result = step()
        took, cpu = time.perf_counter() - started, _cpu() - cpu
    finally:
        gc.set_threshold(*before)
    over = "  OVER 10 s" if took > BOUND_S else ""
    line = f"  {label:<58}{took:>8.2f} s ({cpu:.1f} CPU-s)  {result}{over}"
    print(line, flush=True)
    lines.append(line)
    return result


def bench(
    kind: str, folder: Path, wards: int, receivers: int, lines: list[str],
    steps: tuple[str, ...] = STEPS, keep: bool = False,
) -> None:  # fmt: skip
    week = IsoWeek.containing(datetime.now(UTC), TZ).previous()
    following = week.next()
    monday = datetime.combine(following.monday, clock(6), tzinfo=TZ)
    filled = folder / f"filled-{kind}-{wards}x{receivers}-{week}"
    with kept_database(kind, folder) if keep else database(kind, PG_ADMIN) as url:
        station = write_station(folder, wards=wards, receivers=receivers, mqtt_port=1,
                                prefix="ipfm", database=url, slot=Slot(monday, 60),
                                keys=not (folder / "keys").exists())  # fmt: skip
        loader = config_loader()  # the service's: a reload reads again only what changed
        started = time.perf_counter()
        loaded = loader(station, monday.date())
        print(f"{kind}: first load (the service's start) {time.perf_counter() - started:.1f} s")
        if keep and filled.exists():
            snapshot = int(filled.read_text())
            print(f"{kind}: the log kept in {folder} (snapshot {snapshot})")
        else:
            started = time.perf_counter()
            snapshot, written = fill(url, loaded, wards, receivers, week)
            took = time.perf_counter() - started
            print(f"{kind}: filled {written:,} commands and acks in {took:.0f} s")
            if keep:
                filled.write_text(str(snapshot))
        engine = open_engine(url)
        repo = Repository(engine)
        lines.append(f"{kind}, {wards:,} wards x {receivers} receivers:")

        def reload() -> str:
            again = loader(station, monday.date())
            assert again.station is not None
            assert again.schedule is not None
            recorded = repo.record_config(again, now=monday)
            plan = Plan(again.station, again.schedule, snapshot)
            return f"{len(plan.schedule.wards):,} wards, snapshot {recorded}"

        if "reload" in steps:
            timed("reload (load_config + record_config + Plan)", reload, lines)
            edit_one(folder)
            timed("reload, one ward file and one key changed", reload, lines)
        assert loaded.station is not None
        assert loaded.schedule is not None
        plan = Plan(loaded.station, loaded.schedule, snapshot)
        weekly = Weekly(repo, Metrics())
        close_at = datetime.combine(following.monday, clock(1), tzinfo=TZ)

        def close() -> str:  # as the sweeps close it: step by step (Weekly.close_step)
            steps: list[float] = []
            weeks: list[IsoWeek] = []
            while not weeks:
                started = time.perf_counter()
                weeks = weekly.close_step(plan, close_at, expire_grace=timedelta(minutes=2))
                steps.append(time.perf_counter() - started)
            return f"closed {weeks[0]}: {len(steps)} steps, the longest {max(steps):.2f} s"

        if "close" in steps:
            timed(f"week close {week} ({wards * receivers:,} verdicts)", close, lines)
        after_slot = monday + timedelta(hours=1)
        items: list[Any] = []

        def sweep() -> str:
            items.extend(weekly.makeups(plan, after_slot))
            return f"{len(items):,} make-ups, {sum(len(i.commands) for i in items):,} commands"

        if "sweep" in steps:
            timed("make-up sweep after a slot with 10 % failed", sweep, lines)

        def store() -> str:
            stored = repo.store_airings(items, snapshot_id=snapshot, now=after_slot)
            return f"{len(stored):,} stored"

        if "store" in steps:
            timed("storing the make-ups", store, lines)

        def status() -> str:
            command = service_command(station, "status")
            env = service_env(folder)
            shown = subprocess.run(
                command, check=False, env=env, cwd=folder, capture_output=True, timeout=600
            )
            return f"exit {shown.returncode}"

        if "status" in steps:
            timed("status", status, lines, service=False)

        def status_late() -> str:
            # `status` as the week ends (the CLI reads the clock): its 700,000 commands
            from ipfm_scheduler.cli.status_view import gather, render_text
            from ipfm_scheduler.config.loader import load

            late = (week.end(TZ) - timedelta(hours=1)).astimezone(UTC)
            shown = load(station, today=late.date(), secrets=False)
            view = gather(repo, shown, late, live_within=timedelta(seconds=20))
            return f"{len(render_text(view)):,} characters"

        if "status_late" in steps:
            timed("status as of Sunday 23:00 (in process: load, gather, text)", status_late, lines,
                  service=False)  # fmt: skip

        def report() -> str:
            with open_for_audit(url) as conn:
                result = week_report(conn, week, now=close_at)
            from ipfm_scheduler.cli import audit_render as render

            render.report_table(result)
            render.csv_bytes(render.REPORT_COLUMNS, render.report_rows(result))
            return f"{sum(len(g.receivers) for g in result.groups):,} receivers"

        if "report" in steps:
            timed(f"report --week {week}", report, lines, service=False)
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wards", type=int, default=1000)
    parser.add_argument("--receivers", type=int, default=100)
    parser.add_argument("--databases", default="sqlite")
    parser.add_argument("--steps", default=",".join(STEPS), help="some of " + ",".join(STEPS))
    keep = "keep the station and the filled logs here, for the next run"
    parser.add_argument("--keep", type=Path, default=None, metavar="FOLDER", help=keep)
    args = parser.parse_args(argv)
    steps = tuple(s.strip() for s in args.steps.split(","))
    if unknown := set(steps) - set(STEPS):
        parser.error(f"unknown steps: {', '.join(sorted(unknown))}")
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ipfm-rest-") as tmp:
        folder = Path(tmp) if args.keep is None else args.keep
        folder.mkdir(parents=True, exist_ok=True)
        for kind in args.databases.split(","):
            bench(
                kind.strip(),
                folder,
                args.wards,
                args.receivers,
                lines,
                steps,
                args.keep is not None,
            )
    print("\n" + "\n".join(lines))
    return 1 if any("OVER" in line for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main())
