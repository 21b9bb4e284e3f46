"""The receiver's memory: the same tests over MemoryStore and SqliteStore. "Reopening" is a new
SqliteStore on the same file (a restarted process); MemoryStore lives as long as its object,
which then stands for a box whose state file survived."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ipfm_scheduler.core.commands import AckStatus
from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.errors import StorageError
from ipfm_scheduler.protocol import Ack, AudioRef, PlayCommand, encode_command
from ipfm_scheduler.receiver.core import FetchResult, ReceiverCore
from ipfm_scheduler.receiver.store import MemoryStore, NowPlaying, SqliteStore, Store

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
T0 = datetime(2026, 11, 29, 23, 0, 0, 123456, tzinfo=UTC)
AUDIO = AudioRef("http://h/a.mp3", "0" * 64, 1000, 612.4)
Reopen = Callable[[], Store]


def play(cid: str = "c1", start: datetime = T0) -> PlayCommand:
    return PlayCommand(
        id=cid, programme="kh179", title="Kế hoạch 179", audio=AUDIO, volume=70,
        priority=Priority.EMERGENCY, start_at=start, expires_at=start + timedelta(minutes=30),
        issued_at=start - timedelta(minutes=2),
    )  # fmt: skip


def ack(cid: str, status: AckStatus, at: datetime = T0, **kw: object) -> Ack:
    return Ack(cid, status, at.astimezone(TZ), **kw)  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "sqlite"])
def reopen(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Reopen]:
    """A function giving the store as a restarted process finds it."""
    opened: list[Store] = []
    memory = MemoryStore()

    def again() -> Store:
        if request.param == "memory":
            return memory
        for store in opened:
            store.close()
        opened.append(SqliteStore(tmp_path / "state" / "receiver.sqlite"))
        return opened[-1]

    yield again
    for store in opened:
        store.close()


def test_a_seen_id_keeps_its_digest_latest_ack_and_expiry(reopen: Reopen) -> None:
    store = reopen()
    assert store.seen("c1") is None
    store.remember("c1", b"\x01" * 32, T0 + timedelta(days=1))
    latest = ack("c1", AckStatus.COMPLETED, detail="ok", played_s=612.4)
    store.record_ack(ack("c1", AckStatus.RECEIVED), T0)
    store.record_ack(latest, T0)
    store.record_ack(ack("c1", AckStatus.REJECTED, detail="replay"), T0, latest=False)
    seen = reopen().seen("c1")
    assert seen is not None
    assert (seen.digest, seen.latest, seen.expires_at) == (
        b"\x01" * 32,
        latest,
        T0 + timedelta(days=1),
    )
    assert seen.latest is not None
    assert seen.latest.at.utcoffset() == timedelta(hours=7)


def test_the_outbox_keeps_acks_in_order_until_delivered_and_survives_a_restart(
    reopen: Reopen,
) -> None:
    store = reopen()
    until = T0 + timedelta(days=1)
    store.record_ack(ack("c1", AckStatus.RECEIVED), until)
    store.record_ack(ack("c2", AckStatus.REJECTED, detail="bad-signature"), until, latest=False)
    store.record_ack(ack("c1", AckStatus.PLAYING), until)
    store.delivered("c1", AckStatus.RECEIVED)
    again = ack("c2", AckStatus.REJECTED, T0 + timedelta(seconds=5), detail="bad-signature")
    store.record_ack(again, until)  # the same id and status again: one entry, now the last
    assert reopen().pending_acks() == [
        ("c1", ack("c1", AckStatus.PLAYING)),
        ("c2", again),
    ]
    reopen().delivered("c2", "rejected")
    assert [(cid, a.status.value) for cid, a in reopen().pending_acks()] == [("c1", "playing")]


def test_scheduled_plays_and_the_play_in_progress_survive_a_restart(reopen: Reopen) -> None:
    store = reopen()
    later, sooner = play("b", T0 + timedelta(minutes=9)), play("a", T0 + timedelta(minutes=5))
    store.schedule(later)
    store.schedule(sooner)
    store.schedule(play("c"))
    store.unschedule("c")
    store.set_playing(NowPlaying(play("p"), T0))
    after = reopen()
    assert after.scheduled() == [later, sooner]  # in the order accepted
    assert after.playing() == NowPlaying(play("p"), T0)
    after.set_playing(None)
    assert reopen().playing() is None


def test_ids_and_undelivered_acks_are_forgotten_after_their_expiry(reopen: Reopen) -> None:
    store = reopen()
    store.remember("old", b"o" * 32, T0)
    store.remember("new", b"n" * 32, T0 + timedelta(hours=1))
    store.record_ack(ack("old", AckStatus.COMPLETED), T0)
    store.record_ack(ack("new", AckStatus.COMPLETED), T0 + timedelta(hours=1))
    assert store.forget_expired(T0) == 0  # kept until its expiry has passed
    assert store.forget_expired(T0 + timedelta(seconds=1)) == 1
    after = reopen()
    assert (after.seen("old"), after.seen("new") is not None) == (None, True)
    assert [cid for cid, _ in after.pending_acks()] == ["new"]


def core_on(store: Store) -> ReceiverCore:
    return ReceiverCore("cam-trung", "loa-01", keys={}, store=store, tz=TZ)


def test_after_a_restart_a_resend_gets_the_same_ack_and_no_second_play(reopen: Reopen) -> None:
    first = core_on(reopen())
    payload = encode_command(play(), TZ)
    first.on_command(payload, T0)
    first.on_fetched(AUDIO.sha256, FetchResult.OK, T0)
    done = first.on_played("c1", T0 + timedelta(seconds=613), played_s=612.4)
    core = core_on(reopen())
    assert core.restore(T0 + timedelta(seconds=620)).acks == []
    again = core.on_command(payload, T0 + timedelta(seconds=630))
    assert (again.kind, again.acks, again.fetch, again.play) == ("duplicate", done.acks, [], None)


def test_a_crash_mid_play_is_interrupted_and_never_played_again(reopen: Reopen) -> None:
    first = core_on(reopen())
    payload = encode_command(play(), TZ)
    first.on_command(payload, T0)
    started = first.on_fetched(AUDIO.sha256, FetchResult.OK, T0).play
    assert (started.id if started else None) == "c1"
    core = core_on(reopen())  # SIGKILL mid-play, then a new process on the same state
    restored = core.restore(T0 + timedelta(seconds=30))
    assert [(a.id, a.status.value, a.detail) for a in restored.acks] == [
        ("c1", "failed", "interrupted")
    ]
    assert (restored.play, restored.fetch) == (None, [])
    again = core.on_command(payload, T0 + timedelta(seconds=40))
    assert (again.acks, again.play) == (restored.acks, None)
    statuses = [a.status.value for _, a in reopen().pending_acks()]
    assert statuses == ["received", "playing", "failed"]  # none delivered yet: all go again


# ---- the SQLite file ---------------------------------------------------------------------------


def test_the_file_is_wal_with_its_schema_version(tmp_path: Path) -> None:
    SqliteStore(tmp_path / "r.sqlite").close()
    db = sqlite3.connect(tmp_path / "r.sqlite")
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == 1
    finally:
        db.close()


def test_a_corrupt_file_is_a_clear_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "receiver.sqlite"
    path.write_bytes(b"this is not a database, it was overwritten" * 100)
    with pytest.raises(StorageError, match=r"receiver\.sqlite: the receiver's state file can't"):
        SqliteStore(path)


def test_a_file_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "receiver.sqlite"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 7")
    db.close()
    with pytest.raises(StorageError, match=r"receiver\.sqlite: .*schema version 7"):
        SqliteStore(path)


def test_an_unreadable_place_is_a_clear_error_naming_it(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with pytest.raises(StorageError, match=r"not-a-folder/state\.sqlite"):
        SqliteStore(blocker / "state.sqlite")
