"""Engines for the airing log: one URL, SQLite or PostgreSQL.

* ``sqlite:///path/ipfm.db`` (the default kind): WAL, foreign keys on, a busy timeout,
  ``synchronous=NORMAL``; the file's folder is created. Writers take the lock when their
  transaction begins (``BEGIN IMMEDIATE``), so two writers wait for each other instead of failing.
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
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from ipfm_scheduler.config.addresses import password_span, redacted
from ipfm_scheduler.errors import SchemaOutOfDate, SchemaTooNew, StorageError

SQLITE_BUSY_TIMEOUT_MS = 15_000
MIN_HIDDEN_CHARS = 4  # a shorter password is masked in URLs, not searched for in driver messages
EXPECTED = "sqlite:///path/to/ipfm.db or postgresql+psycopg://user@host/dbname"


def parse_url(url: str | URL) -> URL:
    """The URL as SQLAlchemy reads it, with ``postgresql://`` meaning psycopg 3."""
    if isinstance(url, str):
        span = password_span(url)
        if span is not None and "@" in url[span[0] : span[1]]:
            raise StorageError(
                f"database {shown(url)}: the password holds an '@', which ends the user part of "
                "a URL: write each '@' of the password as %40"
            )
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StorageError(f"{shown(url)!r} is not a database URL (expected {EXPECTED})") from exc
    except ValueError as exc:  # SQLAlchemy's int() of a port such as "notaport"
        raise StorageError(
            f"{shown(url)!r} is not a database URL: its port is not a number (expected {EXPECTED})"
        ) from exc
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        return parsed
    raise StorageError(f"database {parsed.drivername!r} is not supported (expected {EXPECTED})")


def shown(url: str | URL) -> str:
    """The URL for messages and logs, without its password (in the user part or the query)."""
    plain = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return redacted(plain)
    database = parsed.database or ""
    if parsed.get_backend_name() == "sqlite" and database.startswith("file:"):
        return f"sqlite:///{database.removeprefix('file:')}"  # as given, not as opened read-only
    return redacted(parsed.render_as_string(hide_password=False))


def open_engine(url: str | URL, *, read_only: bool = False) -> Engine:
    """An engine for ``url``; nothing connects until it is first used."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, read_only)
    options: dict[str, Any] = {"postgresql_readonly": True} if read_only else {}
    try:
        return create_engine(parsed, pool_pre_ping=True, execution_options=options)
    except SQLAlchemyError as exc:  # pragma: no cover - bad driver options
        raise StorageError(f"can't open the database {shown(parsed)}: {exc}") from exc


def sqlite_file(parsed: URL) -> Path | None:
    """The file of an SQLite URL (None for PostgreSQL, in-memory or ``file:`` URIs)."""
    if parsed.get_backend_name() != "sqlite":
        return None
    return _sqlite_file(parsed)


def _sqlite_file(parsed: URL) -> Path | None:
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


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
    path = _sqlite_file(parsed)
    if read_only:
        if path is not None:
            if not path.is_file():
                raise StorageError(
                    f"the database file {path} does not exist: check the path, or run "
                    "`ipfm-scheduler db upgrade` to create it"
                )
            parsed = parsed.set(database=f"file:{path.resolve()}", query=read_only_query(path))
    elif path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"can't create the folder of the database {path}: {exc}") from exc
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
        if not read_only:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def describe(exc: SQLAlchemyError, url: str | URL) -> str:
    """A one-line message for a database failure."""
    original = getattr(exc, "orig", None) or exc
    first = str(original).strip().splitlines()[0] if str(original).strip() else type(exc).__name__
    return f"database {shown(url)}: {_without_secrets(first, url)}"


def _without_secrets(message: str, url: str | URL) -> str:
    """``message`` with the URL's password masked, should the driver have quoted it."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return message
    secrets = [parsed.password, *(v for k, v in parsed.query.items() if "pass" in k.lower())]
    for secret in secrets:
        for text in [secret] if isinstance(secret, str) else secret or ():
            if len(text) >= MIN_HIDDEN_CHARS:
                message = message.replace(text, "***")
    return message


def require_current(engine: Engine) -> str:
    """Raise :class:`SchemaOutOfDate` unless the database is at this program's schema revision.

    The service calls this when it starts: it never runs on a schema it does not know.
    """
    from ipfm_scheduler.storage.migrate import current_revision, head_revision, known_revision

    head = head_revision()
    path = sqlite_file(engine.url)
    if path is not None and not path.exists():  # connecting would create an empty file
        raise StorageError(
            f"the database file {path} does not exist: check the path, or run "
            "`ipfm-scheduler db upgrade` to create it"
        )
    current = current_revision(engine)
    if current == head:
        return head
    if current is not None and not known_revision(current):
        raise SchemaTooNew(current, head, shown(engine.url))
    raise SchemaOutOfDate(current, head, shown(engine.url))
