"""The repository contract, run on SQLite and on PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from ipfm_scheduler.core.commands import AckStatus, CommandState
from ipfm_scheduler.core.model import Origin, Priority
from ipfm_scheduler.errors import StorageError, ValueInvalid
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.records import AiringOutcome, SendOutcome
from ipfm_scheduler.storage.repository import Repository
from tests.storage.storage_factories import AUDIO, VN, WEEK, World, command, planned, snapshot

NOW = datetime(2025, 11, 21, tzinfo=UTC)


def count(repo: Repository, table: t.Table) -> int:
    with repo.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


# --- configuration snapshots ------------------------------------------------------------------


def test_same_configuration_gets_the_same_snapshot_id_and_stores_nothing_new(repo: Repository):
    first = repo.record_config(snapshot(), now=NOW)
    again = repo.record_config(snapshot(), now=NOW + timedelta(hours=1))
    assert first == again
    assert count(repo, t.config_snapshots) == 1
    assert count(repo, t.config_loads) == 1
    assert count(repo, t.snapshot_receivers) == 4


def test_a_changed_ward_file_is_a_new_snapshot_and_a_return_is_a_new_load(repo: Repository):
    first = repo.record_config(snapshot(), now=NOW)
    second = repo.record_config(snapshot(ward_text="id: cam-trung\n# edited\n"), now=NOW)
    back = repo.record_config(snapshot(), now=NOW + timedelta(days=1))
    assert second != first
    assert back == first
    assert count(repo, t.config_loads) == 3
    # the unchanged station file's text is stored once
    assert count(repo, t.config_files) == 4


def test_snapshot_keeps_file_text_programmes_and_receivers(repo: Repository):
    sid = repo.record_config(snapshot(), now=NOW)
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


def test_ensure_airing_creates_once_and_keeps_local_time_and_week(repo: Repository):
    world = World(repo)
    plan = planned()
    kwargs = {"priority": Priority.NORMAL, "audio_sha256": AUDIO, "snapshot_id": world.snapshot_id}
    first = repo.ensure_airing(plan, now=NOW, **kwargs)  # type: ignore[arg-type]
    again = repo.ensure_airing(plan, now=NOW + timedelta(hours=1), **kwargs)  # type: ignore[arg-type]
    assert first == (first[0], True)
    assert again == (first[0], False)
    record = repo.airing(first[0])
    assert record.local == "2025-11-24T06:00:00+07:00"
    assert record.start == datetime(2025, 11, 23, 23, 0, tzinfo=UTC)
    assert record.start.tzinfo is UTC
    assert record.outcome is AiringOutcome.PLANNED
    with repo.engine.connect() as conn:
        assert conn.execute(select(t.airings.c.week)).scalar_one() == "2025-W48"


def test_makeup_airing_references_what_it_makes_up_for(repo: Repository):
    world = World(repo)
    missed, _ = world.airing()
    makeup, created = repo.ensure_airing(
        planned(hour=17, origin=Origin.MAKEUP),
        priority=Priority.NORMAL,
        audio_sha256=AUDIO,
        snapshot_id=world.snapshot_id,
        now=NOW,
        makeup_for=missed,
        makeup_week=WEEK,
        note="loa-02 short",
    )
    with repo.engine.connect() as conn:
        row = conn.execute(select(t.airings).where(t.airings.c.id == makeup)).one()
    assert created
    assert (row.makeup_for, row.makeup_week, row.note, row.origin) == (
        missed,
        "2025-W48",
        "loa-02 short",
        "makeup",
    )


def test_ensure_airing_refuses_a_bad_audio_hash(repo: Repository):
    world = World(repo)
    with pytest.raises(ValueInvalid, match="sha256"):
        repo.ensure_airing(
            planned(),
            priority=Priority.NORMAL,
            audio_sha256="ABC",
            snapshot_id=world.snapshot_id,
            now=NOW,
        )


def test_add_commands_is_idempotent_per_receiver_and_keeps_the_first_bytes(repo: Repository):
    world = World(repo)
    airing_id, _ = repo.ensure_airing(
        planned(),
        priority=Priority.NORMAL,
        audio_sha256=AUDIO,
        snapshot_id=world.snapshot_id,
        now=NOW,
    )
    first = repo.add_commands(airing_id, [command("loa-01", airing_id)], now=NOW)
    retry = command("loa-01", airing_id)
    other = type(retry)("another-id", "loa-01", retry.topic, b"other bytes")
    again = repo.add_commands(airing_id, [other, command("loa-02", airing_id)], now=NOW)
    assert again == [first[0], f"cmd-{airing_id}-loa-02"]
    assert repo.add_commands(airing_id, [retry], now=NOW) == first  # a plain retry: no error
    sendable = {c.id: c.payload for c in repo.commands_to_send(NOW, resend_after=timedelta(0))}
    assert sendable[first[0]] == command("loa-01", airing_id).payload
    assert repo.airing(airing_id).outcome is AiringOutcome.OPEN


def test_add_commands_for_an_unknown_airing_fails_plainly(repo: Repository):
    with pytest.raises(StorageError, match="no airing 999"):
        repo.add_commands(999, [command("loa-01", 999)], now=NOW)


def test_commands_to_send_pending_then_unanswered_after_resend_delay(repo: Repository):
    world = World(repo)
    airing_id, _ = repo.ensure_airing(
        planned(),
        priority=Priority.NORMAL,
        audio_sha256=AUDIO,
        snapshot_id=world.snapshot_id,
        now=NOW,
    )
    (cid,) = repo.add_commands(airing_id, [command("loa-01", airing_id)], now=NOW)
    start = planned().start
    t0 = start - timedelta(minutes=2)
    wait = timedelta(seconds=30)
    assert [c.id for c in repo.commands_to_send(t0, resend_after=wait)] == [cid]
    # a failed attempt leaves it pending: still to send
    assert repo.record_send(cid, now=t0, outcome="no-connection") is CommandState.PENDING
    assert [c.id for c in repo.commands_to_send(t0, resend_after=wait)] == [cid]
    assert repo.record_send(cid, now=t0, outcome=SendOutcome.PUBACK) is CommandState.SENT
    assert repo.commands_to_send(t0 + timedelta(seconds=29), resend_after=wait) == []
    resend = repo.commands_to_send(t0 + wait, resend_after=wait)
    assert [(c.id, c.state, c.attempts) for c in resend] == [(cid, CommandState.SENT, 2)]
    # an answer stops the resends; an expired command is never sent
    world.answer("cam-trung", "loa-01", cid, AckStatus.RECEIVED)
    assert repo.commands_to_send(t0 + 2 * wait, resend_after=wait) == []
    assert repo.commands_to_send(start + timedelta(hours=1), resend_after=wait) == []


def test_commands_to_send_oldest_airing_first_and_limited(repo: Repository):
    world = World(repo)
    late, _ = repo.ensure_airing(
        planned(hour=17),
        priority=Priority.NORMAL,
        audio_sha256=AUDIO,
        snapshot_id=world.snapshot_id,
        now=NOW,
    )
    early, _ = repo.ensure_airing(
        planned(hour=6),
        priority=Priority.NORMAL,
        audio_sha256=AUDIO,
        snapshot_id=world.snapshot_id,
        now=NOW,
    )
    repo.add_commands(late, [command("loa-01", late)], now=NOW)
    repo.add_commands(early, [command("loa-01", early)], now=NOW)
    due = repo.commands_to_send(NOW, resend_after=timedelta(0), limit=1)
    assert [c.airing_id for c in due] == [early]


def test_record_send_keeps_every_attempt_and_first_and_last_sent_times(repo: Repository):
    world = World(repo)
    _, (cid, _) = world.airing()  # first sent 2 minutes before the start
    later = planned().start
    repo.record_send(cid, now=later, outcome="timeout")
    repo.record_send(cid, now=later + timedelta(seconds=1), outcome="puback")
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


def test_record_send_for_an_unknown_command_or_outcome_fails(repo: Repository):
    with pytest.raises(StorageError, match="no command nope"):
        repo.record_send("nope", now=NOW, outcome="puback")
    with pytest.raises(ValueError, match="exploded"):
        repo.record_send("nope", now=NOW, outcome="exploded")


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
    assert week[1].commands == {"loa-01": CommandState.COMPLETED, "loa-02": CommandState.SENT}


def test_next_airings_and_open_commands_for_status(repo: Repository):
    world = World(repo)
    world.airing()
    world.airing(hour=17)
    soon = repo.next_airings(planned().expires + timedelta(minutes=1))
    assert [a.local[11:16] for a in soon] == ["17:00"]
    assert repo.open_commands() == {CommandState.SENT: 4}


def test_week_close_is_recorded_and_replaced_on_a_second_close(repo: Repository):
    from ipfm_scheduler.storage.records import WeekCloseRow

    world = World(repo)
    rows = [WeekCloseRow("loa-01", 1, 1), WeekCloseRow("loa-02", 0, 1, "offline")]
    repo.record_week_close("cam-trung", "kh179", WEEK, rows, now=NOW, snapshot_id=world.snapshot_id)
    repo.record_week_close(
        "cam-trung", "kh179", WEEK, [WeekCloseRow("loa-02", 1, 1)], now=NOW + timedelta(days=1)
    )
    with repo.engine.connect() as conn:
        found = conn.execute(
            select(t.week_closures.c.receiver, t.week_closures.c.verdict).order_by(
                t.week_closures.c.receiver
            )
        ).all()
    assert [tuple(r) for r in found] == [("loa-01", "compliant"), ("loa-02", "compliant")]


# --- times ------------------------------------------------------------------------------------


def test_naive_times_are_refused(repo: Repository):
    with pytest.raises(ValueInvalid, match="no time zone"):
        repo.record_config(snapshot(), now=datetime(2025, 11, 21))
