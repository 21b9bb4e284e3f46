"""The batch methods the service uses (store_airings, record_sends, record_acks, record_statuses
and the reads of the make-up rule), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from ipfm_scheduler.core.commands import AckStatus, CommandState
from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.core.records import AiringOutcome, WeekCloseRow
from ipfm_scheduler.core.traffic import (
    AckKind,
    AiringToStore,
    IncomingAck,
    IncomingStatus,
    NewCommand,
    SendOutcome,
    SendResult,
)
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.storage import bulk
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.repository import Repository
from tests.storage.storage_factories import (
    AUDIO,
    MONDAY,
    WEEK,
    Answer,
    World,
    ack,
    command,
    file_ack,
    incoming,
    planned,
    statements,
)

NOW = datetime(2025, 11, 23, 22, 58, tzinfo=UTC)  # Monday 05:58 in Cẩm Phả


def item(
    ward: str = "cam-trung", receivers: tuple[str, ...] = ("loa-01", "loa-02"), **kw: object
) -> AiringToStore:
    """An airing with a command per receiver, ids ``c-WARD-DDHHMM-RECEIVER``."""
    plan = planned(ward, **kw)  # type: ignore[arg-type]
    key = f"{ward}-{plan.start:%d%H%M}"
    commands = tuple(
        NewCommand(f"c-{key}-{r}", r, f"ipfm/{ward}/{r}/cmd", command(r, 0, ward).payload)
        for r in receivers
    )
    return AiringToStore(plan, Priority.NORMAL, AUDIO, commands)


def heard(ward: str, receiver: str, topic: str, raw: bytes, parsed: Answer | str) -> IncomingAck:
    return incoming(ward, receiver, parsed, raw, topic)


def test_store_airings_records_airings_and_commands_once(repo: Repository) -> None:
    world = World(repo)
    items = [item(), item("cua-ong", ("loa-01",))]
    first = repo.store_airings(items, snapshot_id=world.snapshot_id, now=NOW)
    assert [(s.created, s.commands_added) for s in first] == [(True, 2), (True, 1)]
    again = repo.store_airings(items, snapshot_id=world.snapshot_id, now=NOW)
    assert [(s.airing_id, s.created, s.commands_added) for s in again] == [
        (first[0].airing_id, False, 0),
        (first[1].airing_id, False, 0),
    ]
    record = repo.airing(first[0].airing_id)
    assert record.outcome is AiringOutcome.OPEN
    assert record.states == {"loa-01": CommandState.PENDING, "loa-02": CommandState.PENDING}


def test_a_receiver_keeps_its_first_command_and_a_new_receiver_gets_one(repo: Repository) -> None:
    world = World(repo)
    (stored,) = repo.store_airings(
        [item(receivers=("loa-01",))], snapshot_id=world.snapshot_id, now=NOW
    )
    later = item(receivers=("loa-01", "loa-02"))
    (again,) = repo.store_airings([later], snapshot_id=world.snapshot_id, now=NOW)
    assert (again.airing_id, again.created, again.commands_added) == (stored.airing_id, False, 1)
    due = repo.commands_to_send(NOW, resend_after=timedelta(seconds=30), limit=10)
    assert sorted(c.id for c in due) == sorted(
        [f"c-cam-trung-{later.planned.start:%d%H%M}-loa-01", later.commands[1].id]
    )


def test_a_missed_airing_is_recorded_without_commands(repo: Repository) -> None:
    world = World(repo)
    missed = AiringToStore(planned(), Priority.NORMAL, AUDIO, missed=True, note="service down")
    (stored,) = repo.store_airings([missed], snapshot_id=world.snapshot_id, now=NOW)
    record = repo.airing(stored.airing_id)
    assert record.outcome is AiringOutcome.MISSED
    assert record.states == {}


def test_commands_due_by_leave_later_airings_waiting(repo: Repository) -> None:
    world = World(repo)
    repo.store_airings([item(), item(hour=17)], snapshot_id=world.snapshot_id, now=NOW)
    due = repo.commands_to_send(
        NOW, resend_after=timedelta(seconds=30), limit=10, due_by=NOW + timedelta(minutes=2)
    )
    assert len(due) == 2
    assert all(c.start == planned().start for c in due)


def test_record_sends_counts_attempts_and_a_puback_moves_pending_to_sent(repo: Repository) -> None:
    world = World(repo)
    (stored,) = repo.store_airings([item()], snapshot_id=world.snapshot_id, now=NOW)
    ids = sorted(repo.airing(stored.airing_id).commands)
    cids = [c.id for c in repo.commands_to_send(NOW, resend_after=timedelta(0), limit=10)]
    repo.record_sends(
        [
            SendResult(cids[0], SendOutcome.QUEUE_FULL),
            SendResult(cids[0], SendOutcome.PUBACK),
            SendResult(cids[1], SendOutcome.NO_CONNECTION),
        ],
        now=NOW,
    )
    assert repo.airing(stored.airing_id).states == {
        ids[0]: CommandState.SENT,
        ids[1]: CommandState.PENDING,
    }
    with repo.engine.connect() as conn:
        attempts = conn.execute(
            select(
                t.send_attempts.c.command_id, t.send_attempts.c.attempt, t.send_attempts.c.outcome
            ).order_by(t.send_attempts.c.command_id, t.send_attempts.c.attempt)
        ).all()
    assert [tuple(a) for a in attempts] == sorted(
        [(cids[0], 1, "queue-full"), (cids[0], 2, "puback"), (cids[1], 1, "no-connection")]
    )


def test_a_big_batch_of_pubacks_counts_one_attempt_each_and_moves_no_command_back(
    repo: Repository,
) -> None:
    """More PUBACKs than one SQLite statement takes (500): each command gets its attempt and
    moves from pending to sent; one whose receiver has answered already stays `received`; a
    second PUBACK is a second attempt, the state as it was; an unknown id is skipped."""
    world = World(repo)
    receivers = tuple(f"loa-{n:03d}" for n in range(700))
    (stored,) = repo.store_airings([item(receivers=receivers)], snapshot_id=world.snapshot_id,
                                   now=NOW)  # fmt: skip
    cids = sorted(c.id for c in repo.commands_to_send(NOW, resend_after=timedelta(0), limit=800))
    assert len(cids) == 700
    answered = cids[650]
    repo.record_acks([heard("cam-trung", "loa-650", "ipfm/cam-trung/loa-650/ack", b"{}",
                            ack(answered, AckStatus.RECEIVED))], now=NOW)  # fmt: skip
    later = NOW + timedelta(seconds=3)
    repo.record_sends([SendResult(cid, SendOutcome.PUBACK) for cid in [*cids, "nope"]], now=later)
    repo.record_sends([SendResult(cids[0], SendOutcome.PUBACK)], now=later + timedelta(1))

    states = repo.airing(stored.airing_id).states
    assert states["loa-650"] is CommandState.RECEIVED
    assert {s for r, s in states.items() if r != "loa-650"} == {CommandState.SENT}
    with repo.engine.connect() as conn:
        attempts = conn.execute(
            select(
                t.send_attempts.c.command_id, func.count(), func.max(t.send_attempts.c.attempt)
            ).group_by(t.send_attempts.c.command_id)
        ).all()
        row = conn.execute(
            select(
                t.commands.c.attempts, t.commands.c.first_sent_at, t.commands.c.last_sent_at
            ).where(t.commands.c.id == cids[0])
        ).one()
    assert {cid: (n, top) for cid, n, top in attempts} == {
        cid: (2, 2) if cid == cids[0] else (1, 1) for cid in cids
    }
    assert row.attempts == 2
    assert row.first_sent_at == later
    assert row.last_sent_at == later + timedelta(1)


def test_record_acks_in_order_duplicates_and_late_acks_change_nothing(repo: Repository) -> None:
    world = World(repo)
    airing_id, (c1, c2) = world.airing()
    raw = b'{"v":1}'
    items = [
        heard("cam-trung", "loa-01", "ipfm/cam-trung/loa-01/ack", raw, ack(c1, AckStatus.PLAYING)),
        heard(
            "cam-trung", "loa-01", "ipfm/cam-trung/loa-01/ack", raw, ack(c1, AckStatus.COMPLETED)
        ),
        heard(
            "cam-trung", "loa-01", "ipfm/cam-trung/loa-01/ack", raw, ack(c1, AckStatus.COMPLETED)
        ),
        heard("cam-trung", "loa-01", "ipfm/cam-trung/loa-01/ack", raw, ack(c1, AckStatus.PLAYING)),
        heard(
            "cam-trung", "loa-01", "ipfm/cam-trung/loa-01/ack", raw, ack(c2, AckStatus.COMPLETED)
        ),
        heard("cam-trung", "loa-02", "ipfm/cam-trung/loa-02/ack", raw, "malformed JSON"),
        heard(
            "cam-trung",
            "loa-02",
            "ipfm/cam-trung/loa-02/ack",
            raw,
            ack(c2, AckStatus.FAILED, "device"),
        ),
    ]
    outcomes = repo.record_acks(items, now=NOW)
    assert [o.kind for o in outcomes] == [
        AckKind.STORED,
        AckKind.STORED,
        AckKind.DUPLICATE,
        AckKind.DUPLICATE,
        AckKind.QUARANTINED,
        AckKind.QUARANTINED,
        AckKind.STORED,
    ]
    assert "was sent to cam-trung/loa-02, not to cam-trung/loa-01" in str(outcomes[4].quarantined)
    record = repo.airing(airing_id)
    assert record.states == {"loa-01": CommandState.COMPLETED, "loa-02": CommandState.FAILED}
    assert record.outcome is AiringOutcome.PARTIAL
    with repo.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.acks)).scalar_one() == 3
        repeats = conn.execute(select(t.ack_repeats.c.repeats)).scalars().all()
        assert repeats == [1, 1]  # the second completed, the second playing: counted
        assert conn.execute(select(func.count()).select_from(t.ack_quarantine)).scalar_one() == 2
    (detail,) = [
        c
        for a in repo.airings_between(NOW - timedelta(days=1), NOW + timedelta(days=7))
        for c in a.commands.values()
        if c.receiver == "loa-02"
    ]
    assert (detail.state, detail.detail) == (CommandState.FAILED, "device")


def test_reads_for_the_make_up_rule(repo: Repository) -> None:
    world = World(repo)
    assert repo.last_closed_week() is None
    assert repo.earliest_airing() is None
    world.airing()
    world.airing(ward="cua-ong", receivers=("loa-01",), hour=17)
    start = datetime.combine(MONDAY, datetime.min.time(), tzinfo=UTC) - timedelta(days=1)
    only = repo.airings_between(start, start + timedelta(days=8), wards=["cua-ong"])
    assert [(a.ward, list(a.commands)) for a in only] == [("cua-ong", ["loa-01"])]
    assert repo.earliest_airing() == planned().start
    repo.record_statuses(
        [
            IncomingStatus("cam-trung", "loa-02", False, None, None, b"{}"),
            IncomingStatus("cam-trung", "loa-01", True, None, None, b"{}"),
        ],
        now=NOW,
    )
    assert repo.offline_receivers() == {("cam-trung", "loa-02"): NOW}
    done = [WeekCloseRow("cam-trung", "kh179", "loa-01", 1, 1, True)]
    repo.record_week_close(WEEK, done, now=NOW)
    repo.record_week_close(IsoWeek(2025, 47), done, now=NOW)
    assert repo.last_closed_week() == WEEK
    ids = [
        c.id
        for c in repo.commands_to_send(NOW + timedelta(days=30), resend_after=timedelta(0), limit=9)
    ]
    assert ids == []  # expired


def test_a_received_command_with_no_final_answer_is_due_again_when_stalled(
    repo: Repository,
) -> None:
    world = World(repo)
    _, (c1, c2) = world.airing()  # sent at 05:58 local
    world.answer("cam-trung", "loa-01", c1, AckStatus.RECEIVED)
    world.answer("cam-trung", "loa-02", c2, AckStatus.COMPLETED)
    sent = planned().start - timedelta(minutes=2)
    wait = timedelta(seconds=30)  # stalled: no attempt for STALLED_FACTOR x 30 s = 2 minutes

    def due(at: datetime) -> list[str]:
        return [c.id for c in repo.commands_to_send(at, resend_after=wait, limit=10)]

    closes = planned().expires
    assert due(sent + timedelta(minutes=3)) == []  # it may still be playing
    assert due(closes - timedelta(seconds=1)) == []
    assert due(closes) == [c1]  # its window closed without a final answer: asked again
    assert due(sent + timedelta(hours=1)) == [c1]


def test_a_retained_status_may_change_the_state_but_never_moves_last_seen(
    repo: Repository,
) -> None:
    """A retained status (replayed by the broker on every reconnect) is not the receiver
    speaking now: a repeat changes nothing, a new state (its last will, kept while we were away)
    is recorded as a change, but last_seen_at stays when we last heard the receiver itself. A
    receiver first known from a retained status is seen at the time it gave (never later than
    now), or now if it gave none. A live message in the same batch does move last_seen_at."""
    on, off = True, False
    live = IncomingStatus("cam-trung", "loa-01", on, None, "2.4.1", b"{}")
    assert repo.record_statuses([live], now=NOW) == [True]
    t1, t2, t3 = (NOW + timedelta(minutes=m) for m in (5, 10, 15))

    def seen() -> dict[str, tuple[bool, datetime, datetime]]:
        return {s.receiver: (s.online, s.since, s.last_seen_at) for s in repo.receivers_status()}

    repeat = IncomingStatus("cam-trung", "loa-01", on, None, None, b"{}", retained=True)
    assert repo.record_statuses([repeat], now=t1) == [False]
    assert seen()["loa-01"] == (True, NOW, NOW)
    will = IncomingStatus("cam-trung", "loa-01", off, None, None, b"", retained=True)
    first = IncomingStatus("cam-trung", "loa-02", on, NOW - timedelta(hours=1), None, b"{}", True)
    ahead = IncomingStatus("cam-trung", "loa-03", on, t3, None, b"{}", retained=True)
    untimed = IncomingStatus("cam-trung", "loa-04", on, None, None, b"{}", retained=True)
    assert repo.record_statuses([will, first, ahead, untimed], now=t2) == [True] * 4
    assert seen() == {
        "loa-01": (False, t2, NOW),
        "loa-02": (True, t2, NOW - timedelta(hours=1)),
        "loa-03": (True, t2, t2),
        "loa-04": (True, t2, t2),
    }
    back = IncomingStatus("cam-trung", "loa-01", on, None, None, b"{}")
    assert repo.record_statuses([back, will], now=t3) == [True, True]
    assert seen()["loa-01"] == (False, t3, t3)  # heard live in this batch
    with repo.engine.connect() as conn:
        events = conn.execute(select(func.count()).select_from(t.receiver_status_events))
        assert events.scalar_one() == 7  # 1 + 4 + 2 changes


def test_record_statuses_in_order(repo: Repository) -> None:
    on, off = True, False
    first = IncomingStatus("cam-trung", "loa-01", on, None, "2.4.1", b"{}")
    assert repo.record_statuses([first], now=NOW) == [True]
    later = NOW + timedelta(minutes=5)
    items = [
        IncomingStatus("cam-trung", "loa-01", on, None, None, b"{}"),  # a repeat: nothing new
        IncomingStatus("cam-trung", "loa-01", off, None, None, b"{}"),  # the last will
        IncomingStatus("cam-trung", "loa-02", on, NOW, "2.4.1", b"{}"),  # first seen
        IncomingStatus("cam-trung", "loa-02", on, NOW, "2.5.0", b"{}"),  # new firmware
    ]
    assert repo.record_statuses(items, now=later) == [False, True, True, True]
    known = {(s.ward, s.receiver): s for s in repo.receivers_status()}
    assert (known[("cam-trung", "loa-01")].online, known[("cam-trung", "loa-01")].fw) == (
        False,
        "2.4.1",
    )
    assert known[("cam-trung", "loa-01")].since == later
    assert (known[("cam-trung", "loa-02")].online, known[("cam-trung", "loa-02")].fw) == (
        True,
        "2.5.0",
    )
    assert repo.offline_receivers() == {("cam-trung", "loa-01"): later}
    with repo.engine.connect() as conn:
        events = conn.execute(select(func.count()).select_from(t.receiver_status_events))
        assert events.scalar_one() == 4  # 1 + 3 changes


def test_the_batch_path_stores_times_exactly_as_the_one_row_path(repo: Repository) -> None:
    """Times written by the fast bulk insert must compare with every other time in SQL."""
    world = World(repo)
    repo.store_airings([item()], snapshot_id=world.snapshot_id, now=NOW)
    world.airing(hour=17)  # an airing stored alone, then its commands
    with repo.engine.connect() as conn:
        rows = conn.execute(
            select(t.airings.c.id, t.airings.c.planned_start, t.airings.c.expires_at)
        ).all()
        raw = conn.exec_driver_sql("SELECT expires_at, created_at FROM commands").all()
    assert all(r.planned_start.tzinfo is not None for r in rows)
    if repo.engine.dialect.name == "sqlite":
        shapes = {len(str(value)) for row in raw for value in row}
        assert shapes == {len("2025-11-24 06:00:00.000000")}


def test_a_big_slot_is_stored_whole_in_multi_row_inserts(repo: Repository) -> None:
    """1,200 commands of one instant (more than one multi-row INSERT holds), half of the airings
    already stored with half their receivers: every airing is found, only the missing commands
    are added, and every payload is stored byte for byte."""
    world = World(repo)
    wards = [f"ward-{n:03d}" for n in range(120)]
    receivers = tuple(f"loa-{n:02d}" for n in range(10))
    early = [item(w, receivers[:5]) for w in wards[:60]]
    first = repo.store_airings(early, snapshot_id=world.snapshot_id, now=NOW)
    assert all(s.created and s.commands_added == 5 for s in first)
    with repo.engine.begin() as conn:  # as if their five receivers had all answered
        conn.execute(t.airings.update().values(outcome=AiringOutcome.COMPLETED.value))
    every = [item(w, receivers) for w in wards]
    stored = repo.store_airings(every, snapshot_id=world.snapshot_id, now=NOW)
    assert [s.airing_id for s in stored[:60]] == [s.airing_id for s in first]
    assert [(s.created, s.commands_added) for s in stored] == [(False, 5)] * 60 + [(True, 10)] * 60
    assert len({s.airing_id for s in stored}) == 120
    with repo.engine.connect() as conn:
        saved = {r.id: bytes(r.payload) for r in conn.execute(select(t.commands))}
    assert saved == {c.id: c.payload for i in every for c in i.commands}
    assert {repo.airing(s.airing_id).outcome for s in stored} == {AiringOutcome.OPEN}


def test_an_old_sqlite_limit_on_values_per_statement_is_respected(
    repo: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With room for only a few rows per INSERT (SQLite before 3.32 takes 999 values), a slot
    is still stored whole: the rows go out in more, smaller statements."""
    monkeypatch.setattr(bulk, "_SQLITE_MAX_VALUES", 40)  # 3 commands (13 values each) a statement
    world = World(repo)
    every = [item(f"ward-{n:02d}", ("loa-01", "loa-02", "loa-03", "loa-04")) for n in range(12)]
    with statements(repo.engine) as seen:
        stored = repo.store_airings(every, snapshot_id=world.snapshot_id, now=NOW)
    inserts = [len(params) if isinstance(params, tuple) else 1
               for sql, params in seen if sql.startswith("INSERT INTO commands")]  # fmt: skip
    assert [(s.created, s.commands_added) for s in stored] == [(True, 4)] * 12
    if repo.engine.dialect.name == "sqlite":  # 48 commands, 3 (39 values) per statement
        assert inserts == [39] * 16
    with repo.engine.connect() as conn:
        saved = {r.id: bytes(r.payload) for r in conn.execute(select(t.commands))}
    assert saved == {c.id: c.payload for i in every for c in i.commands}


def _timed_item(ward: str, duration_s: float) -> AiringToStore:
    """An airing with one command whose payload announces a recording of ``duration_s``."""
    plan = planned(ward)
    cid = f"c-{ward}-loa-01"
    payload = json.dumps(
        {"v": 1, "type": "play", "id": cid, "audio": {"sha256": AUDIO, "duration_s": duration_s}}
    ).encode()
    command_ = NewCommand(cid, "loa-01", f"ipfm/{ward}/loa-01/cmd", payload)
    return AiringToStore(plan, Priority.NORMAL, AUDIO, (command_,))


def test_a_completed_sooner_than_the_recording_lasts_is_quarantined_not_counted(
    repo: Repository,
) -> None:
    """A `completed` 10 s after a 600-s recording's command was stored can't be true: it is
    kept in quarantine with the reason, and the command stays as it was; a `completed` after
    the recording's length counts; a recording of a few seconds can be done at once."""
    world = World(repo)
    stored = repo.store_airings(
        [_timed_item("cam-trung", 600.0), _timed_item("cua-ong", 3.0)],
        snapshot_id=world.snapshot_id,
        now=NOW,
    )
    long_id, short_id = "c-cam-trung-loa-01", "c-cua-ong-loa-01"

    def completed(ward: str, cid: str) -> IncomingAck:
        return heard(
            ward, "loa-01", f"ipfm/{ward}/loa-01/ack", b"{}", ack(cid, AckStatus.COMPLETED)
        )

    early = repo.record_acks(
        [completed("cam-trung", long_id), completed("cua-ong", short_id)],
        now=NOW + timedelta(seconds=10),
    )
    assert [o.kind for o in early] == [AckKind.QUARANTINED, AckKind.STORED]
    assert early[0].quarantined == (
        "`completed` 10 s after the command was sent, but its recording lasts 600 s: "
        "it can't have played; not counted"
    )
    assert repo.airing(stored[0].airing_id).states == {"loa-01": CommandState.PENDING}
    assert repo.airing(stored[1].airing_id).states == {"loa-01": CommandState.COMPLETED}
    with repo.engine.connect() as conn:
        kept = conn.execute(select(t.ack_quarantine.c.command_id, t.ack_quarantine.c.reason)).all()
    assert [(k.command_id, "can't have played" in k.reason) for k in kept] == [(long_id, True)]
    (late,) = repo.record_acks([completed("cam-trung", long_id)], now=NOW + timedelta(seconds=600))
    assert late.kind is AckKind.STORED
    assert repo.airing(stored[0].airing_id).states == {"loa-01": CommandState.COMPLETED}


def test_one_ack_at_a_time_gets_the_same_completed_check(repo: Repository) -> None:
    """One ack alone (a batch of one) is filed as in a batch: a `completed` 10 s after a
    600-s recording's command was stored is quarantined, one after 600 s counts."""
    world = World(repo)
    (stored,) = repo.store_airings(
        [_timed_item("cam-trung", 600.0)], snapshot_id=world.snapshot_id, now=NOW
    )
    cid = "c-cam-trung-loa-01"
    done = ack(cid, AckStatus.COMPLETED)
    early = file_ack(repo, "cam-trung", "loa-01", b"{}", done, now=NOW + timedelta(seconds=10))
    assert early.kind is AckKind.QUARANTINED
    assert "it can't have played; not counted" in (early.quarantined or "")
    assert repo.airing(stored.airing_id).states == {"loa-01": CommandState.PENDING}
    late = file_ack(repo, "cam-trung", "loa-01", b"{}", done, now=NOW + timedelta(seconds=600))
    assert late.kind is AckKind.STORED
    assert repo.airing(stored.airing_id).states == {"loa-01": CommandState.COMPLETED}
