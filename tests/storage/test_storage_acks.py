"""Filing acknowledgements and expiring unanswered commands, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from ipfm_scheduler.core.commands import AckStatus, CommandState
from ipfm_scheduler.core.records import AiringOutcome
from ipfm_scheduler.core.traffic import AckKind
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.repository import Repository
from tests.storage.storage_factories import World, ack, file_ack, planned

NOW = datetime(2025, 11, 21, tzinfo=UTC)


def count(repo: Repository, table: t.Table) -> int:
    with repo.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


# --- acknowledgements -------------------------------------------------------------------------


def test_acks_move_the_state_forwards_only_and_repeats_are_counted_on_their_row(
    repo: Repository,
):
    world = World(repo)
    airing_id, (one, two) = world.airing()
    outcomes = [
        file_ack(repo, "cam-trung", "loa-01", b"r", ack(one, s), now=NOW)
        for s in (AckStatus.RECEIVED, AckStatus.COMPLETED, AckStatus.PLAYING, AckStatus.COMPLETED)
    ]
    assert [(o.kind, o.state) for o in outcomes] == [
        (AckKind.STORED, CommandState.RECEIVED),
        (AckKind.STORED, CommandState.COMPLETED),
        (AckKind.DUPLICATE, CommandState.COMPLETED),
        (AckKind.DUPLICATE, CommandState.COMPLETED),
    ]
    with repo.engine.connect() as conn:
        stored = conn.execute(
            select(t.acks.c.status, t.acks.c.changed_state).order_by(t.acks.c.id)
        ).all()
    assert [tuple(s) for s in stored] == [
        ("received", True),
        ("completed", True),
        ("playing", False),  # late: kept, it says something
    ]  # the second `completed` repeats the first: counted on its row, not stored again
    later = NOW + timedelta(minutes=3)
    file_ack(repo, "cam-trung", "loa-01", b"r", ack(one, AckStatus.COMPLETED), now=later)
    with repo.engine.connect() as conn:
        counted = conn.execute(
            select(t.acks.c.status, t.ack_repeats.c.repeats, t.ack_repeats.c.last_at).join(
                t.acks, t.acks.c.id == t.ack_repeats.c.ack_id
            )
        ).all()
    assert [tuple(c) for c in counted] == [("completed", 2, later)]
    assert repo.airing(airing_id).outcome is AiringOutcome.OPEN  # loa-02 still waiting
    world.answer("cam-trung", "loa-02", two, AckStatus.FAILED, detail="device")
    record = repo.airing(airing_id)
    assert record.outcome is AiringOutcome.PARTIAL
    assert record.states == {"loa-01": CommandState.COMPLETED, "loa-02": CommandState.FAILED}


def test_an_ack_is_stored_exactly_as_received(repo: Repository):
    world = World(repo)
    _, (cid, _) = world.airing()
    raw = '{"v":1,"id":"x","status":"failed","detail":"thiết bị"}'.encode()
    parsed = ack(cid, AckStatus.FAILED, detail="thiết bị\x00")
    file_ack(repo, "cam-trung", "loa-01", raw, parsed, now=NOW)
    with repo.engine.connect() as conn:
        row = conn.execute(select(t.acks)).one()
        cmd = conn.execute(select(t.commands).where(t.commands.c.id == cid)).one()
    assert bytes(row.raw) == raw
    assert row.receiver_at == datetime(2025, 11, 23, 23, 10, tzinfo=UTC)
    assert row.receiver_at_text == "2025-11-24T06:10:00+07:00"
    assert row.detail == "thiết bị\\x00"  # NUL made storable, not dropped
    assert (cmd.state, cmd.detail) == ("failed", "thiết bị\\x00")


@pytest.mark.parametrize(
    ("ward", "receiver", "reason"),
    [
        ("cam-trung", "loa-02", "was sent to cam-trung/loa-01, not to cam-trung/loa-02"),
        ("cua-ong", "loa-01", "was sent to cam-trung/loa-01, not to cua-ong/loa-01"),
    ],
)
def test_an_ack_from_another_receiver_is_quarantined_and_changes_nothing(
    repo: Repository, ward: str, receiver: str, reason: str
):
    world = World(repo)
    _, (cid, _) = world.airing()
    outcome = file_ack(repo, ward, receiver, b"raw", ack(cid, AckStatus.COMPLETED), now=NOW)
    assert outcome.kind is AckKind.QUARANTINED
    assert reason in str(outcome.quarantined)
    assert repo.airing(1).states["loa-01"] is CommandState.SENT
    with repo.engine.connect() as conn:
        kept = conn.execute(select(t.ack_quarantine)).one()
    assert (kept.ward, kept.receiver, kept.command_id, bytes(kept.raw)) == (
        ward,
        receiver,
        cid,
        b"raw",
    )


def test_unmatched_and_malformed_acks_are_quarantined_never_dropped(repo: Repository):
    World(repo)
    unknown = file_ack(
        repo, "cam-trung", "loa-01", b"{}", ack("no-such", AckStatus.COMPLETED), now=NOW
    )
    bad_id = file_ack(
        repo, "cam-trung", "loa-01", b"{}", ack("bad id!", AckStatus.COMPLETED), now=NOW
    )
    malformed = file_ack(
        repo,
        "cam-trung",
        "loa-01",
        b"\xff not json",
        "payload is not UTF-8 JSON",
        now=NOW,
        topic="ipfm/cam-trung/loa-01/ack",
    )
    huge = file_ack(repo, "cam-trung", "loa-01", b"x" * 100_000, "too long", now=NOW)
    assert "unknown command id 'no-such'" in str(unknown.quarantined)
    assert "not a valid command id" in str(bad_id.quarantined)
    assert malformed.quarantined == "not a valid ack: payload is not UTF-8 JSON"
    assert "100000 bytes" in str(huge.quarantined)
    with repo.engine.connect() as conn:
        rows = conn.execute(select(t.ack_quarantine).order_by(t.ack_quarantine.c.id)).all()
    assert len(rows) == 4
    assert rows[2].topic == "ipfm/cam-trung/loa-01/ack"
    assert bytes(rows[2].raw) == b"\xff not json"
    assert (rows[3].raw_bytes, len(rows[3].raw)) == (100_000, 1024)
    assert rows[3].sha256 == hashlib.sha256(b"x" * 100_000).hexdigest()
    assert repo.quarantined_count(NOW) == 4


def test_the_same_message_quarantined_again_is_counted_on_its_row_not_stored_again(
    repo: Repository,
):
    World(repo)
    for minute in range(3):
        file_ack(
            repo,
            "cam-trung",
            "loa-01",
            b"x" * 50_000,
            "too long",
            now=NOW + timedelta(minutes=minute),
        )
    file_ack(repo, "cam-trung", "loa-01", b"y" * 50_000, "too long", now=NOW)
    with repo.engine.connect() as conn:
        rows = conn.execute(select(t.ack_quarantine).order_by(t.ack_quarantine.c.id)).all()
    assert [(r.raw_bytes, r.repeats, r.last_repeat_at) for r in rows] == [
        (50_000, 2, NOW + timedelta(minutes=2)),
        (50_000, 0, None),
    ]


def test_a_final_answer_after_expiry_still_counts(repo: Repository):
    world = World(repo)
    _, (cid, _) = world.airing()
    late = planned().expires + timedelta(hours=1)
    assert cid in [r.id for r in repo.expire_overdue(late, grace=timedelta(minutes=5))]
    outcome = file_ack(repo, "cam-trung", "loa-01", b"{}", ack(cid, AckStatus.COMPLETED), now=late)
    assert outcome.state is CommandState.COMPLETED


# --- expiry -----------------------------------------------------------------------------------


def test_expire_overdue_waits_for_window_end_plus_programme_length_plus_grace(repo: Repository):
    world = World(repo)
    airing_id, (one, two) = world.airing()
    world.answer("cam-trung", "loa-01", one, AckStatus.PLAYING)
    grace = timedelta(minutes=5)
    deadline = planned().expires + timedelta(seconds=612.4) + grace
    assert repo.expire_overdue(deadline - timedelta(seconds=1), grace=grace) == []
    assert [r.id for r in repo.expire_overdue(deadline, grace=grace)] == sorted([one, two])
    assert repo.expire_overdue(deadline + timedelta(hours=1), grace=grace) == []
    record = repo.airing(airing_id)
    assert set(record.states.values()) == {CommandState.EXPIRED}
    assert record.outcome is AiringOutcome.MISSED


def test_expire_overdue_leaves_final_answers_alone(repo: Repository):
    world = World(repo)
    _, (one, two) = world.airing()
    world.answer("cam-trung", "loa-01", one, AckStatus.COMPLETED)
    expired = repo.expire_overdue(planned().expires + timedelta(hours=2), grace=timedelta(0))
    assert [r.id for r in expired] == [two]
