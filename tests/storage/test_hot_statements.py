"""Two statements of a big slot's hot path, kept cheap (issue 15), on SQLite and PostgreSQL:
the hash chain's check after an append reads the index, not the table, and holds lost rows to
account; the acks' record looks for stored acks only for commands an ack has moved."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from ipfm_scheduler.core.commands import AckStatus
from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.core.traffic import AiringToStore, NewCommand, SendOutcome, SendResult
from ipfm_scheduler.errors import StorageError
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.chain import Appender
from ipfm_scheduler.storage.raw import insert_rows
from ipfm_scheduler.storage.repository import Repository
from tests.storage.storage_factories import (
    AUDIO,
    World,
    ack,
    command,
    incoming,
    planned,
    statements,
)

NOW = datetime(2025, 11, 23, 22, 58, tzinfo=UTC)
RECEIVERS = ("loa-01", "loa-02", "loa-03")


def stored_acks_read(seen: list[tuple[str, Any]]) -> list[str]:
    """The statements among ``seen`` that look for acks stored (``repeats.stored_acks``)."""
    return [s for s, _ in seen if "FROM acks WHERE command_id" in " ".join(s.split())]


def closure(n: int) -> dict[str, Any]:
    return {
        "id": None, "ward": "cam-trung", "programme": "kh179", "week": "2025-W48",
        "receiver": f"loa-{n:05d}", "completed": 1, "minimum": 1, "verdict": "compliant",
        "reason": "", "snapshot_id": None, "closed_at": NOW,
    }  # fmt: skip


def test_an_append_that_lost_a_row_is_refused_and_nothing_is_recorded(db: Engine):
    lost = pytest.raises(StorageError, match="3 rows were linked into the hash chain but 2")
    with lost, db.begin() as conn:
        chain = Appender.open(conn, t.week_closures)
        rows = [closure(n) for n in range(3)]
        chain.add(rows)
        insert_rows(conn, t.week_closures, rows[:2])
        chain.close()
    with db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.week_closures)).scalar_one() == 0
        heads = conn.execute(select(t.chain_heads.c.seq).where(
            t.chain_heads.c.table_name == "week_closures")).scalars().all()  # fmt: skip
        assert heads in ([], [0])


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_the_chain_check_after_an_append_reads_the_index_even_in_a_generic_plan(db: Engine):
    """psycopg prepares a statement run five times; PostgreSQL may then plan it once for any
    value. With a lower bound only, that plan guessed a third of a big table and scanned it
    all (in parallel workers) after every batch: 20 to 40 ms at 100,000 rows."""
    with db.begin() as conn:  # a big table, as after a national week close (no ANALYZE)
        conn.execute(text(
            "INSERT INTO week_closures (ward, programme, week, receiver, completed, minimum, "
            "verdict, reason, closed_at, chain_seq, chain_hash) SELECT 'w', 'kh179', '2025-W47', "
            "'loa-' || i, 1, 1, 'compliant', '', now(), i, 'x' FROM generate_series(1, 60000) i"
        ))  # fmt: skip
        conn.execute(text("INSERT INTO chain_heads (table_name, seq, hash) "
                          "VALUES ('week_closures', 60000, repeat('0', 64))"))  # fmt: skip
    with statements(db) as seen, db.begin() as conn:
        chain = Appender.open(conn, t.week_closures)
        rows = [closure(n) for n in range(3)]
        chain.add(rows)
        insert_rows(conn, t.week_closures, rows)
        chain.close()
    (sql, params), *others = [(s, p) for s, p in seen if "count(*)" in s]
    assert not others
    names: list[str] = []
    prepared = re.sub(r"%\((\w+)\)s", lambda m: f"${names.append(m[1]) or len(names)}", sql)
    with db.begin() as conn:
        conn.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        conn.exec_driver_sql(f"PREPARE chain_check AS {prepared}")
        values = ", ".join(str(int(params[name])) for name in names)
        plan = "\n".join(conn.exec_driver_sql(f"EXPLAIN EXECUTE chain_check({values})").scalars())
        assert conn.exec_driver_sql(f"EXECUTE chain_check({values})").scalar_one() == 3
        conn.exec_driver_sql("DEALLOCATE chain_check")
    assert "Seq Scan" not in plan, plan
    assert "Parallel" not in plan, plan
    assert "Index Scan on ix_week_closures_chain_seq" in plan, plan


def test_acks_to_unanswered_commands_look_up_no_stored_ack_and_a_repeat_is_still_counted(
    repo: Repository,
):
    world = World(repo)
    plan = planned("cam-trung")
    ids = {r: f"c-{r}" for r in RECEIVERS}
    new = tuple(NewCommand(ids[r], r, f"ipfm/cam-trung/{r}/cmd", command(r, 0).payload)
                for r in RECEIVERS)  # fmt: skip
    repo.store_airings([AiringToStore(plan, Priority.NORMAL, AUDIO, new)],
                       snapshot_id=world.snapshot_id, now=NOW)  # fmt: skip
    repo.record_sends([SendResult(ids["loa-01"], SendOutcome.PUBACK)], now=NOW)

    def heard(receiver: str) -> Any:
        topic = f"ipfm/cam-trung/{receiver}/ack"
        return incoming("cam-trung", receiver, ack(ids[receiver], AckStatus.RECEIVED), b"{}", topic)

    later = NOW + timedelta(seconds=5)
    with statements(repo.engine) as seen:  # loa-01 sent, loa-02 still pending
        first = repo.record_acks([heard("loa-01"), heard("loa-02")], now=later)
    assert [o.changed for o in first] == [True, True]
    assert not stored_acks_read(seen)
    with statements(repo.engine) as seen:  # loa-01 again: a repeat; loa-03: a first
        second = repo.record_acks([heard("loa-01"), heard("loa-03")], now=later)
    assert [o.changed for o in second] == [False, True]
    assert stored_acks_read(seen)  # loa-01 has one stored: a repeat is found
    with repo.engine.connect() as conn:
        stored = conn.execute(select(t.acks.c.command_id).order_by(t.acks.c.id)).scalars().all()
        repeats = conn.execute(select(t.ack_repeats.c.repeats)).scalars().all()
    assert stored == [ids["loa-01"], ids["loa-02"], ids["loa-03"]]
    assert repeats == [1]
