"""Engines, URLs, timestamps and the schema's migrations, on both databases."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, inspect, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import StatementError

from ipfm_scheduler.config.addresses import database_url
from ipfm_scheduler.errors import SchemaOutOfDate, SchemaTooNew, StorageError, ValueInvalid
from ipfm_scheduler.storage.db import (
    open_engine,
    parse_url,
    require_current,
    shown,
)
from ipfm_scheduler.storage.migrate import drift, head_revision, script_location, upgrade
from ipfm_scheduler.storage.types import UtcDateTime, safe_text, to_utc

ROOT = Path(__file__).resolve().parents[2]

# --- URLs and engines -------------------------------------------------------------------------


def test_postgresql_urls_mean_psycopg_3():
    assert parse_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert parse_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert parse_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"


@pytest.mark.parametrize("url", ["mysql://u@h/db", "postgresql+psycopg2://u@h/db", "not a url"])
def test_unsupported_or_malformed_urls_are_refused_plainly(url: str):
    with pytest.raises(StorageError, match=r"expected sqlite:///path/to/ipfm\.db or postgresql"):
        parse_url(url)


def test_shown_urls_hide_the_password():
    assert (
        shown("postgresql+psycopg://auditor:s3cret@h/db") == "postgresql+psycopg://auditor:***@h/db"
    )


def test_a_read_only_sqlite_engine_is_shown_by_its_plain_url(tmp_path: Path):
    path = tmp_path / "ipfm.db"
    path.touch()
    engine = open_engine(f"sqlite:///{path}", read_only=True)
    assert shown(engine.url) == f"sqlite:///{path}"


def test_relative_sqlite_paths_are_relative_to_the_naming_file(tmp_path: Path):
    assert database_url("sqlite:///var/ipfm.db", tmp_path) == f"sqlite:///{tmp_path}/var/ipfm.db"
    assert database_url("sqlite:////abs/ipfm.db", tmp_path) == "sqlite:////abs/ipfm.db"
    assert database_url("postgresql://h/db", tmp_path) == "postgresql+psycopg://h/db"


def test_sqlite_engine_creates_the_folder_and_sets_its_pragmas(tmp_path: Path):
    path = tmp_path / "deep" / "er" / "ipfm.db"
    engine = open_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        pragmas = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in (
                "journal_mode",
                "foreign_keys",
                "busy_timeout",
                "synchronous",
                "cache_size",
            )
        }
    engine.dispose()
    assert path.is_file()
    assert pragmas == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "busy_timeout": 15000,
        "synchronous": 1,
        "cache_size": -8192,  # KiB: 8 MiB, not SQLite's 2,000 KiB (storage/db.py)
    }


def test_read_only_sqlite_engine_reads_but_never_writes(tmp_path: Path):
    path = tmp_path / "ro.db"
    writer = open_engine(f"sqlite:///{path}")
    with writer.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE x (n INTEGER)")
        conn.exec_driver_sql("INSERT INTO x VALUES (1)")
    writer.dispose()
    reader = open_engine(f"sqlite:///{path}", read_only=True)
    with reader.connect() as conn:
        assert conn.exec_driver_sql("SELECT n FROM x").scalar() == 1
    with pytest.raises(Exception, match="readonly"), reader.begin() as conn:
        conn.exec_driver_sql("INSERT INTO x VALUES (2)")
    reader.dispose()


def test_read_only_open_of_a_missing_sqlite_file_says_so(tmp_path: Path):
    with pytest.raises(StorageError, match=r"database file .*missing\.db does not exist"):
        open_engine(f"sqlite:///{tmp_path / 'missing.db'}", read_only=True)


@pytest.mark.postgres
def test_an_unreachable_postgresql_server_is_a_storage_error():
    from ipfm_scheduler.storage.repository import Repository

    engine = open_engine("postgresql+psycopg://postgres@127.0.0.1:1/nowhere?connect_timeout=2")
    with pytest.raises(
        StorageError, match=r"database postgresql\+psycopg://postgres@127\.0\.0\.1:1/"
    ):
        Repository(engine).open_commands()


# --- timestamps -------------------------------------------------------------------------------

stamps = Table(
    "stamps", MetaData(), Column("id", Integer, primary_key=True), Column("at", UtcDateTime())
)


@pytest.fixture
def stamps_table(db: Engine) -> Iterator[Table]:
    """A scratch table with a UtcDateTime column, dropped afterwards (the schema stays clean)."""
    stamps.create(db)
    yield stamps
    stamps.drop(db)


def test_utc_times_survive_the_round_trip_aware_and_in_utc(db: Engine, stamps_table: Table):
    moments = [
        datetime(2026, 11, 29, 23, 0, 0, 123456, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
    ]
    with db.begin() as conn:
        conn.execute(stamps.insert(), [{"id": i, "at": m} for i, m in enumerate(moments)])
    with db.connect() as conn:
        back = conn.execute(select(stamps.c.at).order_by(stamps.c.id)).scalars().all()
    assert back == moments
    assert all(b.tzinfo is UTC for b in back)


@pytest.mark.parametrize(
    "bad",
    [
        datetime(2026, 11, 29, 6, 0),
        datetime(2026, 11, 29, 6, 0, tzinfo=timezone(timedelta(hours=7))),
    ],
)
def test_naive_or_non_utc_times_are_refused_by_the_column(
    db: Engine, stamps_table: Table, bad: datetime
):
    with pytest.raises(StatementError, match="UTC"), db.begin() as conn:
        conn.execute(stamps.insert().values(id=1, at=bad))


def test_to_utc_converts_aware_and_refuses_naive():
    vn = timezone(timedelta(hours=7))
    assert to_utc(datetime(2026, 11, 30, 6, 0, tzinfo=vn)) == datetime(
        2026, 11, 29, 23, 0, tzinfo=UTC
    )
    with pytest.raises(ValueInvalid, match="no time zone"):
        to_utc(datetime(2026, 11, 30, 6, 0), "now")


def test_safe_text_keeps_what_a_receiver_sent_in_storable_form():
    assert safe_text("Cẩm Phả") == "Cẩm Phả"
    assert safe_text("a\x00b") == "a\\x00b"
    assert safe_text("lone \ud800 surrogate") == "lone \\ud800 surrogate"
    assert safe_text(None) is None


# --- migrations -------------------------------------------------------------------------------


def test_the_migrated_schema_matches_the_tables_no_drift(db: Engine):
    """`alembic check`, in code: autogenerate finds nothing to change on either database."""
    assert drift(db) == []


def test_alembic_check_from_the_command_line_finds_no_drift(db_url: str):
    alembic = Path(sys.executable).with_name("alembic")
    result = subprocess.run(
        [str(alembic), "-x", f"database={db_url}", "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "No new upgrade operations detected" in result.stdout + result.stderr


def test_the_views_exist_after_upgrade(db: Engine):
    views = set(inspect(db).get_view_names())
    assert {"airing_log", "weekly_compliance"} <= views
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM weekly_compliance")).scalar() == 0


def test_upgrade_twice_changes_nothing(db: Engine):
    head = head_revision()
    assert upgrade(db) == (head, head)
    assert require_current(db) == head


def test_an_empty_database_is_refused_with_the_command_to_run(tmp_path: Path):
    (tmp_path / "empty.db").touch()
    engine = open_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(
        SchemaOutOfDate, match=r"empty \(no schema yet\).*run `ipfm-scheduler db upgrade`"
    ):
        require_current(engine)
    engine.dispose()


def test_a_missing_database_file_is_refused_and_not_created(tmp_path: Path):
    engine = open_engine(f"sqlite:///{tmp_path / 'nowhere.db'}")
    with pytest.raises(StorageError, match=r"nowhere.db does not exist: check the path, or run"):
        require_current(engine)
    engine.dispose()
    assert not (tmp_path / "nowhere.db").exists()  # connecting used to create an empty file


def test_a_database_from_a_newer_program_is_refused_plainly(db: Engine):
    with db.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    try:
        with pytest.raises(
            SchemaTooNew, match="schema version 9999, which this ipfm-scheduler does not know"
        ):
            require_current(db)
    finally:  # the PostgreSQL database is the session's: later tests need it at the head
        with db.begin() as conn:
            conn.execute(
                text("UPDATE alembic_version SET version_num = :head"), {"head": head_revision()}
            )


def test_the_migration_scripts_are_found_from_any_working_directory(tmp_path: Path):
    code = "from ipfm_scheduler.storage.migrate import script_location; print(script_location())"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env=os.environ | {"PYTHONSAFEPATH": "1"},
    )
    assert Path(result.stdout.strip()) == script_location() == ROOT / "migrations"
