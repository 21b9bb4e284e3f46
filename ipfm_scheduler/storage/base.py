"""Inserts that ignore a row already there (the same SQL idea on SQLite and PostgreSQL), shared
by the storage's modules."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection


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
