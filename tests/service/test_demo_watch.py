"""The demo's progress lines (``scripts/demo.sh``): the states of the ``run --demo`` commands as
the database records them, and when the watch ends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ipfm_scheduler.cli import demo_watch
from ipfm_scheduler.cli.demo_watch import Progress
from ipfm_scheduler.core.manual import DEMO_NOTE
from ipfm_scheduler.storage.audit import LogRow
from ipfm_scheduler.storage.db import open_engine
from ipfm_scheduler.storage.migrate import upgrade
from ipfm_scheduler.storage.repository import Repository
from tests.service.helpers import MONDAY, Rig, default_ward, local, make_plan

AT = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


def row(airing: int, receiver: str, state: str | None, note: str | None = DEMO_NOTE) -> LogRow:
    return LogRow(
        airing, "", AT, "2026-W48", "cam-trung", "kh179", "manual", "normal", "pending",
        receiver, f"c-{airing}-{receiver}", state, 0, None, None, None, None, None, note,
    )  # fmt: skip


def test_counts_only_the_demo_commands_in_protocol_order() -> None:
    progress = Progress(
        [
            row(1, "loa-01", "playing"),
            row(1, "loa-02", "received"),
            row(2, "loa-01", "received"),
            row(3, "loa-01", "completed", note="requested by an (request #4)"),
            row(4, "", None),  # a demo airing without commands yet
        ]
    )
    assert progress.describe() == "3 airings, 3 commands: 2 received, 1 playing"
    assert not progress.finished


def test_finished_only_when_every_command_has_a_final_answer() -> None:
    done = Progress([row(1, "loa-01", "completed"), row(1, "loa-02", "completed")])
    assert done.finished
    assert done.completed
    short = Progress([row(1, "loa-01", "completed"), row(1, "loa-02", "failed")])
    assert short.finished
    assert not short.completed
    waiting = Progress([row(1, "loa-01", "completed"), row(1, "loa-02", "sent")])
    assert not waiting.finished
    assert Progress([]).describe() == "no demo airing stored yet"
    assert not Progress([]).finished


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[str, Repository]]:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    engine = open_engine(url)
    upgrade(engine)
    yield url, Repository(engine)
    engine.dispose()


def test_reads_the_demo_commands_from_the_database(
    store: tuple[str, Repository], capsys: pytest.CaptureFixture[str]
) -> None:
    url, log = store
    now = local(MONDAY, "12:00")
    rig = Rig(make_plan(default_ward()), now, log)
    rig.dispatcher.demo(now, timedelta(seconds=15))
    assert demo_watch.read(url).describe() == "1 airing, 2 commands: 2 pending"
    rig.dispatcher.send(now)  # the fake broker acknowledges at once
    assert demo_watch.read(url).describe() == "1 airing, 2 commands: 2 sent"
    # nobody answers: the watch gives up at its timeout, and says so
    assert demo_watch.watch(url, timeout=0, every=0) == 1
    out = capsys.readouterr().out
    assert "1 airing, 2 commands: 2 sent" in out
    assert "not all confirmed after 0 s" in out
