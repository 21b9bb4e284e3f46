"""The repository contract, run on SQLite and on PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from storage_factories import AUDIO, VN, WEEK, World, ack, command, planned, snapshot

from ipfm_scheduler.core.commands import AckStatus, CommandState
from ipfm_scheduler.core.model import Origin, Priority
from ipfm_scheduler.errors import StorageError, ValueInvalid
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.records import AckKind, AiringOutcome, SendOutcome
from ipfm_scheduler.storage.repository import Repository

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


# --- acknowledgements -------------------------------------------------------------------------


def test_acks_move_the_state_forwards_only_and_repeats_are_kept(repo: Repository):
    world = World(repo)
    airing_id, (one, two) = world.airing()
    outcomes = [
        repo.record_ack("cam-trung", "loa-01", b"r", ack(one, s), now=NOW)
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
        ("playing", False),
        ("completed", False),
    ]
    assert repo.airing(airing_id).outcome is AiringOutcome.OPEN  # loa-02 still waiting
    world.answer("cam-trung", "loa-02", two, AckStatus.FAILED, detail="device")
    record = repo.airing(airing_id)
    assert record.outcome is AiringOutcome.PARTIAL
    assert record.commands == {"loa-01": CommandState.COMPLETED, "loa-02": CommandState.FAILED}


def test_an_ack_is_stored_exactly_as_received(repo: Repository):
    world = World(repo)
    _, (cid, _) = world.airing()
    raw = '{"v":1,"id":"x","status":"failed","detail":"thiết bị"}'.encode()
    parsed = ack(cid, AckStatus.FAILED, detail="thiết bị\x00")
    repo.record_ack("cam-trung", "loa-01", raw, parsed, now=NOW)
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
    outcome = repo.record_ack(ward, receiver, b"raw", ack(cid, AckStatus.COMPLETED), now=NOW)
    assert outcome.kind is AckKind.QUARANTINED
    assert reason in outcome.reason
    assert repo.airing(1).commands["loa-01"] is CommandState.SENT
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
    unknown = repo.record_ack(
        "cam-trung", "loa-01", b"{}", ack("no-such", AckStatus.COMPLETED), now=NOW
    )
    bad_id = repo.record_ack(
        "cam-trung", "loa-01", b"{}", ack("bad id!", AckStatus.COMPLETED), now=NOW
    )
    malformed = repo.record_ack(
        "cam-trung",
        "loa-01",
        b"\xff not json",
        "payload is not UTF-8 JSON",
        now=NOW,
        topic="ipfm/cam-trung/loa-01/ack",
    )
    huge = repo.record_ack("cam-trung", "loa-01", b"x" * 100_000, "too long", now=NOW)
    assert "unknown command id 'no-such'" in unknown.reason
    assert "not a valid command id" in bad_id.reason
    assert malformed.reason == "not a valid ack: payload is not UTF-8 JSON"
    assert "100000 bytes" in huge.reason
    with repo.engine.connect() as conn:
        rows = conn.execute(select(t.ack_quarantine).order_by(t.ack_quarantine.c.id)).all()
    assert len(rows) == 4
    assert rows[2].topic == "ipfm/cam-trung/loa-01/ack"
    assert bytes(rows[2].raw) == b"\xff not json"
    assert (rows[3].raw_bytes, len(rows[3].raw)) == (100_000, 65_536)
    assert repo.quarantined_count(NOW) == 4


def test_a_final_answer_after_expiry_still_counts(repo: Repository):
    world = World(repo)
    _, (cid, _) = world.airing()
    late = planned().expires + timedelta(hours=1)
    assert cid in repo.expire_overdue(late, grace=timedelta(minutes=5))
    outcome = repo.record_ack("cam-trung", "loa-01", b"{}", ack(cid, AckStatus.COMPLETED), now=late)
    assert outcome.state is CommandState.COMPLETED


# --- expiry -----------------------------------------------------------------------------------


def test_expire_overdue_waits_for_window_end_plus_programme_length_plus_grace(repo: Repository):
    world = World(repo)
    airing_id, (one, two) = world.airing()
    world.answer("cam-trung", "loa-01", one, AckStatus.PLAYING)
    grace = timedelta(minutes=5)
    deadline = planned().expires + timedelta(seconds=612.4) + grace
    assert repo.expire_overdue(deadline - timedelta(seconds=1), grace=grace) == []
    assert repo.expire_overdue(deadline, grace=grace) == sorted([one, two])
    assert repo.expire_overdue(deadline + timedelta(hours=1), grace=grace) == []
    record = repo.airing(airing_id)
    assert set(record.commands.values()) == {CommandState.EXPIRED}
    assert record.outcome is AiringOutcome.MISSED


def test_expire_overdue_leaves_final_answers_alone(repo: Repository):
    world = World(repo)
    _, (one, two) = world.airing()
    world.answer("cam-trung", "loa-01", one, AckStatus.COMPLETED)
    expired = repo.expire_overdue(planned().expires + timedelta(hours=2), grace=timedelta(0))
    assert expired == [two]


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


# --- receivers --------------------------------------------------------------------------------


def test_status_changes_are_events_and_repeats_only_refresh_last_seen(repo: Repository):
    t1, t2, t3 = NOW, NOW + timedelta(minutes=1), NOW + timedelta(minutes=2)
    assert repo.record_status("cam-trung", "loa-01", "online", at=t1, now=t1, fw="2.4.1", raw=b"1")
    assert not repo.record_status(
        "cam-trung", "loa-01", "online", at=t1, now=t2, fw="2.4.1", raw=b"1"
    )
    assert repo.record_status(
        "cam-trung", "loa-01", "offline", at=None, now=t3, fw="2.4.1", raw=b"2"
    )
    (status,) = repo.receivers_status()
    assert (status.online, status.since, status.last_seen_at) == (False, t3, t3)
    assert count(repo, t.receiver_status_events) == 2


# --- manual requests and the service's heartbeat ----------------------------------------------


def test_manual_requests_are_taken_once_and_finished(repo: Repository):
    from ipfm_scheduler.storage.records import ManualRequest, RequestState

    request = ManualRequest("cam-trung", "kh179", Priority.EMERGENCY, "kt@tram", receiver="loa-01")
    first = repo.queue_request(request, now=NOW)
    second = repo.queue_request(
        ManualRequest("cua-ong", "kh179", Priority.NORMAL, "kt@tram", start=planned().start),
        now=NOW + timedelta(seconds=1),
    )
    taken = repo.take_requests(NOW + timedelta(seconds=2))
    assert [(r.id, r.state) for r in taken] == [
        (first, RequestState.TAKEN),
        (second, RequestState.TAKEN),
    ]
    assert taken[0].request == request
    assert taken[1].request.start == planned().start
    assert repo.take_requests(NOW + timedelta(seconds=3)) == []
    repo.finish_request(first, "refused", now=NOW, message="ward cam-trung: no receiver loa-01")
    assert repo.request(first).state is RequestState.REFUSED
    assert repo.request(first).message == "ward cam-trung: no receiver loa-01"
    with pytest.raises(ValueInvalid):
        repo.finish_request(second, "queued", now=NOW)


def test_live_instance_follows_heartbeats_and_stop(repo: Repository):
    iid = repo.start_instance(host="tram", pid=4242, version="0.1.0", now=NOW)
    within = timedelta(seconds=90)
    assert repo.live_instance(NOW + timedelta(seconds=60), within).id == iid  # type: ignore[union-attr]
    assert repo.live_instance(NOW + timedelta(seconds=120), within) is None
    repo.heartbeat(iid, NOW + timedelta(seconds=100))
    live = repo.live_instance(NOW + timedelta(seconds=120), within)
    assert live is not None
    assert (live.host, live.pid) == ("tram", 4242)
    repo.stop_instance(iid, NOW + timedelta(seconds=130))
    assert repo.live_instance(NOW + timedelta(seconds=131), within) is None


# --- times ------------------------------------------------------------------------------------


def test_naive_times_are_refused(repo: Repository):
    with pytest.raises(ValueInvalid, match="no time zone"):
        repo.record_config(snapshot(), now=datetime(2025, 11, 21))
