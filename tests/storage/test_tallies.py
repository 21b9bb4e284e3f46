"""`report` and `status` count the week's completed commands in the database (storage/tallies.py)
instead of reading each: over random weeks (commands in every state, make-ups, missed airings,
offline receivers, answers not verified), what they give is what reading every command gives.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import false, update

from ipfm_scheduler.cli.status_view import stored_week
from ipfm_scheduler.core.commands import CommandState
from ipfm_scheduler.core.verdicts import receiver_verdicts
from ipfm_scheduler.storage import report as report_module
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage import tallies
from ipfm_scheduler.storage.report import WeekReport, week_report
from ipfm_scheduler.storage.repository import Repository
from tests.storage.storage_factories import AFTER_WEEK, VN, WEEK
from tests.storage.test_verdicts_agree import RECEIVERS, fresh_repository, record_week, week_st

MINUTES = 7 * 24 * 60


@pytest.fixture(scope="module")
def databases(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> tuple[Path, Path]:
    """Where each example gets its own copy of the upgraded template, and the template."""
    return tmp_path_factory.mktemp("tallies"), sqlite_template


def every_command_read(conn: Any, airings_where: Any, apart_where: Any = ()) -> Any:
    """``week_commands`` with nothing counted apart: every command read one by one, as before."""
    return tallies.week_commands(conn, airings_where, [false()])


def _unverified(repo: Repository, pick: int) -> None:
    """Some completed commands rest on answers not verified (protocol version 1)."""
    c = t.commands
    with repo.engine.begin() as conn:
        ids = [r.id for r in conn.execute(c.select().where(c.c.state == "completed")).all()]
        chosen = ids[:: pick + 1]
        conn.execute(update(c).where(c.c.id.in_(chosen)).values(answer_verified=False))


def reports(repo: Repository, now: Any, monkeypatch: pytest.MonkeyPatch) -> list[WeekReport]:
    made = []
    for reader in (tallies.week_commands, every_command_read):
        monkeypatch.setattr(report_module, "week_commands", reader)
        with repo.engine.connect() as conn:
            made.append(week_report(conn, WEEK, now=now))
            made.append(week_report(conn, WEEK, now=now, ward="cam-trung"))
    return made


@settings(max_examples=30, deadline=None)
@given(week=week_st, minute=st.integers(0, MINUTES - 1), pick=st.integers(0, 3))
def test_the_report_counted_is_the_report_read_command_by_command(
    databases: tuple[Path, Path], week: dict[str, Any], minute: int, pick: int
) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch, fresh_repository(databases) as repo:
        record_week(repo, week)
        _unverified(repo, pick)
        for now in (AFTER_WEEK, WEEK.start(VN) + timedelta(minutes=minute)):
            counted_all, counted_ward, read_all, read_ward = reports(repo, now, monkeypatch)
            assert counted_all == read_all  # every line, verdict and reason (its facts)
            assert counted_ward == read_ward
            lines = [r for g in counted_all.groups for r in g.receivers]
            read = [r for g in read_all.groups for r in g.receivers]
            assert [(str(r.why), r.why and r.why.words()) for r in lines] == [
                (str(r.why), r.why and r.why.words()) for r in read
            ]


@settings(max_examples=30, deadline=None)
@given(week=week_st, minute=st.integers(0, MINUTES - 1))
def test_status_counted_gives_the_verdicts_of_every_command_read(
    databases: tuple[Path, Path], week: dict[str, Any], minute: int
) -> None:
    """The airings `status` reads keep every command but the completed ones of airings that
    started before now; with those counted apart, each receiver's verdict is the same."""
    now = WEEK.start(VN) + timedelta(minutes=minute)
    with fresh_repository(databases) as repo:
        record_week(repo, week)
        stored = stored_week(repo, VN, now)
        full = repo.airings_between(WEEK.start(VN), WEEK.end(VN) + timedelta(days=2))
        assert [r.id for r in stored.records] == [r.id for r in full]
        for kept, every in zip(stored.records, full, strict=True):
            left_out = CommandState.COMPLETED if every.start < now else None
            commands = {k: c for k, c in every.commands.items() if c.state is not left_out}
            assert kept.commands == commands
            assert (kept.ward, kept.start, kept.origin, kept.outcome, kept.local) == (
                every.ward, every.start, every.origin, every.outcome, every.local
            )  # fmt: skip
        for ward, receivers in RECEIVERS.items():
            mine = [r for r in stored.records if r.ward == ward and r.start < WEEK.end(VN)]
            theirs = [r for r in full if r.ward == ward and r.start < WEEK.end(VN)]
            end, minimum = WEEK.end(VN), week["minimum"]
            counted = receiver_verdicts(
                WEEK, receivers, "kh179", minimum, mine, now=now, final_at=end, tz=VN,
                completed_apart=stored.completed_apart.get((ward, "kh179")),
            )  # fmt: skip
            read = receiver_verdicts(
                WEEK, receivers, "kh179", minimum, theirs, now=now, final_at=end, tz=VN
            )
            assert counted == read
