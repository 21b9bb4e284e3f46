"""Bulk helpers for the batch repositories: IN-lists in chunks, a cheap many-row insert, and
reading a few columns of many commands."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.engine import Connection

from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.base import insert_ignoring

CHUNK = 500  # ids per IN (...) list


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for first in range(0, len(items), size):
        yield items[first : first + size]


def insert_rows_ignoring(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], conflict: Sequence[str]
) -> None:
    """``insert_ignore_many`` for many rows of the same columns, cheaper: each column's
    conversion (a time to UTC, say) runs once per distinct value, and the driver's executemany
    gets plain tuples. 10,000 commands: about 0.33 s instead of 0.57 s on SQLite."""
    if not rows:
        return
    columns = list(rows[0])
    compiled = insert_ignoring(conn, table, conflict).compile(
        dialect=conn.dialect, column_keys=columns
    )
    dialect = conn.dialect
    convert = {
        name: _memoised(table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
        for name in columns
    }
    if compiled.positional:
        order = list(compiled.positiontup or ())
        params: list[Any] = [tuple(convert[n](row[n]) for n in order) for row in rows]
    else:
        params = [{n: convert[n](row[n]) for n in columns} for row in rows]
    conn.exec_driver_sql(str(compiled), params)


def _memoised(processor: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    if processor is None:
        return lambda value: value
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


def command_rows(conn: Connection, ids: Sequence[str], *columns: str) -> list[Any]:
    """The given ``columns`` (and id) of the commands with these ids (not their payloads)."""
    c = t.commands
    wanted = [c.c.id, *(c.c[name] for name in columns)]
    rows: list[Any] = []
    for chunk in chunks(sorted(set(ids))):
        rows += list(conn.execute(select(*wanted).where(c.c.id.in_(chunk))))
    return rows
