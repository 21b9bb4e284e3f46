"""What every part of the repository shares: one transaction per method, errors translated,
inserts that ignore a row already there (the same SQL idea on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from ipfm_scheduler.errors import StorageError
from ipfm_scheduler.storage.db import describe


class RepositoryBase:
    """Holds the engine; every public method of the repository runs in one transaction."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._zone_cache: dict[int, ZoneInfo] = {}  # snapshot id -> station time zone

    @property
    def engine(self) -> Engine:
        return self._engine

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A transaction that commits at the end, or rolls back on any error."""
        try:
            with self._engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StorageError(describe(exc, self._engine.url)) from exc

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self._engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StorageError(describe(exc, self._engine.url)) from exc


def insert_ignoring(conn: Connection, table: Table, conflict: Sequence[str]) -> Any:
    """INSERT that skips a row clashing on the unique columns ``conflict`` (both databases)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing(index_elements=list(conflict))


def insert_ignore(
    conn: Connection, table: Table, row: Mapping[str, Any], conflict: Sequence[str]
) -> bool:
    """Insert ``row`` unless it clashes on the unique columns ``conflict``; True if inserted."""
    key = next(iter(table.primary_key.columns))
    statement = insert_ignoring(conn, table, conflict).returning(key)
    return conn.execute(statement, dict(row)).first() is not None


def insert_ignore_many(
    conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], conflict: Sequence[str]
) -> None:
    """Insert ``rows``, skipping those that clash on the unique columns ``conflict``."""
    if rows:
        conn.execute(insert_ignoring(conn, table, conflict), [dict(r) for r in rows])
