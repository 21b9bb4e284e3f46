"""The hash chain over time: a chain written again whole against the heads a printed report
pinned, a database recorded before the chain (schema 0002) upgraded, the heads in every report
format, and writers appending at once."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import inspect, select

from ipfm_scheduler.core.commands import AckStatus
from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.core.traffic import AiringToStore
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.chain import CHAINED, GENESIS, link
from ipfm_scheduler.storage.chain_check import check_chain
from ipfm_scheduler.storage.db import open_engine
from ipfm_scheduler.storage.migrate import head_revision
from ipfm_scheduler.storage.repository import Repository
from tests.storage.storage_factories import AUDIO, WEEK, World, command, planned
from tests.storage.test_chain import CHANGE, assert_names, by_hand, close, fill, line, verify
from tests.storage.test_storage_cli import run
from tests.storage.test_storage_concurrency import together


def rewrite_chain(url: str, table: str) -> None:
    """What someone who knows the rules (they are public) can do after changing rows: compute
    every hash again, and the recorded head."""
    engine = open_engine(url)
    try:
        with engine.begin() as conn:
            chained = getattr(t, table)
            rows = conn.execute(select(chained).order_by(chained.c.chain_seq)).mappings().all()
            previous = GENESIS
            for row in rows:
                previous = link(previous, table, row)
                update = chained.update().where(chained.c.id == row["id"])
                conn.execute(update.values(chain_hash=previous))
            heads = t.chain_heads
            update = heads.update().where(heads.c.table_name == table)
            conn.execute(update.values(hash=previous))
    finally:
        engine.dispose()


def test_a_rewritten_chain_differs_from_the_head_a_report_printed(db_url: str):
    """A chain rewritten whole after a change verifies on its own: the head a printed report
    pinned (``--head``) is what tells."""
    filled = fill(db_url)
    head = line(verify(db_url), "week_closures").split(" head ")[1].split(",")[0]
    pin = f"week_closures:{len(filled.ids['week_closures'])}:{head}"
    assert verify(db_url, "--head", pin).code == 0
    by_hand(db_url, CHANGE["week_closures"].format(id=filled.target("week_closures")))
    rewrite_chain(db_url, "week_closures")
    assert verify(db_url).code == 0  # the limit of a chain kept beside the rows
    result = verify(db_url, "--head", pin)
    assert_names(result, "week_closures", filled.ids["week_closures"][-1], "not as pinned")
    assert f"was {head} when pinned" in result.err
    assert "(this row)" in result.err


# --- a database recorded before the chain -----------------------------------------------------


def downgrade(url: str, target: str) -> None:
    from alembic import command

    from ipfm_scheduler.storage.migrate import alembic_config

    engine = open_engine(url)
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), target)
    finally:
        engine.dispose()


def test_a_log_recorded_before_the_chain_verifies_once_upgraded(db_url: str):
    """Rows the service wrote at schema 0002 (no chain) are chained by `db upgrade`, in id order
    (commands: in the order they were stored), and the service's next rows follow them."""
    filled = fill(db_url, close_twice=False)  # 0002 kept one closing row per receiver
    downgrade(db_url, "0002")
    engine = open_engine(db_url)
    with engine.connect() as conn:
        assert "chain_hash" not in {c["name"] for c in inspect(conn).get_columns("acks")}
    engine.dispose()
    upgraded = run("db", "upgrade", "--database", db_url)
    assert upgraded.code == 0, upgraded.err
    assert f"upgraded from schema 0002 to {head_revision()}" in upgraded.text
    result = verify(db_url)
    assert result.code == 0, result.text + result.err
    for name in CHAINED:
        assert line(result, name).startswith(f"{name}: {len(filled.ids[name])} rows, head ")
    engine = open_engine(db_url)
    try:
        repo = Repository(engine)
        world = World(repo)
        _, (later,) = world.airing(receivers=("loa-01",), hour=20)
        world.answer("cam-trung", "loa-01", later, AckStatus.COMPLETED)
        repo.record_week_close(WEEK, [close("cam-trung", "loa-01", 2)], now=world.now)
    finally:
        engine.dispose()
    again = verify(db_url)
    assert again.code == 0, again.text + again.err
    assert line(again, "acks").startswith(f"acks: {len(filled.ids['acks']) + 1} rows, head ")


# --- the report pins the log ------------------------------------------------------------------


def report_pins(url: str, fmt: str) -> list[str]:
    done = run("report", "--week", str(WEEK), "--format", fmt, "--database", url)
    assert done.code == 1, done.err  # short: cam-trung's loa-02 failed
    if fmt == "json":
        return [h["pin"] for h in json.loads(done.text)["log_heads"]]
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(done.out.decode("utf-8-sig"))))
        assert len({r["log_heads"] for r in rows}) == 1
        return rows[0]["log_heads"].split(" ")
    lines = done.text.splitlines()
    start = lines.index("for each line):") + 1
    return [x.strip() for x in lines[start:]]


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_each_report_prints_the_heads_that_pin_the_log(db_url: str, fmt: str):
    filled = fill(db_url)
    pins = report_pins(db_url, fmt)
    assert [p.split(":")[:2] for p in pins] == [[n, str(len(filled.ids[n]))] for n in CHAINED]
    heads = [a for pin in pins for a in ("--head", pin)]
    assert verify(db_url, *heads).code == 0
    by_hand(db_url, CHANGE["acks"].format(id=filled.target("acks")))
    rewrite_chain(db_url, "acks")
    assert verify(db_url).code == 0
    assert_names(verify(db_url, *heads), "acks", filled.ids["acks"][-1], "not as pinned")
    later = report_pins(db_url, fmt)
    assert [p for p in later if p not in pins] == [later[CHAINED.index("acks")]]


# --- writers at once --------------------------------------------------------------------------


def test_writers_at_once_append_one_after_the_other(repo: Repository):
    """Each writer takes its table's chain head (locked until it commits): airings, commands
    and acks stored at the same instant by several writers still make one unbroken chain."""
    world = World(repo)
    acked = [world.airing(receivers=("loa-01",), hour=h)[1][0] for h in range(6, 10)]

    def store(hour: int) -> None:
        commands = [command(r, 1000 + hour, "cua-ong") for r in ("loa-01", "loa-02")]
        item = AiringToStore(planned("cua-ong", hour=hour), Priority.NORMAL, AUDIO, tuple(commands))
        repo.store_airings([item], snapshot_id=world.snapshot_id, now=world.now)

    def answer(cid: str) -> None:
        world.answer("cam-trung", "loa-01", cid, AckStatus.RECEIVED, AckStatus.COMPLETED)

    together(
        *(lambda h=h: store(h) for h in range(12, 16)),
        *(lambda c=c: answer(c) for c in acked),
    )
    with repo.engine.connect() as conn:
        checks = check_chain(conn)
    assert [(c.table, c.rows, c.broken) for c in checks] == [
        ("airings", 8, None),
        ("commands", 12, None),
        ("acks", 8, None),
        ("week_closures", 0, None),
    ]
