"""The repository contract, run on SQLite and on PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from ipfm_scheduler.core.commands import AckStatus, CommandState
from ipfm_scheduler.core.model import Origin, Priority
from ipfm_scheduler.core.records import AiringOutcome, WeekCloseRow
from ipfm_scheduler.core.traffic import AiringToStore, NewCommand, SendOutcome, SendResult
from ipfm_scheduler.errors import ValueInvalid
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.repository import Repository
from tests.storage.storage_factories import (
    AUDIO,
    VN,
    WEEK,
    World,
    add_commands,
    command,
    planned,
    snapshot,
    store_one,
)

NOW = datetime(2025, 11, 21, tzinfo=UTC)


def count(repo: Repository, table: t.Table) -> int:
    with repo.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


# --- configuration snapshots ------------------------------------------------------------------


def test_same_configuration_gets_the_same_snapshot_id_and_stores_nothing_new(repo: Repository):
    first = repo.record_snapshot(snapshot(), now=NOW)
    again = repo.record_snapshot(snapshot(), now=NOW + timedelta(hours=1))
    assert first == again
    assert count(repo, t.config_snapshots) == 1
    assert count(repo, t.config_loads) == 1
    assert count(repo, t.snapshot_receivers) == 4


def test_a_changed_ward_file_is_a_new_snapshot_and_a_return_is_a_new_load(repo: Repository):
    first = repo.record_snapshot(snapshot(), now=NOW)
    second = repo.record_snapshot(snapshot(ward_text="id: cam-trung\n# edited\n"), now=NOW)
    back = repo.record_snapshot(snapshot(), now=NOW + timedelta(days=1))
    assert second != first
    assert back == first
    assert count(repo, t.config_loads) == 3
    # the unchanged station file's text is stored once
    assert count(repo, t.config_files) == 4


def test_snapshot_keeps_file_text_programmes_and_receivers(repo: Repository):
    sid = repo.record_snapshot(snapshot(), now=NOW)
    with repo.engine.connect() as conn:
        texts = dict(
            conn.execute(
                select(t.snapshot_files.c.path, t.config_files.c.text).join(
                    t.config_files, t.config_files.c.sha256 == t.snapshot_files.c.sha256
                )
            ).all()
        )
        programme = conn.execute(select(t.snapshot_programmes)).one()
        disabled = (
            conn.execute(
                select(t.snapshot_receivers.c.receiver).where(~t.snapshot_receivers.c.enabled)
            )
            .scalars()
            .all()
        )
    assert texts["config/ipfm.yaml"] == "timezone: Asia/Ho_Chi_Minh\n"
    assert programme.snapshot_id == sid
    assert (programme.min_per_week, programme.title) == (1, "Kế hoạch 179-KH/TU")
    assert programme.first_full_week == "2022-W27"
    assert disabled == ["loa-03"]


# --- airings and commands ---------------------------------------------------------------------


def send(repo: Repository, cid: str, now: datetime, outcome: SendOutcome | str) -> None:
    repo.record_sends([SendResult(cid, SendOutcome(outcome))], now=now)


def test_an_airing_is_created_once_and_keeps_local_time_and_week(repo: Repository):
    world = World(repo)
    item = AiringToStore(planned(), Priority.NORMAL, AUDIO)
    sid = world.snapshot_id
    (first,) = repo.store_airings([item], snapshot_id=sid, now=NOW)
    (again,) = repo.store_airings([item], snapshot_id=sid, now=NOW + timedelta(hours=1))
    assert (first.created, first.commands_added) == (True, 0)
    assert (again.airing_id, again.created) == (first.airing_id, False)
    record = repo.airing(first.airing_id)
    assert record.local == "2025-11-24T06:00:00+07:00"
    assert record.start == datetime(2025, 11, 23, 23, 0, tzinfo=UTC)
    assert record.start.tzinfo is UTC
    assert record.outcome is AiringOutcome.PLANNED
    with repo.engine.connect() as conn:
        assert conn.execute(select(t.airings.c.week)).scalar_one() == "2025-W48"


def test_makeup_airing_references_what_it_makes_up_for(repo: Repository):
    world = World(repo)
    missed, _ = world.airing()
    item = AiringToStore(
        planned(hour=17, origin=Origin.MAKEUP),
        Priority.NORMAL,
        AUDIO,
        makeup_for=missed,
        note="loa-02 short",
    )
    (stored,) = repo.store_airings([item], snapshot_id=world.snapshot_id, now=NOW)
    with repo.engine.connect() as conn:
        row = conn.execute(select(t.airings).where(t.airings.c.id == stored.airing_id)).one()
    assert stored.created
    assert (row.makeup_for, row.makeup_week, row.note, row.origin) == (
        missed,
        "2025-W48",
        "loa-02 short",
        "makeup",
    )


def test_storing_an_airing_refuses_a_bad_audio_hash(repo: Repository):
    world = World(repo)
    item = AiringToStore(planned(), Priority.NORMAL, "ABC")
    with pytest.raises(ValueInvalid, match="sha256"):
        repo.store_airings([item], snapshot_id=world.snapshot_id, now=NOW)


def test_commands_are_idempotent_per_receiver_and_keep_the_first_bytes(repo: Repository):
    world = World(repo)
    sid, plan = world.snapshot_id, planned()
    airing_id = store_one(repo, sid, plan, NOW)
    first = command("loa-01", airing_id)
    add_commands(repo, sid, plan, [first], NOW)
    other = NewCommand("another-id", "loa-01", first.topic, b"other bytes")
    add_commands(repo, sid, plan, [other, command("loa-02", airing_id)], NOW)
    ids = {r: c.id for r, c in repo.airing(airing_id).commands.items()}
    assert ids == {"loa-01": first.id, "loa-02": f"cmd-{airing_id}-loa-02"}
    item = AiringToStore(plan, Priority.NORMAL, AUDIO, (first,))
    (retry,) = repo.store_airings([item], snapshot_id=sid, now=NOW)  # a plain retry: no error
    assert (retry.airing_id, retry.commands_added) == (airing_id, 0)
    sendable = {c.id: c.payload for c in repo.commands_to_send(NOW, resend_after=timedelta(0))}
    assert sendable[first.id] == command("loa-01", airing_id).payload
    assert repo.airing(airing_id).outcome is AiringOutcome.OPEN


def test_commands_to_send_pending_then_unanswered_after_resend_delay(repo: Repository):
    world = World(repo)
    sid, plan = world.snapshot_id, planned()
    airing_id = store_one(repo, sid, plan, NOW)
    cid = command("loa-01", airing_id).id
    add_commands(repo, sid, plan, [command("loa-01", airing_id)], NOW)
    start = planned().start
    t0 = start - timedelta(minutes=2)
    wait = timedelta(seconds=30)

    def state() -> CommandState:
        return repo.airing(airing_id).commands["loa-01"].state

    assert [c.id for c in repo.commands_to_send(t0, resend_after=wait)] == [cid]
    # a failed attempt leaves it pending: still to send
    send(repo, cid, t0, "no-connection")
    assert state() is CommandState.PENDING
    assert [c.id for c in repo.commands_to_send(t0, resend_after=wait)] == [cid]
    send(repo, cid, t0, SendOutcome.PUBACK)
    assert state() is CommandState.SENT
    assert repo.commands_to_send(t0 + timedelta(seconds=29), resend_after=wait) == []
    resend = repo.commands_to_send(t0 + wait, resend_after=wait)
    assert [(c.id, c.state, c.attempts) for c in resend] == [(cid, CommandState.SENT, 2)]
    # an answer stops the resends; an expired command is never sent, except one received with
    # no final answer (asked again: its final ack may have been lost), until it has one
    world.answer("cam-trung", "loa-01", cid, AckStatus.RECEIVED)
    assert repo.commands_to_send(t0 + 2 * wait, resend_after=wait) == []
    later = start + timedelta(hours=1)
    assert [c.id for c in repo.commands_to_send(later, resend_after=wait)] == [cid]
    world.answer("cam-trung", "loa-01", cid, AckStatus.COMPLETED)
    assert repo.commands_to_send(later, resend_after=wait) == []


def test_commands_to_send_oldest_airing_first_and_limited(repo: Repository):
    world = World(repo)
    sid = world.snapshot_id
    late = store_one(repo, sid, planned(hour=17), NOW)
    early = store_one(repo, sid, planned(hour=6), NOW)
    add_commands(repo, sid, planned(hour=17), [command("loa-01", late)], NOW)
    add_commands(repo, sid, planned(hour=6), [command("loa-01", early)], NOW)
    due = repo.commands_to_send(NOW, resend_after=timedelta(0), limit=1)
    assert [c.airing_id for c in due] == [early]


def test_sends_keep_every_attempt_and_first_and_last_sent_times(repo: Repository):
    world = World(repo)
    _, (cid, _) = world.airing()  # first sent 2 minutes before the start
    later = planned().start
    send(repo, cid, later, "timeout")
    send(repo, cid, later + timedelta(seconds=1), "puback")
    with repo.engine.connect() as conn:
        attempts = conn.execute(
            select(t.send_attempts.c.attempt, t.send_attempts.c.outcome)
            .where(t.send_attempts.c.command_id == cid)
            .order_by(t.send_attempts.c.attempt)
        ).all()
        row = conn.execute(select(t.commands).where(t.commands.c.id == cid)).one()
    assert [tuple(a) for a in attempts] == [(1, "puback"), (2, "timeout"), (3, "puback")]
    assert row.first_sent_at < row.last_sent_at == later + timedelta(seconds=1)
    assert row.attempts == 3


def test_a_send_of_an_unknown_command_is_ignored_and_an_unknown_outcome_fails(repo: Repository):
    send(repo, "nope", NOW, "puback")
    assert count(repo, t.send_attempts) == 0
    with pytest.raises(ValueError, match="exploded"):
        repo.record_sends([SendResult("nope", "exploded")], now=NOW)  # type: ignore[arg-type]


# --- the week's record ------------------------------------------------------------------------


def test_completed_counts_distinct_airings_per_receiver_in_the_week(repo: Repository):
    world = World(repo)
    _, (a1, b1) = world.airing()
    _, (a2, _) = world.airing(day=WEEK.monday + timedelta(days=3))
    _, (a3, _) = world.airing(day=WEEK.monday + timedelta(days=7))  # next week
    for cid in (a1, a2, a3):
        world.answer("cam-trung", "loa-01", cid, AckStatus.COMPLETED, AckStatus.COMPLETED)
    world.answer("cam-trung", "loa-02", b1, AckStatus.COMPLETED)
    start, end = WEEK.start(VN), WEEK.end(VN)
    assert repo.completed_counts("cam-trung", "kh179", start, end) == {"loa-01": 2, "loa-02": 1}
    week = repo.week_airings("cam-trung", "kh179", start, end)
    assert [a.local[:10] for a in week] == ["2025-11-24", "2025-11-27"]
    assert week[1].states == {"loa-01": CommandState.COMPLETED, "loa-02": CommandState.SENT}


def test_next_airings_and_open_commands_for_status(repo: Repository):
    world = World(repo)
    world.airing()
    world.airing(hour=17)
    soon = repo.next_airings(planned().expires + timedelta(minutes=1))
    assert [a.local[11:16] for a in soon] == ["17:00"]
    assert repo.open_commands() == {CommandState.SENT: 4}


def test_a_second_close_of_a_week_adds_verdicts_and_the_latest_is_in_force(repo: Repository):
    """The closing record is append-only (it is chained, storage/chain.py): closing a week again
    adds rows; the latest per receiver is in force, the earlier stays as what was judged then."""
    world = World(repo)

    def row(receiver: str, completed: int, reason: str = "") -> WeekCloseRow:
        return WeekCloseRow("cam-trung", "kh179", receiver, completed, 1, completed >= 1, reason)

    rows = [row("loa-01", 1), row("loa-02", 0, "offline")]
    repo.record_week_close(WEEK, rows, now=NOW, snapshot_id=world.snapshot_id)
    repo.record_week_close(WEEK, [row("loa-02", 1)], now=NOW + timedelta(days=1))
    wc = t.week_closures
    with repo.engine.connect() as conn:
        found = conn.execute(select(wc.c.receiver, wc.c.verdict).order_by(wc.c.id)).all()
    assert [tuple(r) for r in found] == [
        ("loa-01", "compliant"),
        ("loa-02", "short"),
        ("loa-02", "compliant"),
    ]
    assert dict(tuple(r) for r in found) == {"loa-01": "compliant", "loa-02": "compliant"}


# --- times ------------------------------------------------------------------------------------


def test_naive_times_are_refused(repo: Repository):
    with pytest.raises(ValueInvalid, match="no time zone"):
        repo.record_snapshot(snapshot(), now=datetime(2025, 11, 21))
