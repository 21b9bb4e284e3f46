"""`db upgrade` and `db check` say what is wrong and exit with the documented code: a schema
from a newer program, a port that is not a number, a missing file, a read-only file already up
to date, and upgrades run at the same time on PostgreSQL."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from ipfm_scheduler.storage.db import open_engine
from ipfm_scheduler.storage.migrate import head_revision
from tests.storage.test_storage_cli import run

COMMAND = str(Path(sys.executable).with_name("ipfm-scheduler"))
WAIT_S = 60.0


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_upgrade_of_a_database_a_newer_version_upgraded_is_refused_and_changes_nothing(
    tmp_path: Path, sqlite_template: Path
):
    path = tmp_path / "ipfm.db"
    shutil.copyfile(sqlite_template, path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099'")
    conn.close()
    before = digest(path)
    result = run("db", "upgrade", "--database", f"sqlite:///{path}")
    assert result.code == 4
    assert "schema version 0099, which this ipfm-scheduler does not know" in result.err
    assert "a newer version upgraded it; run that version" in result.err
    assert "Traceback" not in result.err
    assert "CommandError" not in result.err
    assert digest(path) == before


@pytest.mark.parametrize(("where", "code"), [("option", 2), ("environment", 3), ("station", 3)])
def test_a_port_that_is_not_a_number_is_refused_plainly(tmp_path: Path, where: str, code: int):
    url = "postgresql://postgres:x@127.0.0.1:notaport/db"
    station = tmp_path / "ipfm.yaml"
    station.write_text(f"timezone: Asia/Ho_Chi_Minh\ndatabase: {url}\n", encoding="utf-8")
    args = ["--config", str(station), "db", "check"]
    env = {"IPFM_DATABASE_URL": url if where == "environment" else ""}
    if where == "option":
        args += ["--database", url]
    result = run(*args, env=env)
    assert result.code == code
    assert "the port notaport is not a number" in result.err
    assert "Traceback" not in result.err


def test_check_of_a_missing_sqlite_file_says_how_to_create_it(tmp_path: Path):
    path = tmp_path / "missing.db"
    result = run("db", "check", "--database", f"sqlite:///{path}")
    assert result.code == 4
    assert f"the database file {path} does not exist" in result.err
    assert "run `ipfm-scheduler db upgrade`" in result.err
    assert not path.exists()


def as_a_plain_user() -> list[str]:
    """The command prefix that runs a command as ``nobody`` when the tests run as root (whom no
    file permission stops), else nothing."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv is not None, "running the tests as root needs setpriv (util-linux)"
    return [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


@pytest.fixture
def read_only_folder() -> Iterator[Path]:
    """A folder that the user running the command (``nobody`` when the tests run as root, who
    may write anything) may read but not write; removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="ipfm-ro-"))
    folder.chmod(0o755)
    yield folder
    folder.chmod(0o755)
    for child in folder.iterdir():
        child.chmod(0o644)
    shutil.rmtree(folder)


def test_upgrade_of_a_read_only_sqlite_file_already_current_writes_nothing(
    read_only_folder: Path, sqlite_template: Path
):
    path = read_only_folder / "ipfm.db"
    shutil.copyfile(sqlite_template, path)
    path.chmod(0o444)
    read_only_folder.chmod(0o555)
    before = digest(path)
    done = subprocess.run(
        [*as_a_plain_user(), COMMAND, "db", "upgrade", "--database", f"sqlite:///{path}"],
        cwd=read_only_folder,
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"already at schema {head_revision()} (the latest); nothing to do" in done.stdout
    assert digest(path) == before
    assert sorted(p.name for p in read_only_folder.iterdir()) == ["ipfm.db"]


# --- upgrades at the same time on PostgreSQL ---------------------------------------------------


def upgrade_process(url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [COMMAND, "db", "upgrade", "--database", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def schema_at(url: str) -> str | None:
    engine = open_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_an_upgrade_waits_for_the_one_holding_the_upgrade_lock(
    pg_databases: Callable[[], str],
):
    import psycopg

    from ipfm_scheduler.storage.migrate import UPGRADE_LOCK_KEY

    url = pg_databases()
    parsed = make_url(url)
    with psycopg.connect(
        host=parsed.host, port=parsed.port, user=parsed.username, dbname=parsed.database,
        autocommit=True,
    ) as holder:  # fmt: skip
        holder.execute("SELECT pg_advisory_lock(%s)", (UPGRADE_LOCK_KEY,))
        process = upgrade_process(url)
        try:
            waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            while holder.execute(waiting).fetchone() != (1,):
                with suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=0.1)
                    pytest.fail(f"the upgrade did not wait for the lock: {process.communicate()}")
            assert process.poll() is None
            holder.execute("SELECT pg_advisory_unlock(%s)", (UPGRADE_LOCK_KEY,))
            out, err = process.communicate(timeout=WAIT_S)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == 0, err
    assert "upgraded from schema empty" in out
    assert schema_at(url) == head_revision()


@pytest.mark.postgres
@pytest.mark.slow
def test_upgrades_run_at_the_same_time_all_succeed_on_a_fresh_postgresql_database(
    pg_databases: Callable[[], str],
):
    for _round in range(3):
        url = pg_databases()
        processes = [upgrade_process(url) for _ in range(4)]
        results = [(p.wait(timeout=WAIT_S), *p.communicate()) for p in processes]
        assert [code for code, _, _ in results] == [0, 0, 0, 0], [err for _, _, err in results]
        outs = [out for _, out, _ in results]
        assert sum("upgraded from schema empty" in out for out in outs) == 1, outs
        assert sum("nothing to do" in out for out in outs) == 3, outs
        assert schema_at(url) == head_revision()
