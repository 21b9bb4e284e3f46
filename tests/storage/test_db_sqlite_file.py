"""``sqlite_file``: the one answer to "which file is this database?", checked against the file
SQLite itself creates for every URL form SQLAlchemy accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from ipfm_scheduler.storage.db import open_engine
from ipfm_scheduler.storage.urls import sqlite_file

# (URL with {tmp} for the test's folder, the file SQLite opens relative to it, or None)
FORMS = [
    ("sqlite:///rel.db", "rel.db"),
    ("sqlite:///sub/rel.db", "sub/rel.db"),
    ("sqlite:///{tmp}/abs.db", "abs.db"),  # sqlite:////abs/path
    ("sqlite+pysqlite:///{tmp}/driver.db", "driver.db"),
    ("sqlite:///a%20b.db", "a b.db"),
    ("sqlite:///file:uri.db?uri=true", "uri.db"),
    ("sqlite:///file:sub/uri.db?uri=1", "sub/uri.db"),
    ("sqlite:///file:{tmp}/abs-uri.db?uri=true", "abs-uri.db"),
    ("sqlite:///file://{tmp}/authority.db?uri=true", "authority.db"),
    ("sqlite:///file://localhost{tmp}/localhost.db?uri=true", "localhost.db"),
    ("sqlite:///file:escaped%2520name.db?uri=true", "escaped name.db"),
    ("sqlite:///file:opts.db?cache=shared&mode=rwc&uri=true", "opts.db"),
    ("sqlite:///file:literal.db", "file:literal.db"),  # not a URI without uri=true
    ("sqlite:///file:off.db?uri=false", "file:off.db"),
    ("sqlite://", None),
    ("sqlite:///", None),
    ("sqlite:///:memory:", None),
    ("sqlite:///file::memory:?uri=true", None),
    ("sqlite:///file:shared?mode=memory&cache=shared&uri=true", None),
]


def files_under(folder: Path) -> set[Path]:
    return {p.relative_to(folder) for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize(("form", "expected"), FORMS)
def test_sqlite_file_is_the_file_sqlite_opens(
    form: str, expected: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    url = form.format(tmp=tmp_path)
    engine = create_engine(url, poolclass=NullPool)  # SQLAlchemy's own: what the driver opens
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
    finally:
        engine.dispose()

    found = sqlite_file(url)

    assert files_under(tmp_path) == (set() if expected is None else {Path(expected)})
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert found.resolve() == (tmp_path / expected).resolve()


@pytest.mark.parametrize("url", ["postgresql://u@h/db", "postgresql+psycopg://u@h:5432/db"])
def test_postgresql_has_no_file(url: str):
    assert sqlite_file(url) is None


def test_a_read_only_engine_of_a_uri_opens_the_same_file_without_writing(tmp_path: Path):
    """A ``file:`` URI opened for auditors is read-only too, and keeps its other options."""
    url = f"sqlite:///file:{tmp_path}/log.db?cache=shared&uri=true"
    writer = open_engine(url)
    with writer.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    writer.dispose()

    reader = open_engine(url, read_only=True)
    try:
        assert reader.url.query["mode"] == "ro"
        assert reader.url.query["cache"] == "shared"
        with reader.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
    finally:
        reader.dispose()
