"""A year of airing history, then the auditors' two questions, timed.

Generates ``--weeks`` weeks of history for ``--wards`` wards of ``--receivers`` receivers each
(default: 52 x 1,000 x 10 = 52,000 airings, 520,000 commands and 520,000 acknowledgements) with
bulk inserts, on SQLite (a temporary file) and on PostgreSQL (a throwaway database, dropped at the
end). Then it times what `ipfm-scheduler report --week` and `ipfm-scheduler log --ward --from
--to` do (open the database read-only, check its schema, query, render table and CSV) beside a
baseline measured in the same run: a plain ``SELECT count(*) FROM acks``, and what `audit verify`
does (the whole hash chain recomputed). Target: `report` and `log` each under 2 seconds.

    .venv/bin/python bench/history.py                    # both databases, full size
    .venv/bin/python bench/history.py --databases sqlite --wards 50 --weeks 4   # a quick look
"""

from __future__ import annotations

import argparse
import calendar
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from ipfm_scheduler.cli import audit_render as render
from ipfm_scheduler.cli import log_render
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.audit import LogFilter, airing_log, open_for_audit, station_zone
from ipfm_scheduler.storage.chain import Appender
from ipfm_scheduler.storage.chain_check import check_chain
from ipfm_scheduler.storage.db import open_engine, shown
from ipfm_scheduler.storage.migrate import upgrade
from ipfm_scheduler.storage.report import week_report
from ipfm_scheduler.storage.repository import Repository
from ipfm_scheduler.storage.snapshot import (
    ConfigSnapshot,
    SnapshotFile,
    SnapshotProgramme,
    SnapshotReceiver,
    SnapshotWard,
)

VN = ZoneInfo("Asia/Ho_Chi_Minh")
AUDIO = "5" * 64
FIRST_WEEK = IsoWeek(2025, 1)
CHUNK = 20_000
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wards", type=int, default=1000)
    parser.add_argument("--receivers", type=int, default=10)
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--pg-admin", default=PG_ADMIN, help="PostgreSQL maintenance database")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each step")
    return parser.parse_args(argv)


@contextmanager
def database(kind: str, pg_admin: str) -> Iterator[str]:
    """The URL of an empty database of ``kind``, removed afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="ipfm-bench-") as folder:
            yield f"sqlite:///{Path(folder) / 'history.db'}"
        return
    name = f"ipfm_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_admin, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(pg_admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# --- generating the history -------------------------------------------------------------------


def ward_id(i: int) -> str:
    return f"ward-{i:04d}"


def station(wards: int, receivers: int) -> ConfigSnapshot:
    programme = SnapshotProgramme("kh179", "Kế hoạch 179-KH/TU", 1, 612.4, AUDIO, date(2022, 7, 4))
    return ConfigSnapshot(
        "Asia/Ho_Chi_Minh",
        (SnapshotFile("config/ipfm.yaml", "station", "timezone: Asia/Ho_Chi_Minh\n"),),
        (programme,),
        tuple(
            SnapshotWard(
                ward_id(w),
                f"Phường số {w}",
                tuple(SnapshotReceiver(f"loa-{r:02d}", True, f"Tổ {r}") for r in range(receivers)),
            )
            for w in range(wards)
        ),
    )


def airing_rows(args: argparse.Namespace, snapshot_id: int) -> Iterator[dict[str, Any]]:
    airing_id = 0
    for week in (FIRST_WEEK + n for n in range(args.weeks)):
        for w in range(args.wards):
            airing_id += 1
            day = week.monday + timedelta(days=w % 7)
            start = datetime.combine(day, clock(6 if w % 2 else 17, 0), tzinfo=VN)
            yield {
                "id": airing_id,
                "ward": ward_id(w),
                "programme": "kh179",
                "planned_start": start.astimezone(UTC),
                "planned_local": start.isoformat(timespec="seconds"),
                "week": str(week),
                "expires_at": (start + timedelta(minutes=30)).astimezone(UTC),
                "origin": "scheduled",
                "priority": "normal",
                "volume": 80,
                "audio_sha256": AUDIO,
                "snapshot_id": snapshot_id,
                "outcome": "completed",
                "created_at": (start - timedelta(days=7)).astimezone(UTC),
                "makeup_for": None,
                "makeup_week": None,
                "note": None,
            }


# state, ack status, detail: 95% completed, the rest failed, rejected or left unanswered
FATES = [("completed", "completed", None)] * 95 + [
    ("failed", "failed", "device"),
    ("failed", "failed", "download"),
    ("rejected", "rejected", "expired"),
    ("expired", "received", None),
    ("expired", "received", None),
]


def command_and_ack(airing: dict[str, Any], receiver: str, rng: random.Random) -> tuple[dict, dict]:
    cid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    start, ward = airing["planned_start"], airing["ward"]
    state, status, detail = rng.choice(FATES)
    sent, answered = start - timedelta(minutes=2), start + timedelta(seconds=620)
    payload = (
        f'{{"v":1,"type":"play","id":"{cid}","programme":"kh179","title":"Kế hoạch 179-KH/TU",'
        f'"audio":{{"url":"http://127.0.0.1:8079/audio/{AUDIO}.mp3","sha256":"{AUDIO}",'
        f'"bytes":4915200,"duration_s":612.4,"format":"mp3"}},"volume":80,"priority":"normal",'
        f'"start_at":"{airing["planned_local"]}","sig":{{"alg":"HMAC-SHA256","kid":"k",'
        f'"mac":"{AUDIO}"}}}}'
    ).encode()
    command = {
        "id": cid,
        "airing_id": airing["id"],
        "ward": ward,
        "receiver": receiver,
        "topic": f"ipfm/{ward}/{receiver}/cmd",
        "payload": payload,
        "state": state,
        "expires_at": airing["expires_at"],
        "created_at": sent,
        "attempts": 1,
        "first_sent_at": sent,
        "last_sent_at": sent,
        "last_attempt_at": sent,
        "state_at": answered,
        "detail": detail,
        "played_s": 612.4 if state == "completed" else None,
        "receiver_at": answered,
    }
    ack = {
        "command_id": cid,
        "ward": ward,
        "receiver": receiver,
        "status": status,
        "detail": detail,
        "played_s": command["played_s"],
        "receiver_at_text": answered.astimezone(VN).isoformat(),
        "receiver_at": answered,
        "received_at": answered,
        "raw": f'{{"v":1,"id":"{cid}","status":"{status}"}}'.encode(),
        "changed_state": True,
        "state_after": state if status != "received" else "received",
        "verified": False,
    }
    return command, ack


def generate(url: str, args: argparse.Namespace) -> dict[str, int]:
    engine = open_engine(url)
    upgrade(engine)
    snapshot_id = Repository(engine).record_snapshot(
        station(args.wards, args.receivers), now=datetime(2024, 12, 30, tzinfo=UTC)
    )
    rng = random.Random(179)
    counts = {"airings": 0, "commands": 0, "acks": 0}
    airings: list[dict[str, Any]] = []
    for airing in airing_rows(args, snapshot_id):
        airings.append(airing)
        if len(airings) * args.receivers >= CHUNK:
            _insert_batch(engine, airings, args.receivers, rng, counts)
            airings = []
    _insert_batch(engine, airings, args.receivers, rng, counts)
    _offline_events(engine, args.wards)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ANALYZE"))  # what autovacuum does after a bulk load
    engine.dispose()
    return counts


def _insert_batch(
    engine: Engine,
    airings: list[dict[str, Any]],
    receivers: int,
    rng: random.Random,
    counts: dict[str, int],
) -> None:
    if not airings:
        return
    pairs = [command_and_ack(a, f"loa-{r:02d}", rng) for a in airings for r in range(receivers)]
    with engine.begin() as conn:  # chained as the service writes them (storage/chain.py)
        for table, rows in (
            (t.airings, airings),
            (t.commands, [c for c, _ in pairs]),
            (t.acks, [a for _, a in pairs]),
        ):
            chain = Appender.open(conn, table)
            chain.add(rows)
            conn.execute(table.insert(), rows)
            chain.close()
    counts["airings"] += len(airings)
    counts["commands"] += len(pairs)
    counts["acks"] += len(pairs)


def _offline_events(engine: Engine, wards: int) -> None:
    at = datetime(2025, 7, 16, 6, 2, tzinfo=VN).astimezone(UTC)
    rows = [
        {
            "ward": ward_id(w),
            "receiver": "loa-03",
            "state": state,
            "received_at": at + shift,
            "raw": b"{}",
        }
        for w in range(0, wards, 50)
        for state, shift in (("online", timedelta(days=-30)), ("offline", timedelta(0)))
    ]
    with engine.begin() as conn:
        conn.execute(t.receiver_status_events.insert(), rows)


# --- timing -----------------------------------------------------------------------------------


def timed(step: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    """(first run, median of the runs, the step's result) in seconds."""
    runs, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = step()
        runs.append(time.perf_counter() - start)
    return runs[0], statistics.median(runs), result


def baseline(url: str) -> int:
    engine = open_engine(url, read_only=True)
    with engine.connect() as conn:
        n = int(conn.execute(text("SELECT count(*) FROM acks")).scalar_one())
    engine.dispose()
    return n


def report_step(url: str, week: IsoWeek) -> int:
    """What `ipfm-scheduler report --week W --format csv` and `--format table` do."""
    with open_for_audit(url) as conn:
        result = week_report(conn, week, now=datetime(2026, 1, 5, tzinfo=UTC))
    render.report_table(result)
    render.csv_bytes(render.REPORT_COLUMNS, render.report_rows(result))
    return sum(len(g.receivers) for g in result.groups)


def log_step(url: str, ward: str, first: date, last: date) -> int:
    """What `ipfm-scheduler log --ward W --from D --to D` does (table and CSV)."""
    with open_for_audit(url) as conn:
        zone = station_zone(conn)
        start = datetime.combine(first, clock(0), tzinfo=zone)
        end = datetime.combine(last + timedelta(days=1), clock(0), tzinfo=zone)
        rows = airing_log(conn, LogFilter(ward=ward, start=start, end=end))
    log_render.log_table(rows, zone)
    render.csv_bytes(log_render.LOG_COLUMNS, log_render.log_rows(rows, zone))
    return len(rows)


def verify_step(url: str) -> int:
    """What `ipfm-scheduler audit verify` does: the whole hash chain, recomputed."""
    with open_for_audit(url) as conn:
        checks = check_chain(conn)
    broken = [str(c.broken) for c in checks if c.broken is not None]
    if broken:
        raise RuntimeError(f"the generated log does not verify: {broken}")
    return sum(c.rows for c in checks)


def bench(kind: str, args: argparse.Namespace) -> list[tuple[str, str, float, float, str]]:
    with database(kind, args.pg_admin) as url:
        started = time.perf_counter()
        counts = generate(url, args)
        made = time.perf_counter() - started
        what = ", ".join(f"{n:,} {name}" for name, n in counts.items())
        print(f"{kind}: generated {what} in {made:.1f} s ({shown(url)})", flush=True)
        week = FIRST_WEEK + min(29, args.weeks - 1)
        ward = ward_id(args.wards // 2)
        year, number = week.monday.year, week.monday.month
        month = (date(year, number, 1), date(year, number, calendar.monthrange(year, number)[1]))
        steps = [
            ("baseline: SELECT count(*) FROM acks", lambda: baseline(url)),
            (f"report --week {week}", lambda: report_step(url, week)),
            (
                f"log --ward {ward} --from {month[0]} --to {month[1]}",
                lambda: log_step(url, ward, *month),
            ),
            ("audit verify (every chained row)", lambda: verify_step(url)),
        ]
        return [
            (kind, label, first, median, f"{result:,} rows")
            for label, step in steps
            for first, median, result in [timed(step, args.repeat)]
        ]


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    lines = []
    for kind in args.databases.split(","):
        lines += bench(kind.strip(), args)
    print(f"\n{'database':<11}{'step':<56}{'first s':>9}{'median s':>10}{'x baseline':>12}  result")
    base: dict[str, float] = {}
    slow = False
    for kind, label, first, median, result in lines:
        base.setdefault(kind, median)
        ratio = median / base[kind] if base[kind] else float("nan")
        aimed = label.startswith(("report", "log"))  # the 2 s target is the auditors' questions
        over = "" if not aimed or max(first, median) < 2.0 else "  OVER 2 s"
        slow = slow or bool(over)
        print(f"{kind:<11}{label:<56}{first:>9.3f}{median:>10.3f}{ratio:>12.1f}  {result}{over}")
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
