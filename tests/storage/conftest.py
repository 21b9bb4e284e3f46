"""Storage fixtures: the same suite runs on SQLite and on PostgreSQL (a throwaway database per
session, emptied before each test)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from ipfm_scheduler.storage.db import open_engine
from ipfm_scheduler.storage.migrate import upgrade
from ipfm_scheduler.storage.repository import Repository
from ipfm_scheduler.storage.tables import metadata


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file upgraded to the latest schema once; tests get copies of it."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = open_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # the last connection to close folds the WAL into the file
    assert not path.with_name("template.db-wal").exists()
    return path


@pytest.fixture(scope="session")
def pg_session_url(pg_databases: Callable[[], str]) -> str:
    """This session's PostgreSQL database, upgraded to the latest schema."""
    url = pg_databases()
    engine = open_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """The URL of an empty database at the latest schema, on each kind of database."""
    if request.param == "sqlite":
        path = tmp_path / "ipfm.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_session_url")
    engine = open_engine(url)
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    engine = open_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def repo(db: Engine) -> Repository:
    return Repository(db)
