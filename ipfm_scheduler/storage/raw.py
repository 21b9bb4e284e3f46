"""Statements handed to the driver directly, on the hot paths of a big slot (the acks of 100,000
receivers, their PUBACKs): SQLAlchemy compiles a statement and runs every value of every row
through its type's processing in Python, which cost the service more CPU than the database's own
work. Here each column's processing is the same as SQLAlchemy's (``bind_processor`` of the
column's type on this dialect: a time is stored exactly as ``UtcDateTime`` stores it), run once
per distinct value, and many rows go in one statement.

Functions over one open transaction, for both SQLite and PostgreSQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain
from typing import Any

from sqlalchemy import Float, LargeBinary, Table
from sqlalchemy.engine import Connection

CHUNK = 500  # ids per IN (...) list on SQLite
PG_CHUNK = 10_000  # ids per array (``= ANY(...)``) on PostgreSQL
ROWS_PER_STATEMENT = 500  # rows per multi-row VALUES on SQLite
# values one SQLite statement may take: 32,766 since SQLite 3.32, 999 before
SQLITE_MAX_VALUES = 32766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999
PG_ROWS_PER_STATEMENT = 5000  # rows per statement on PostgreSQL (one array per column)


def mark(conn: Connection) -> str:
    """The driver's placeholder: ``?`` (sqlite3) or ``%s`` (psycopg)."""
    return "?" if conn.dialect.name == "sqlite" else "%s"


def marks(conn: Connection, count: int) -> str:
    """``count`` placeholders, comma-separated (an IN list, a row of VALUES)."""
    return ", ".join([mark(conn)] * count)


def binder(
    conn: Connection, table: Table, columns: Sequence[str]
) -> Callable[[Any], tuple[Any, ...]]:
    """A function from a row (a mapping with ``columns``) to the tuple of its values as the
    driver takes them, processed as SQLAlchemy would process them for this dialect."""
    dialect = conn.dialect
    convert: list[tuple[int, Callable[[Any], Any]]] = []
    for i, name in enumerate(columns):
        kind = table.c[name].type
        if isinstance(kind, LargeBinary):
            continue  # bytes go to either driver as they are (its Binary wrapper is a copy)
        processor = kind.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            convert.append((i, _memoised(processor)))
        elif isinstance(kind, Float) and dialect.name == "postgresql":
            convert.append((i, _float))  # an array's values are of one type: 612 is 612.0
    names = tuple(columns)

    def bind(row: Any) -> tuple[Any, ...]:
        values = [row[name] for name in names]
        for i, processor in convert:
            values[i] = processor(values[i])
        return tuple(values)

    return bind


def _float(value: Any) -> Any:
    return None if value is None else float(value)


def bind_value(conn: Connection, table: Table, column: str, value: Any) -> Any:
    """One value of ``table.column``, processed as SQLAlchemy would for this dialect."""
    return binder(conn, table, [column])({column: value})[0]


def per_statement(width: int, max_values: int = SQLITE_MAX_VALUES) -> int:
    """Rows per multi-row ``VALUES`` on SQLite (within its limit on values per statement)."""
    return max(1, min(ROWS_PER_STATEMENT, max_values // max(1, width)))


def insert_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    ignoring: Sequence[str] = (),
    max_values: int = SQLITE_MAX_VALUES,
) -> None:
    """INSERT ``rows`` (each with the same columns as the first): on SQLite as multi-row
    ``VALUES`` (at most ``max_values`` values a statement); on PostgreSQL from one array per
    column (``unnest``: a short statement, which psycopg parses once, where a long ``VALUES``
    list is parsed again, in Python, each time). ``ignoring``: a row clashing on these unique
    columns is skipped (``ON CONFLICT DO NOTHING``, as ``base.insert_ignoring``)."""
    if not rows:
        return
    columns = list(rows[0])
    bind = binder(conn, table, columns)
    names = ", ".join(columns)
    tail = f" ON CONFLICT ({', '.join(ignoring)}) DO NOTHING" if ignoring else ""
    if conn.dialect.name == "postgresql":
        arrays = ", ".join(f"CAST(%b AS {kind}[])" for kind in _kinds(conn, table, columns))
        sql = f"INSERT INTO {table.name} ({names}) SELECT * FROM unnest({arrays}){tail}"
        for some in chunks(rows, PG_ROWS_PER_STATEMENT):
            conn.exec_driver_sql(sql, _columns(map(bind, some), len(columns)))
        return
    head = f"INSERT INTO {table.name} ({names}) VALUES "
    group = f"({marks(conn, len(columns))})"
    for some in chunks(rows, per_statement(len(columns), max_values)):
        values = tuple(chain.from_iterable(map(bind, some)))
        conn.exec_driver_sql(head + ", ".join([group] * len(some)) + tail, values)


def _kinds(conn: Connection, table: Table, columns: Sequence[str]) -> list[str]:
    """The SQL types of ``columns`` on this database (``TIMESTAMP WITH TIME ZONE``, ...)."""
    return [str(table.c[name].type.compile(dialect=conn.dialect)) for name in columns]


def _columns(rows: Iterable[tuple[Any, ...]], width: int) -> tuple[list[Any], ...]:
    """Rows of values as one list per column."""
    found = tuple(list(values) for values in zip(*rows, strict=True))
    return found or tuple([] for _ in range(width))


def update_rows(conn: Connection, table: Table, key: str, rows: Sequence[dict[str, Any]]) -> None:
    """UPDATE the rows of ``table`` whose ``key`` is each row's: the other columns of the row
    (each with the same columns as the first) set to its values; each key once. SQLite: one
    statement executed for every row (the loop is the driver's); PostgreSQL (whose driver
    sends one statement per row): ``UPDATE ... FROM unnest(one array per column)``."""
    if not rows:
        return
    columns = [name for name in rows[0] if name != key]
    bind = binder(conn, table, [key, *columns])
    if conn.dialect.name == "sqlite":
        sets = ", ".join(f"{name} = ?" for name in columns)
        sql = f"UPDATE {table.name} SET {sets} WHERE {key} = ?"
        conn.exec_driver_sql(sql, [(*values[1:], values[0]) for values in map(bind, rows)])
        return
    kinds = _kinds(conn, table, [key, *columns])
    arrays = ", ".join(f"CAST(%b AS {kind}[])" for kind in kinds)
    sets = ", ".join(f"{name} = v.{name}" for name in columns)
    names = ", ".join([key, *columns])
    sql = (
        f"UPDATE {table.name} SET {sets} FROM unnest({arrays}) AS v ({names}) "
        f"WHERE {table.name}.{key} = v.{key}"
    )
    for some in chunks(rows, PG_ROWS_PER_STATEMENT):
        conn.exec_driver_sql(sql, _columns(map(bind, some), len(kinds)))


def ids_per_statement(conn: Connection) -> int:
    """How many ids one statement lists: ``CHUNK`` on SQLite, ``PG_CHUNK`` on PostgreSQL."""
    return CHUNK if conn.dialect.name == "sqlite" else PG_CHUNK


def select_in(
    conn: Connection, sql: str, ids: Iterable[Any], *, before: Sequence[Any] = ()
) -> list[Any]:
    """The rows of ``sql`` for ``ids`` (sorted, in chunks): its ``{in_ids}`` is ``IN (?, ...)``
    on SQLite, ``= ANY(%s)`` (one array) on PostgreSQL; ``before``: the values of the
    placeholders ahead of it."""
    found: list[Any] = []
    for chunk in chunks(sorted(set(ids)), ids_per_statement(conn)):
        if conn.dialect.name == "sqlite":
            statement, values = sql.format(in_ids=f"IN ({marks(conn, len(chunk))})"), chunk
        else:
            statement, values = sql.format(in_ids="= ANY(%b)"), [list(chunk)]
        found += conn.exec_driver_sql(statement, (*before, *values)).all()
    return found


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for first in range(0, len(items), size):
        yield items[first : first + size]


def _memoised(processor: Callable[[Any], Any]) -> Callable[[Any], Any]:
    done: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        try:
            return done[value]
        except KeyError:
            done[value] = converted = processor(value)
            return converted
        except TypeError:  # not hashable
            return processor(value)

    return convert


def for_update(conn: Connection) -> str:
    """`` FOR UPDATE`` on PostgreSQL (SQLite's writer already holds the whole database)."""
    return " FOR UPDATE" if conn.dialect.name == "postgresql" else ""
