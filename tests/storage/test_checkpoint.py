"""The service's SQLite checkpoints run on a thread of their own (storage/checkpoint.py): its
commits don't copy the WAL back into the database themselves, the thread does, and the last
one runs when the service closes its airing log."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from ipfm_scheduler.storage import checkpoint
from ipfm_scheduler.storage.checkpoint import Checkpointer
from ipfm_scheduler.storage.db import open_engine
from ipfm_scheduler.storage.repository import Repository

ROWS = 3000  # ~1 KB each: about 800 pages of WAL per round of writes
WAIT_S = 10.0


def _write(engine: Engine, rounds: int = 2) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS filler (id INTEGER PRIMARY KEY, b BLOB)")
    for _ in range(rounds):
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO filler (b) VALUES (:b)"), [{"b": b"x" * 1000}] * ROWS)


def _uncopied(path: Path) -> int:
    """WAL frames not yet copied into the database, asked from a connection of its own."""
    with sqlite3.connect(path) as conn:
        busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return frames - copied if busy == 0 else -1


def _bound(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one())


def test_the_service_connections_leave_checkpoints_to_the_thread(tmp_path: Path) -> None:
    """With SQLite's default bound (1,000 pages) a commit past it copies the WAL back itself;
    once a ``Checkpointer`` is made for an engine, its connections (those opened before
    included) don't until ``FALLBACK_PAGES``."""
    own = tmp_path / "own.db"
    engine = open_engine(f"sqlite:///{own}")
    default = tmp_path / "default.db"
    plain = open_engine(f"sqlite:///{default}")
    try:
        assert _bound(engine) == 1000  # SQLite's default, on a connection left in the pool
        Checkpointer(engine)
        assert _bound(engine) == checkpoint.FALLBACK_PAGES
        _write(engine)
        _write(plain)
        # ~6 MB written to each: the default connection copied it into the database file in
        # its commit; the service's left it all in the WAL, for the thread to copy
        assert default.stat().st_size > 3_000_000
        assert own.stat().st_size < 1_000_000
        assert _uncopied(own) == 0  # (which the thread's checkpoint does)
        assert own.stat().st_size > 3_000_000
    finally:
        engine.dispose()
        plain.dispose()


def test_the_thread_copies_the_wal_back_and_once_more_when_stopped(tmp_path: Path) -> None:
    path = tmp_path / "ipfm.db"
    engine = open_engine(f"sqlite:///{path}")
    checkpoints = Checkpointer(engine, every=0.05)
    try:
        checkpoints.start()
        assert checkpoints.ran.wait(WAIT_S)
        _write(engine, rounds=1)
        checkpoints.ran.clear()
        assert checkpoints.ran.wait(WAIT_S)  # a checkpoint after the writes
        _write(engine, rounds=1)
        checkpoints.stop()  # ... and the last one, on the way out
        assert _uncopied(path) == 0
        assert checkpoints.done >= 3
        assert "ipfm-checkpoint" not in {t.name for t in threading.enumerate()}
    finally:
        checkpoints.stop()
        engine.dispose()


def test_the_repository_starts_and_stops_its_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "ipfm.db"
    repo = Repository(open_engine(f"sqlite:///{path}"))
    repo.checkpoint_aside()
    assert "ipfm-checkpoint" in {t.name for t in threading.enumerate()}
    assert _bound(repo.engine) == checkpoint.FALLBACK_PAGES
    _write(repo.engine, rounds=1)
    repo.close()
    assert "ipfm-checkpoint" not in {t.name for t in threading.enumerate()}
    assert _uncopied(path) == 0


def test_only_an_sqlite_file_is_checkpointed(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="SQLite file"):
        Checkpointer(open_engine("sqlite://"))
    repo = Repository(open_engine("postgresql+psycopg://postgres@127.0.0.1:5432/none"))
    repo.checkpoint_aside()  # nothing to do, nothing connects
    assert "ipfm-checkpoint" not in {t.name for t in threading.enumerate()}
    repo.close()


def test_a_thread_that_cannot_checkpoint_says_so_and_the_commits_take_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'ipfm.db'}")

    def refused() -> None:
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(engine, "raw_connection", refused)
    checkpoints = Checkpointer(engine).start()
    checkpoints.stop()
    assert "the checkpoints on their own thread stopped (unable to open database file)" in (
        caplog.text
    )
    assert f"past {checkpoint.FALLBACK_PAGES} pages" in caplog.text
    engine.dispose()
