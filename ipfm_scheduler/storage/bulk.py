"""Bulk helpers for the batch repositories: IN-lists in chunks, a cheap many-row insert, and
reading a few columns of many commands."""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import LargeBinary, Table, select
from sqlalchemy.engine import Connection

from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.base import insert_ignoring
from ipfm_scheduler.storage.raw import (
    CHUNK,
    ROWS_PER_STATEMENT,
    SQLITE_MAX_VALUES,
    _memoised,
    chunks,
    insert_rows,
)

__all__ = ["CHUNK", "chunks", "command_rows", "insert_rows", "insert_rows_ignoring"]

_SQLITE_MAX_VALUES = SQLITE_MAX_VALUES  # a test sets it lower: SQLite before 3.32 takes 999


def insert_rows_ignoring(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], conflict: Sequence[str]
) -> None:
    """``insert_ignore_many`` for many rows of the same columns, cheaper: each column's
    conversion (a time to UTC, say) runs once per distinct value, and many rows go in one
    statement (SQLite: multi-row ``VALUES``; PostgreSQL: ``storage/raw.py``)."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":  # one array per column (storage/raw.py)
        insert_rows(conn, table, rows, ignoring=conflict)
        return
    columns = list(rows[0])
    compiled = insert_ignoring(conn, table, conflict).compile(
        dialect=conn.dialect, column_keys=columns
    )
    dialect = conn.dialect
    processors = {  # bytes go to either driver as they are (its Binary wrapper is a copy)
        name: None
        if isinstance(table.c[name].type, LargeBinary)
        else table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        for name in columns
    }
    order = list(compiled.positiontup or ()) if compiled.positional else columns
    pick = itemgetter(*order)
    if len(order) == 1:
        params: list[Any] = [(pick(row),) for row in rows]
    else:
        params = [pick(row) for row in rows]
    converting = [
        (i, _memoised(processor))
        for i, n in enumerate(order)
        if (processor := processors[n]) is not None
    ]
    if converting:  # only the columns whose type converts (times to UTC text, say)
        for i, row_values in enumerate(params):
            values = list(row_values)
            for column, convert in converting:
                values[column] = convert(values[column])
            params[i] = tuple(values)
    if dialect.name == "sqlite" and compiled.positional:
        _insert_values(conn, str(compiled), len(order), params)
    else:  # pragma: no cover - both supported databases are handled above
        params = [dict(zip(order, values, strict=True)) for values in params]
        conn.exec_driver_sql(str(compiled), params)


def _insert_values(conn: Connection, sql: str, width: int, params: list[Any]) -> None:
    """SQLite: the rows as multi-row ``VALUES (...), (...)`` statements, up to
    ``ROWS_PER_STATEMENT`` at a time (within SQLite's limit on values per statement), instead of
    executemany's one execution per row: fewer calls into the driver, each of which lets go of
    Python's lock and must take it back from paho's thread."""
    group = "(" + ", ".join("?" * width) + ")"
    if group not in sql:  # pragma: no cover - SQLAlchemy renders one group of ?s
        raise ValueError(f"unexpected INSERT: {sql}")  # i18n: internal
    per_statement = max(1, min(ROWS_PER_STATEMENT, _SQLITE_MAX_VALUES // width))
    for rows in chunks(params, per_statement):
        many = sql.replace(group, ", ".join([group] * len(rows)), 1)
        conn.exec_driver_sql(many, tuple(value for row in rows for value in row))


def command_rows(
    conn: Connection, ids: Sequence[str], *columns: str, for_update: bool = False
) -> list[Any]:
    """The given ``columns`` (and id) of the commands with these ids (not their payloads).

    ``for_update``: locked until the transaction ends (PostgreSQL; SQLite's writer already holds
    the whole database), so that concurrent writers of the same commands wait for each other."""
    c = t.commands
    wanted = [c.c.id, *(c.c[name] for name in columns)]
    rows: list[Any] = []
    for chunk in chunks(sorted(set(ids))):
        query = select(*wanted).where(c.c.id.in_(chunk))
        rows += list(conn.execute(query.with_for_update() if for_update else query))
    return rows
