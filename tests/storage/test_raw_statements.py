"""storage/raw.py writes exactly what SQLAlchemy writes: the same stored representation of every
value (a time as ``UtcDateTime`` stores it, bytes, booleans, NULLs), read back both raw and
through SQLAlchemy, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Engine

from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.raw import insert_rows, select_in, update_rows
from ipfm_scheduler.storage.repository import Repository
from tests.storage.storage_factories import World

NOW = datetime(2025, 11, 24, 0, 0, 1, 123456, tzinfo=UTC)


def _ack(n: int, command_id: str) -> dict[str, Any]:
    return {
        "id": n,
        "command_id": command_id,
        "ward": "cam-trung",
        "receiver": "loa-01",
        "status": "received",
        "detail": None if n % 2 else "l\u1ed7i \\x00",
        "played_s": None if n % 3 else (12 if n % 2 else 12.5),  # an int among floats
        "receiver_at_text": "2025-11-24T07:00:00+07:00",
        "receiver_at": None if n % 2 else NOW - timedelta(seconds=n % 6),
        "received_at": NOW,
        "raw": b'{"id": "\xff"}',
        "changed_state": n % 2 == 0,
        "state_after": "received",
        "verified": n % 3 == 0,
        "chain_seq": 1000 + n,
        "chain_hash": f"{n:064x}",
    }


def _raw_rows(db: Engine, table: str, key: str) -> list[tuple[Any, ...]]:
    with db.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY {key}")]


def test_rows_inserted_raw_are_stored_as_sqlalchemy_stores_them(repo: Repository, db: Engine):
    _airing, (first, second) = World(repo).airing()
    sqlalchemy_rows = [_ack(n, first if n % 2 else second) for n in range(1, 7)]
    raw_rows = [_ack(n, first if n % 2 else second) for n in range(7, 13)]
    with db.begin() as conn:
        conn.execute(t.acks.insert(), sqlalchemy_rows)
        insert_rows(conn, t.acks, raw_rows)
    stored = _raw_rows(db, "acks", "id")
    assert len(stored) == 12
    for old, new in zip(stored[:6], stored[6:], strict=True):
        # all but the id, the chain's place and hash, which differ by construction
        assert old[1:-2] == new[1:-2]
    with db.connect() as conn:
        back = conn.execute(select(t.acks).order_by(t.acks.c.id)).mappings().all()
    for r, row in zip(back[6:], raw_rows, strict=True):
        assert {k: (bytes(v) if k == "raw" else v) for k, v in r.items()} == row


def test_rows_updated_raw_are_stored_as_sqlalchemy_stores_them(repo: Repository, db: Engine):
    _airing, (first, second) = World(repo).airing()
    c = t.commands
    change = {
        "state": "received",
        "state_at": NOW,
        "detail": None,
        "played_s": None,
        "receiver_at": NOW - timedelta(seconds=3),
        "answer_verified": True,
    }
    with db.begin() as conn:
        conn.execute(
            c.update()
            .where(c.c.id == bindparam("b_id"))
            .values({k: bindparam(f"v_{k}") for k in change}),
            [{"b_id": first, **{f"v_{k}": v for k, v in change.items()}}],
        )
        update_rows(conn, c, "id", [{"id": second, **change}])
    with db.connect() as conn:
        raw = {
            r[0]: tuple(r[1:])
            for r in conn.exec_driver_sql(
                "SELECT id, state, state_at, detail, played_s, receiver_at, answer_verified "
                "FROM commands"
            )
        }
        back = {r.id: r for r in conn.execute(select(c))}
    assert raw[first] == raw[second]
    for key, value in change.items():
        assert getattr(back[second], key) == value


def test_select_in_finds_the_rows_of_many_ids(repo: Repository, db: Engine):
    _airing, ids = World(repo).airing()
    sql = "SELECT id, ward FROM commands WHERE id {in_ids}"
    with db.connect() as conn:
        rows = select_in(conn, sql, [*ids, "no-such-command", *ids])
        assert sorted(r.id for r in rows) == sorted(ids)
        assert select_in(conn, sql, []) == []


def test_a_puback_recorded_raw_stores_its_times_as_sqlalchemy_does(repo: Repository, db: Engine):
    _airing, (first, second) = World(repo).airing()  # PUBACKed (storage/commands.py, raw)
    c = t.commands
    with db.begin() as conn:
        sent_at = conn.execute(select(c.c.last_sent_at).where(c.c.id == first)).scalar_one()
        conn.execute(c.update().where(c.c.id == second).values(expires_at=sent_at))
    with db.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT id, first_sent_at, last_sent_at, last_attempt_at, state_at, expires_at, "
            "state, attempts FROM commands ORDER BY id"
        ).all()
        attempt = conn.exec_driver_sql("SELECT at, attempt, outcome FROM send_attempts").all()
    by_id = {r[0]: r for r in rows}
    written_by_sqlalchemy = by_id[second][5]
    assert by_id[first][1:5] == (written_by_sqlalchemy,) * 4
    assert by_id[first][6:] == ("sent", 1)
    assert sorted(attempt) == [(written_by_sqlalchemy, 1, "puback")] * 2
