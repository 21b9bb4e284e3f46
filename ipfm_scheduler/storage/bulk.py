"""Bulk helpers for the batch repositories: IN-lists in chunks and a cheap many-row insert
(both ``storage/raw.py``'s)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection

from ipfm_scheduler.storage.raw import (
    CHUNK,
    SQLITE_MAX_VALUES,
    chunks,
    insert_rows,
)

__all__ = ["CHUNK", "chunks", "insert_rows", "insert_rows_ignoring"]

_SQLITE_MAX_VALUES = SQLITE_MAX_VALUES  # a test sets it lower: SQLite before 3.32 takes 999


def insert_rows_ignoring(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], conflict: Sequence[str]
) -> None:
    """``insert_ignore_many`` for many rows of the same columns, cheaper: each column's
    conversion (a time to UTC, say) runs once per distinct value, and many rows go in one
    statement (``raw.insert_rows``: SQLite multi-row ``VALUES``, PostgreSQL one array per
    column)."""
    insert_rows(conn, table, rows, ignoring=conflict, max_values=_SQLITE_MAX_VALUES)
