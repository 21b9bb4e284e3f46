"""Engines for the airing log: one URL, SQLite or PostgreSQL.

* ``sqlite:///path/ipfm.db`` (the default kind): WAL, foreign keys on, a busy timeout,
  ``synchronous=NORMAL``, a page cache of 8 MiB per connection; the file's folder is created.
  Writers take the lock when their transaction begins (``BEGIN IMMEDIATE``), so two writers
  wait for each other instead of failing.
* ``postgresql+psycopg://user@host/db`` (psycopg 3); ``postgresql://`` and ``postgres://`` mean
  the same.

``read_only=True`` opens a database for auditors: SQLite through ``mode=ro`` (works on a file
they may not write), PostgreSQL in read-only transactions (for a role that may only SELECT).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from ipfm_scheduler.errors import SchemaOutOfDate, SchemaTooNew, StorageError
from ipfm_scheduler.i18n import _
from ipfm_scheduler.storage.urls import describe, parse_url, shown, sqlite_file

__all__ = [
    "SQLITE_BUSY_TIMEOUT_MS",
    "SQLITE_CACHE_KIB",
    "describe",
    "open_engine",
    "parse_url",
    "read_only_query",
    "require_current",
    "revision_without_writing",
    "shown",
    "sqlite_file",
]

SQLITE_BUSY_TIMEOUT_MS = 15_000
# Each connection's page cache, in KiB (SQLite's default is 2,000). A slot of 100,000 commands,
# whose ids are random, looks each one up in the commands' indexes (~5 MB for the slot's ids
# alone) several times (a PUBACK's update, an ack's read, the foreign keys of the attempt and
# the ack, the ack's update): with 2 MB most of those pages are read again from the file, with
# 8 MB they stay (issue 15: 6.99 -> 5.74 CPU-s per 10,000 commands, docs/service.md).
SQLITE_CACHE_KIB = 8192


def open_engine(url: str | URL, *, read_only: bool = False) -> Engine:
    """An engine for ``url``; nothing connects until it is first used."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, read_only)
    options: dict[str, Any] = {"postgresql_readonly": True} if read_only else {}
    # each process names itself (pg_stat_activity shows which service a backend serves), and a
    # database that does not answer is given up on after a while (the leader's lease runs out)
    connect = {"application_name": f"ipfm-scheduler {os.getpid()}", "connect_timeout": 5}
    connect = {k: v for k, v in connect.items() if k not in parsed.query}
    try:
        return create_engine(
            parsed, pool_pre_ping=True, execution_options=options, connect_args=connect
        )
    except SQLAlchemyError as exc:  # pragma: no cover - bad driver options
        raise StorageError(
            _("can't open the database {url}: {error}").format(url=shown(parsed), error=exc)
        ) from exc


def read_only_query(path: Path) -> dict[str, str]:
    """URI options to open an SQLite file read-only.

    ``mode=ro`` suffices for the live database, or a copy in a folder we may write. A copy in WAL
    mode on read-only media (or in a folder we may not write) has no ``-shm`` file, and SQLite
    can't create one there: such a copy is opened ``immutable`` (nobody writes it, by definition).
    """
    query = {"mode": "ro", "uri": "true"}
    shared = path.with_name(path.name + "-shm")
    if not shared.exists() and not os.access(path.parent, os.W_OK):
        query["immutable"] = "1"
    return query


def _sqlite_engine(parsed: URL, read_only: bool) -> Engine:
    path = sqlite_file(parsed)
    if read_only:
        if path is not None:
            if not path.is_file():
                raise StorageError(
                    _(
                        "the database file {path} does not exist: check the path, or run "
                        "`ipfm-scheduler db upgrade` to create it"
                    ).format(path=path)
                )
            # the URL's other SQLite URI options (cache=shared, vfs=...) stay
            query = {**parsed.query, **read_only_query(path)}
            parsed = parsed.set(database=f"file:{path.resolve()}", query=query)
    elif path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                _("can't create the folder of the database {path}: {error}").format(
                    path=path, error=exc
                )
            ) from exc
    engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    _sqlite_events(engine, read_only)
    return engine


def _sqlite_events(engine: Engine, read_only: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # take transactions in our own hands (pysqlite's own handling defers BEGIN)
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        if not read_only:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def require_current(engine: Engine) -> str:
    """Raise :class:`SchemaOutOfDate` unless the database is at this program's schema revision.

    The service calls this when it starts: it never runs on a schema it does not know.
    """
    # Alembic takes ~0.2 s to import, which every command would pay for: only the revision
    # checks import it (migrate does not import this module: no cycle, tests/test_architecture)
    from ipfm_scheduler.storage.migrate import current_revision, head_revision, known_revision

    head = head_revision()
    path = sqlite_file(engine.url)
    if path is not None and not path.exists():  # connecting would create an empty file
        raise StorageError(
            _(
                "the database file {path} does not exist: check the path, or run `ipfm-scheduler "
                "db upgrade` to create it"
            ).format(path=path)
        )
    current = current_revision(engine)
    if current == head:
        return head
    if current is not None and not known_revision(current):
        raise SchemaTooNew(current, head, shown(engine.url))
    raise SchemaOutOfDate(current, head, shown(engine.url))


def revision_without_writing(url: str) -> str | None:
    """The revision of the database at ``url``, read through a read-only connection (``None``:
    no schema yet, or no SQLite file yet), so that an up-to-date database is never written."""
    from ipfm_scheduler.storage.migrate import current_revision  # Alembic: see require_current

    path = sqlite_file(parse_url(url))
    if path is not None and not path.is_file():
        return None
    engine = open_engine(url, read_only=True)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()
