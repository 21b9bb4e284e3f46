"""The database and auditors' commands, run as a user runs them."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from ipfm_scheduler.cli import main
from ipfm_scheduler.core.commands import AckStatus
from ipfm_scheduler.errors import StorageError
from ipfm_scheduler.storage.db import open_engine, read_only_query
from ipfm_scheduler.storage.repository import Repository
from tests.storage.storage_factories import World

BOM = b"\xef\xbb\xbf"


@dataclass
class Run:
    code: int
    out: bytes
    err: str

    @property
    def text(self) -> str:
        return self.out.decode("utf-8")


def run(*args: str, env: dict[str, str] | None = None) -> Run:
    """``ipfm-scheduler ARGS`` in this process, through the real entry point (exit codes too)."""
    runner = CliRunner(env=env)
    with runner.isolation() as streams:
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = streams[0].getvalue(), streams[1].getvalue()
    return Run(code, out, err.decode("utf-8"))


def recorded_week(db_url: str) -> None:
    """Week 2025-W48: cam-trung's loa-01 completed, loa-02 failed; cửa Ông aired nothing."""
    engine = open_engine(db_url)
    world = World(Repository(engine))
    _, (one, two) = world.airing()
    world.answer("cam-trung", "loa-01", one, AckStatus.COMPLETED)
    world.answer("cam-trung", "loa-02", two, AckStatus.FAILED, detail="device")
    engine.dispose()


# --- db upgrade / check -----------------------------------------------------------------------


def test_db_upgrade_creates_the_schema_then_changes_nothing(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'new' / 'ipfm.db'}"
    first, second = run("db", "upgrade", "--database", url), run("db", "upgrade", "--database", url)
    assert (first.code, second.code) == (0, 0)
    assert "upgraded from schema empty to 0003_hash_chain (the latest)" in first.text
    assert "already at schema 0003_hash_chain (the latest); nothing to do" in second.text
    check = run("db", "check", "--database", url)
    assert check.code == 0
    assert "schema 0003_hash_chain, latest 0003_hash_chain" in check.text


@pytest.mark.postgres
def test_db_upgrade_on_an_empty_postgresql_database(pg_databases):
    url = pg_databases()
    assert run("db", "upgrade", "--database", url).code == 0
    again = run("db", "upgrade", "--database", url)
    assert (again.code, "nothing to do" in again.text) == (0, True)
    assert run("db", "status", "--database", url).code == 0


def test_db_check_on_an_old_database_exits_4_and_names_the_command(tmp_path: Path):
    path = tmp_path / "old.db"
    sqlite3.connect(path).close()
    result = run("db", "check", "--database", f"sqlite:///{path}")
    assert result.code == 4
    assert "schema empty, latest 0003_hash_chain" in result.text
    assert "run `ipfm-scheduler db upgrade` first" in result.err


def test_db_upgrade_works_from_another_folder_as_a_separate_program(tmp_path: Path):
    script = Path(sys.executable).with_name("ipfm-scheduler")
    url = f"sqlite:///{tmp_path / 'x.db'}"
    done = subprocess.run(
        [str(script), "db", "upgrade", "--database", url],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "to 0003_hash_chain" in done.stdout


def test_the_database_comes_from_the_station_file_then_the_environment(tmp_path: Path):
    station = tmp_path / "config" / "ipfm.yaml"
    station.parent.mkdir()
    station.write_text("timezone: Asia/Ho_Chi_Minh\ndatabase: sqlite:///../var/ipfm.db\n")
    assert run("--config", str(station), "db", "upgrade").code == 0
    assert (tmp_path / "var" / "ipfm.db").is_file()  # relative to the station file
    env_db = tmp_path / "env.db"
    result = run(
        "--config", str(station), "db", "upgrade", env={"IPFM_DATABASE_URL": f"sqlite:///{env_db}"}
    )
    assert result.code == 0
    assert env_db.is_file()


def test_a_station_file_without_a_database_is_a_config_error(tmp_path: Path):
    station = tmp_path / "ipfm.yaml"
    station.write_text("timezone: Asia/Ho_Chi_Minh\n")
    result = run("--config", str(station), "db", "check", env={"IPFM_DATABASE_URL": ""})
    assert result.code == 3
    assert f"{station}: database: missing" in result.err


# --- report -----------------------------------------------------------------------------------


def test_report_table_names_short_receivers_and_exits_1(db_url: str):
    recorded_week(db_url)
    result = run("report", "--week", "2025-W48", "--database", db_url)
    assert result.code == 1
    text = result.text
    assert text.startswith(
        "Week 2025-W48: Monday 2025-11-24 to Sunday 2025-11-30 (Asia/Ho_Chi_Minh)"
    )
    assert "Phường Cẩm Trung" in text
    assert "cam-trung/loa-02: short: 1 command: failed (device)" in text
    assert "cua-ong/loa-01: short: no airing planned" in text
    assert "week 2025-W48 is short: cam-trung/kh179, cua-ong/kh179" in result.err


def test_report_csv_opens_in_excel_with_vietnamese_names(db_url: str, tmp_path: Path):
    recorded_week(db_url)
    out = tmp_path / "w48.csv"
    result = run(
        "report", "--week", "2025-W48", "--format", "csv", "-o", str(out), "--database", db_url
    )
    data = out.read_bytes()
    assert result.code == 1
    assert data.startswith(BOM)
    assert "Phường Cẩm Trung".encode() in data  # UTF-8, not a legacy code page
    assert b"\r\n" in data
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [(r["ward"], r["receiver"], r["verdict"]) for r in rows] == [
        ("cam-trung", "loa-01", "compliant"),
        ("cam-trung", "loa-02", "short"),
        ("cua-ong", "loa-01", "short"),
    ]
    assert rows[1]["reason"] == "1 command: failed (device)"


def test_report_json_for_tools(db_url: str):
    recorded_week(db_url)
    result = run(
        "report",
        "--week",
        "2025-W48",
        "--ward",
        "cam-trung",
        "--format",
        "json",
        "--database",
        db_url,
    )
    doc = json.loads(result.text)
    assert (doc["week"], doc["verdict"], doc["timezone"]) == (
        "2025-W48",
        "short",
        "Asia/Ho_Chi_Minh",
    )
    assert doc["from"] == "2025-11-24T00:00:00+07:00"
    (group,) = doc["groups"]
    assert group["ward_name"] == "Phường Cẩm Trung"
    assert [r["completed"] for r in group["receivers"]] == [1, 0]


def test_report_for_a_week_with_nothing_recorded_says_so_and_exits_1(db_url: str):
    recorded_week(db_url)
    table = run("report", "--week", "2025-W40", "--database", db_url)
    as_json = run("report", "--week", "2025-W40", "--format", "json", "--database", db_url)
    assert (table.code, table.out) == (1, b"")
    assert "nothing recorded for week 2025-W40 (all wards)" in table.err
    doc = json.loads(as_json.text)
    assert (as_json.code, doc["recorded"], doc["verdict"], doc["groups"]) == (
        1,
        False,
        "nothing recorded",
        [],
    )


def test_report_of_a_compliant_ward_exits_0(db_url: str):
    engine = open_engine(db_url)
    world = World(Repository(engine))
    _, (one,) = world.airing(ward="cua-ong", receivers=("loa-01",))
    world.answer("cua-ong", "loa-01", one, AckStatus.COMPLETED)
    engine.dispose()
    result = run("report", "--week", "2025-W48", "--ward", "cua-ong", "--database", db_url)
    assert result.code == 0, result.err
    assert "1 ward/programme pair: 1 compliant" in result.text


def test_report_refuses_a_bad_week_as_a_usage_error(db_url: str):
    result = run("report", "--week", "2026-W60", "--database", db_url)
    assert result.code == 2
    assert "2026 has weeks 1 to 53, not 60" in result.err


# --- log --------------------------------------------------------------------------------------


def test_log_csv_lists_each_receivers_outcome_with_local_times(db_url: str):
    recorded_week(db_url)
    result = run(
        "log",
        "--ward",
        "cam-trung",
        "--from",
        "2025-11-24",
        "--to",
        "2025-11-24",
        "--format",
        "csv",
        "--database",
        db_url,
    )
    assert result.code == 0
    assert result.out.startswith(BOM)
    rows = list(csv.DictReader(io.StringIO(result.out.decode("utf-8-sig"))))
    assert [(r["receiver"], r["state"], r["detail"]) for r in rows] == [
        ("loa-01", "completed", ""),
        ("loa-02", "failed", "device"),
    ]
    assert rows[0]["planned_local"] == "2025-11-24T06:00:00+07:00"
    assert rows[0]["first_sent"] == "2025-11-24T05:58:00+07:00"


def test_log_table_and_an_empty_selection(db_url: str):
    recorded_week(db_url)
    table = run("log", "--receiver", "loa-02", "--database", db_url)
    assert "2025-11-24 06:00:00+07:00" in table.text
    assert "1 row (times in Asia/Ho_Chi_Minh)" in table.text
    empty = run("log", "--from", "2027-01-01", "--database", db_url)
    assert (empty.code, empty.text) == (0, "no airings recorded (from 2027-01-01 00:00)\n")
    empty_csv = run("log", "--from", "2027-01-01", "--format", "csv", "--database", db_url)
    header = BOM + b"planned_local,week,ward,programme,origin,priority,airing_outcome,receiver,"
    assert empty_csv.out.startswith(header)  # the header alone: a tool sees zero rows
    assert empty_csv.out.count(b"\r\n") == 1
    assert "no airings recorded (from 2027-01-01 00:00)" in empty_csv.err
    backwards = run("log", "--from", "2025-11-25", "--to", "2025-11-24", "--database", db_url)
    assert backwards.code == 2


def test_log_table_says_an_airing_was_missed_and_why(db_url: str):
    """A missed airing (its window closed while no service ran) never gets a command: the table
    says `missed` with the reason, not `no command` as if one were still to come."""
    from ipfm_scheduler.core.model import Priority
    from ipfm_scheduler.core.traffic import AiringToStore
    from tests.storage.storage_factories import AUDIO, planned

    engine = open_engine(db_url)
    world = World(Repository(engine))
    note = "window closed before it could be sent (service not running)"
    item = AiringToStore(planned(), Priority.NORMAL, AUDIO, missed=True, note=note)
    world.repo.store_airings([item], snapshot_id=world.snapshot_id, now=world.now)
    engine.dispose()
    table = run("log", "--database", db_url)
    assert table.code == 0
    [row] = [line for line in table.text.splitlines() if line.startswith("2025-11-24")]
    assert row.split()[4:7] == ["scheduled", "-", "missed"]
    assert note in row
    assert "no command" not in table.text


# --- read-only use by auditors ----------------------------------------------------------------


def test_report_and_log_on_a_read_only_sqlite_copy_leave_it_untouched(
    tmp_path: Path, sqlite_template: Path
):
    live = tmp_path / "live.db"
    live.write_bytes(sqlite_template.read_bytes())
    recorded_week(f"sqlite:///{live}")
    copies = tmp_path / "copies"
    copies.mkdir()
    copy = copies / "audit.db"
    with sqlite3.connect(live) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)  # still in WAL mode, and no -shm file next to it
    copy.chmod(0o444)
    before = hashlib.sha256(copy.read_bytes()).hexdigest()
    url = f"sqlite:///{copy}"
    assert run("report", "--week", "2025-W48", "--database", url).code == 1
    assert run("log", "--format", "json", "--database", url).code == 0
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == before


def test_a_wal_copy_in_a_folder_we_may_not_write_is_opened_immutable(tmp_path: Path, monkeypatch):
    path = tmp_path / "audit.db"
    path.touch()
    assert read_only_query(path) == {"mode": "ro", "uri": "true"}
    monkeypatch.setattr("os.access", lambda *_args: False)
    assert read_only_query(path) == {"mode": "ro", "uri": "true", "immutable": "1"}


@pytest.mark.postgres
def test_report_and_log_work_for_a_postgresql_role_that_may_only_select(pg_databases):
    import psycopg

    url = pg_databases()
    assert run("db", "upgrade", "--database", url).code == 0
    recorded_week(url)
    role, password = f"ipfm_auditor_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    parsed = make_url(url)
    admin = {"host": parsed.host, "port": parsed.port, "user": "postgres", "autocommit": True}
    with psycopg.connect(dbname=parsed.database, **admin) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        conn.execute(f'GRANT CONNECT ON DATABASE "{parsed.database}" TO {role}')
        conn.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    try:
        auditor = parsed.set(username=role, password=password).render_as_string(hide_password=False)
        report = run("report", "--week", "2025-W48", "--format", "json", "--database", auditor)
        assert report.code == 1, report.err
        assert json.loads(report.text)["verdict"] == "short"
        assert run("log", "--database", auditor).code == 0
        assert run("db", "check", "--database", auditor).code == 0
        assert run("db", "upgrade", "--database", auditor).code == 0  # at head: nothing to write
        engine = open_engine(auditor)
        with pytest.raises(StorageError, match="permission denied"):
            Repository(engine).start_instance(host="h", pid=1, version="x", now=datetime.now(UTC))
        engine.dispose()
    finally:
        with psycopg.connect(dbname=parsed.database, **admin) as conn:
            conn.execute(f"DROP OWNED BY {role}")
        with psycopg.connect(dbname="postgres", **admin) as conn:
            conn.execute(f"DROP ROLE {role}")


def test_db_upgrade_from_the_first_schema_keeps_what_was_recorded(tmp_path: Path):
    """A database at schema 0001 (before receivers' clocks were kept) upgrades to 0002 with
    every row it held; the new column is empty until a receiver says its status again."""
    from ipfm_scheduler.storage.db import open_engine
    from ipfm_scheduler.storage.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = open_engine(url)
    upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO receiver_status (ward, receiver, online, since, last_seen_at, fw) "
            "VALUES ('cam-trung', 'loa-01', 1, '2026-12-01 00:00:00', '2026-12-01 00:05:00', '2.4')"
        )
    engine.dispose()
    done = run("db", "upgrade", "--database", url)
    assert done.code == 0
    assert "upgraded from schema 0001 to 0003_hash_chain (the latest)" in done.text
    engine = open_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT ward, receiver, fw, clock_offset_s FROM receiver_status"
            ).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [("cam-trung", "loa-01", "2.4", None)]
