"""No answer lost to a database error (issue 13, item 5): acks received while the database is
down (SQLite on a full disk, PostgreSQL refusing connections after its backends were
terminated) are all stored once it is back, in order, none twice; and a service stopped
meanwhile replays them from its spill file when it starts again."""

from __future__ import annotations

import contextlib
import errno
import subprocess
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine, make_url

from ipfm_scheduler.core.model import Receiver
from ipfm_scheduler.errors import StorageError
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.db import open_engine
from ipfm_scheduler.storage.memory import MemoryLog
from ipfm_scheduler.storage.migrate import upgrade
from ipfm_scheduler.storage.repository import Repository
from tests.core.factories import ward, weekly
from tests.service.fake_mqtt import ack_message
from tests.service.helpers import MONDAY, PREFIX, Rig, local, make_plan

RECEIVERS = tuple(Receiver(f"loa-{i:02d}") for i in range(1, 21))
STATUSES = ("received", "playing", "completed")


def sqlite_at(path: Path) -> Engine:
    engine = open_engine(f"sqlite:///{path}")
    upgrade(engine)
    return engine


def new_rig(log: object, spill: Path) -> Rig:
    plan = make_plan(ward(weekly("mon", "06:00"), receivers=RECEIVERS))
    rig = Rig(plan, local(MONDAY, "05:58"), log=log, spill=spill)
    rig.tick()  # one airing, 20 commands stored and sent
    assert len(rig.outbox.published) == len(RECEIVERS)
    return rig


def receive(rig: Rig) -> None:
    """The tick's receiving step as the timer runs it (a failure is logged, not raised)."""
    with contextlib.suppress(StorageError):
        rig.dispatcher.receive(rig.now)


def answer(rig: Rig, status: str) -> None:
    for _, topic, payload in rig.outbox.published[: len(RECEIVERS)]:
        _, ward_id, receiver, _ = topic.split("/")
        command_id = payload.split(b'"id":"')[1].split(b'"')[0].decode()
        rig.outbox.incoming.append(
            ack_message(PREFIX, ward_id, receiver, command_id, status, rig.now)
        )


def answer_during_outage(rig: Rig) -> None:
    """Every receiver answers received, playing, completed while the database is down."""
    for status, at in zip(STATUSES, ("05:59", "06:00:05", "06:10"), strict=True):
        rig.at(local(MONDAY, at))
        answer(rig, status)
        for _ in range(3):
            receive(rig)
            rig.advance(seconds=5)
    assert rig.dispatcher.answers.pending.spilled > 0  # down for minutes: set aside on disk


def recover(rig: Rig) -> None:
    for _ in range(20):
        rig.advance(seconds=31)
        receive(rig)
        if not rig.dispatcher.answers.pending.waiting and not _spill_pending(rig):
            return


def _spill_pending(rig: Rig) -> bool:
    spill = rig.dispatcher.answers.pending.spill
    return spill is not None and spill.pending


def assert_every_ack_once_in_order(repo: Repository) -> None:
    with repo.engine.connect() as conn:
        rows = conn.execute(select(t.acks.c.command_id, t.acks.c.status).order_by(t.acks.c.id))
        acks = [(r.command_id, r.status) for r in rows]
        states = set(conn.execute(select(t.commands.c.state)).scalars())
    assert len(acks) == 3 * len(RECEIVERS)  # none lost, none twice
    by_command: dict[str, list[str]] = {}
    for command_id, status in acks:
        by_command.setdefault(command_id, []).append(status)
    assert len(by_command) == len(RECEIVERS)
    assert all(s == list(STATUSES) for s in by_command.values())  # in the order they came
    assert states == {"completed"}


# ---------------------------------------------------------------- SQLite on a full disk


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB tmpfs of this test's own (root only: skipped where it can't be mounted)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"can't mount a tmpfs here: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path) -> Path:
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as f:  # unbuffered: nothing left to flush at close
        while _write(f):
            pass
    return filler


def _write(f: BinaryIO) -> bool:
    """Write 64 KiB; False once the disk is full."""
    try:
        f.write(b"\0" * 65536)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        return False
    return True


def test_acks_received_while_the_sqlite_disk_is_full_are_all_stored_once_it_has_room(
    small_disk: Path, tmp_path: Path
) -> None:
    engine = sqlite_at(small_disk / "ipfm.db")
    repo = Repository(engine)
    try:
        rig = new_rig(repo, tmp_path / "state" / "answers.spill")
        filler = fill(small_disk)
        with pytest.raises(StorageError, match="full"):  # the disk is full indeed
            repo.quarantine("probe", "", "", b"x" * 4096, "probe", now=rig.now)
        answer_during_outage(rig)
        filler.unlink()
        recover(rig)
        assert_every_ack_once_in_order(repo)
        assert not (tmp_path / "state" / "answers.spill").exists()  # emptied once replayed
    finally:
        engine.dispose()


# ---------------------------------------------------------------- PostgreSQL away


@pytest.fixture
def pg_outage(pg_databases: Callable[[], str]) -> Iterator[tuple[str, Callable[[bool], None]]]:
    """A new database at the latest schema, and a switch: off terminates every backend on it
    (``pg_terminate_backend``, from a second connection) and refuses new ones until on."""
    import psycopg

    url = pg_databases()
    engine = open_engine(url)
    upgrade(engine)
    engine.dispose()
    name = make_url(url).database
    u = make_url(url)

    def switch(on: bool) -> None:
        with psycopg.connect(
            host=u.host, port=u.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {str(on).lower()}')
            if not on:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                )

    yield url, switch
    switch(True)


@pytest.mark.postgres
def test_acks_received_while_postgresql_is_away_are_all_stored_once_it_is_back(
    pg_outage: tuple[str, Callable[[bool], None]], tmp_path: Path
) -> None:
    url, switch = pg_outage
    engine = open_engine(url)
    repo = Repository(engine)
    try:
        rig = new_rig(repo, tmp_path / "answers.spill")
        switch(False)  # the service's connections are terminated, new ones refused
        answer_during_outage(rig)
        switch(True)
        recover(rig)
        assert_every_ack_once_in_order(repo)
    finally:
        engine.dispose()


# ---------------------------------------------------------------- a restart


def test_a_service_stopped_while_the_database_was_down_stores_the_answers_when_it_starts_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ipfm.db"
    spill = tmp_path / "state" / "answers.spill"
    engine = sqlite_at(path)
    repo = Repository(engine)
    try:
        rig = new_rig(repo, spill)
        read_only = Repository(open_engine(f"sqlite:///{path}", read_only=True))
        rig.dispatcher.answers.log = read_only  # every write refused from now on
        answer(rig, "received")
        rig.advance(seconds=1)
        answer(rig, "playing")
        receive(rig)
        assert rig.dispatcher.answers.pending.waiting == 2 * len(RECEIVERS)
        rig.dispatcher.answers.stop(rig.now)  # the service stops
        assert spill.stat().st_size > 0
        assert rig.dispatcher.answers.pending.waiting == 0
        read_only.close()
        restarted = Rig(rig.plan, rig.now + timedelta(minutes=11), log=repo, spill=spill)
        answer(rig, "completed")  # what comes after the restart is stored after the replay
        restarted.outbox.incoming = rig.outbox.incoming
        restarted.outbox.published = rig.outbox.published
        for _ in range(5):
            receive(restarted)
            restarted.advance(seconds=1)
        assert_every_ack_once_in_order(repo)
        assert not spill.exists()
    finally:
        engine.dispose()


def test_a_batch_that_fails_by_a_bug_is_not_retried_for_ever(tmp_path: Path) -> None:
    """Only a database error keeps answers pending: a bug would fail the same batch again at
    every tick (and at every start, from the spill file), holding back every answer after it."""
    rig = new_rig(MemoryLog({"kh179": 600.0}), tmp_path / "answers.spill")
    rig.log.fail_next = RuntimeError("a bug")
    answer(rig, "received")
    with pytest.raises(RuntimeError):
        rig.dispatcher.receive(rig.now)
    answer(rig, "playing")
    rig.advance(seconds=1).dispatcher.receive(rig.now)
    assert [a.ack.status.value for a, _ in rig.log.acks] == ["playing"] * len(RECEIVERS)
    assert not (tmp_path / "answers.spill").exists()


class _Down:
    """An airing log whose database is away."""

    def __getattr__(self, name: str) -> object:
        def refuse(*_args: object, **_kwargs: object) -> None:
            raise StorageError("the database is away")

        return refuse


def test_while_the_database_is_down_only_answers_of_configured_receivers_wait(
    tmp_path: Path,
) -> None:
    """A flood from wards that do not exist can't fill the memory or the spill file that keep
    the real answers while the database is down: it is counted and let go at once."""
    rig = new_rig(MemoryLog({"kh179": 600.0}), tmp_path / "answers.spill")
    rig.dispatcher.answers.log = _Down()
    rig.outbox.incoming += [
        ack_message(PREFIX, f"ghost-{i}", "loa-01", "00000000-0000-4000-8000-000000000000",
                    "completed", rig.now)
        for i in range(500)
    ]  # fmt: skip
    answer(rig, "received")
    receive(rig)
    assert rig.dispatcher.answers.pending.waiting == len(RECEIVERS)
    assert rig.dispatcher.answers.unknown == 500
