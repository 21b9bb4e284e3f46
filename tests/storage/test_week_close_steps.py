"""Closing a week a few wards at a time (service/weekly.py ``Weekly.close_step``), over the
real airing log on SQLite and PostgreSQL: the same verdicts as `report` gives, written once, in
one transaction at the last step; a step that fails is taken again; a service stopped in the
middle has written nothing, and closes the whole week once when it starts again. And the
storage under it at this size: the week's commands read in chunks, the verdicts written in
bulk (multi-row VALUES on SQLite, COPY on PostgreSQL), their hash chain intact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from ipfm_scheduler.core.commands import AckStatus
from ipfm_scheduler.core.compliance import EXPIRE_GRACE
from ipfm_scheduler.core.records import WeekCloseRow
from ipfm_scheduler.errors import StorageError
from ipfm_scheduler.service.ports import NoMetrics
from ipfm_scheduler.service.weekly import Weekly
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.bulk import CHUNK, insert_rows
from ipfm_scheduler.storage.chain import CHAINED
from ipfm_scheduler.storage.chain_check import check_chain
from ipfm_scheduler.storage.report import week_report
from ipfm_scheduler.storage.repository import Repository
from ipfm_scheduler.storage.snapshot import SnapshotReceiver, SnapshotWard
from tests.service.helpers import make_plan
from tests.storage.storage_factories import AFTER_WEEK, MONDAY, WEEK, World, planned, snapshot

WARDS = [f"ward-{w:02d}" for w in range(7)]
RECEIVERS = ("loa-01", "loa-02", "loa-03")


def many_wards(repo: Repository) -> World:
    """Seven wards of three receivers; in each, Monday's airing: loa-01 completed, loa-02
    failed, loa-03 never answered (ward-03 has no airing at all)."""
    base = snapshot()
    wards = tuple(
        SnapshotWard(w, f"Phường {w}", tuple(SnapshotReceiver(r, True) for r in RECEIVERS))
        for w in WARDS
    )
    world = World(repo, base.__class__(base.timezone, base.files, base.programmes, wards))
    for ward in WARDS:
        if ward == "ward-03":
            continue
        _airing, ids = world.airing(RECEIVERS, ward=ward)
        world.answer(ward, "loa-01", ids[0], AckStatus.RECEIVED, AckStatus.COMPLETED)
        world.answer(ward, "loa-02", ids[1], AckStatus.FAILED, detail="device")
    return world


def closed_rows(repo: Repository) -> list[tuple[str, str, str, str, int, str]]:
    wc = t.week_closures
    query = select(wc.c.ward, wc.c.programme, wc.c.receiver, wc.c.verdict, wc.c.completed)
    with repo.engine.connect() as conn:
        rows = conn.execute(query.add_columns(wc.c.reason).where(wc.c.week == str(WEEK))).all()
    return sorted(tuple(r) for r in rows)


def reported(repo: Repository) -> list[tuple[str, str, str, str, int, str]]:
    with repo.engine.connect() as conn:
        result = week_report(conn, WEEK, now=AFTER_WEEK)
    return sorted(
        (g.ward, g.programme, r.receiver, r.standing.value, r.completed, r.reason)
        for g in result.groups
        for r in g.receivers
    )


def chain_intact(repo: Repository) -> bool:
    with repo.engine.connect() as conn:
        return [(c.table, c.broken) for c in check_chain(conn)] == [(n, None) for n in CHAINED]


def test_a_week_closed_in_steps_writes_every_verdict_once_at_the_last_step(
    repo: Repository,
) -> None:
    many_wards(repo)
    weekly, plan = Weekly(repo, NoMetrics()), make_plan()
    steps = []
    while not (
        closed := weekly.close_step(plan, AFTER_WEEK, expire_grace=EXPIRE_GRACE, receivers=6)
    ):
        steps.append(closed_rows(repo))
        assert len(steps) < 20
    assert closed == [WEEK]
    # the configuration, then two wards (6 receivers) a step, then the writing
    assert len(steps) == 1 + 4
    assert all(rows == [] for rows in steps)  # nothing written before the last step
    rows = closed_rows(repo)
    assert len(rows) == len(WARDS) * len(RECEIVERS)
    assert rows == reported(repo)  # the verdicts `report` gives, as a whole close writes them
    assert {r[3] for r in rows if r[2] == "loa-01" and r[0] != "ward-03"} == {"compliant"}
    assert weekly.close_step(plan, AFTER_WEEK, expire_grace=EXPIRE_GRACE) == []  # once
    assert chain_intact(repo)


class Failing:
    """The airing log, whose reading of airings fails once, at its ``fail_at``-th call."""

    def __init__(self, repo: Repository, fail_at: int) -> None:
        self.repo, self.calls, self.fail_at = repo, 0, fail_at

    def airings_between(self, *args: Any) -> Any:
        self.calls += 1
        if self.calls == self.fail_at:
            raise StorageError("the database went away")  # i18n: internal (a test's)
        return self.repo.airings_between(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.repo, name)


def test_a_step_that_fails_is_taken_again_and_no_verdict_is_lost_or_doubled(
    repo: Repository,
) -> None:
    many_wards(repo)
    weekly, plan = Weekly(Failing(repo, fail_at=2), NoMetrics()), make_plan()
    outcomes: list[object] = []
    while not outcomes or outcomes[-1] != [WEEK]:
        try:
            outcomes.append(
                weekly.close_step(plan, AFTER_WEEK, expire_grace=EXPIRE_GRACE, receivers=6)
            )
        except StorageError as exc:
            outcomes.append(str(exc))
        assert len(outcomes) < 20
    assert "the database went away" in outcomes
    assert closed_rows(repo) == reported(repo)
    assert chain_intact(repo)


def test_a_service_stopped_in_the_middle_of_a_close_writes_nothing_and_closes_once_later(
    repo: Repository,
) -> None:
    many_wards(repo)
    plan = make_plan()
    stopped = Weekly(repo, NoMetrics())
    for _ in range(3):  # the configuration and two steps of wards, then the service stops
        assert stopped.close_step(plan, AFTER_WEEK, expire_grace=EXPIRE_GRACE, receivers=6) == []
    assert closed_rows(repo) == []
    started = Weekly(repo, NoMetrics())  # the service started again
    assert started.close_weeks(plan, AFTER_WEEK, expire_grace=EXPIRE_GRACE)[0] == WEEK
    assert closed_rows(repo) == reported(repo)
    assert len(closed_rows(repo)) == len(WARDS) * len(RECEIVERS)
    assert chain_intact(repo)


def test_the_week_s_airings_are_read_with_their_commands_past_one_chunk(repo: Repository) -> None:
    world = World(repo)
    count = CHUNK + 20
    for i in range(count):
        at = planned("cam-trung", MONDAY, 0, 0).start + timedelta(minutes=i)
        world.airing(("loa-01", "loa-02"), hour=at.hour, minute=at.minute)
    start = planned("cam-trung", MONDAY, 0, 0).start
    found = repo.airings_between(start, start + timedelta(days=1))
    assert len(found) == count
    assert found == [repo.airing(a.id) for a in found]  # as one airing is read
    assert {tuple(a.commands) for a in found} == {("loa-01", "loa-02")}
    assert all(c.id == f"cmd-{a.id}-{c.receiver}" for a in found for c in a.commands.values())


REASONS = (
    "plain",
    "tab\there, new\nline, back\\slash, quote ' and \"",
    "Tổ 3: thiết bị hỏng; 0 of 1 completed",
    "",
    "\\N and \\x00 as text",
)


def test_many_verdicts_are_written_in_bulk_exactly_and_their_chain_verifies(
    repo: Repository,
) -> None:
    world = World(repo)
    rows = [
        WeekCloseRow(
            f"ward-{i // 100:02d}", "kh179", f"loa-{i % 100:02d}", i % 3, 1, i % 3 > 0,
            REASONS[i % len(REASONS)],
        )
        for i in range(1234)
    ]  # fmt: skip
    now = datetime(2025, 12, 1, 0, 30, 15, 123456, tzinfo=UTC)
    repo.record_week_close(WEEK, rows, now=now, snapshot_id=world.snapshot_id)
    wc = t.week_closures
    with repo.engine.connect() as conn:
        back = conn.execute(select(wc).order_by(wc.c.chain_seq)).all()
    assert [(r.ward, r.receiver, r.completed, r.verdict, r.reason) for r in back] == [
        (r.ward, r.receiver, r.completed, r.verdict.value, r.reason)
        for r in sorted(rows, key=lambda r: (r.ward, r.programme))
    ]
    assert {r.closed_at for r in back} == {now}
    assert {r.snapshot_id for r in back} == {world.snapshot_id}
    assert chain_intact(repo)


def test_bulk_rows_keep_nulls_times_and_bytes(repo: Repository) -> None:
    """``insert_rows`` on a table with times (one of them null), bytes and null text."""
    q = t.ack_quarantine
    at = datetime(2025, 11, 24, 6, 0, 1, 5, tzinfo=UTC)
    rows = [
        {
            "topic": f"ipfm/w/r{i}/ack", "ward": "w", "receiver": f"r{i}",
            "command_id": None if i % 2 else f"c{i}", "raw": bytes([i % 256, 0, 92, 9]),
            "raw_bytes": 4, "reason": REASONS[i % len(REASONS)],
            "received_at": at + timedelta(seconds=i), "sha256": None, "repeats": 0,
            "last_repeat_at": None if i % 3 else at,
        }
        for i in range(700)
    ]  # fmt: skip
    with repo.engine.begin() as conn:
        insert_rows(conn, q, rows)
    columns = [q.c[name] for name in rows[0]]
    with repo.engine.connect() as conn:
        back = conn.execute(select(*columns).order_by(q.c.id)).all()
        total = conn.execute(select(func.count()).select_from(q)).scalar_one()
    assert total == len(rows)
    assert [{**r._asdict(), "raw": bytes(r.raw)} for r in back] == rows


@pytest.mark.parametrize("budget", [1, 3, 100])
def test_any_step_size_gives_the_same_close(repo: Repository, budget: int) -> None:
    many_wards(repo)
    weekly, plan = Weekly(repo, NoMetrics()), make_plan()
    for _ in range(40):
        if weekly.close_step(plan, AFTER_WEEK, expire_grace=EXPIRE_GRACE, receivers=budget):
            break
    assert closed_rows(repo) == reported(repo)
