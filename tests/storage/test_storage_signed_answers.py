"""What the airing log keeps of protocol version 2 (docs/protocol.md "Version 2"): whether each
answer was verified, whether a command's state was set by a verified one, and the `completed`
said after its command had expired (not counted). On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from ipfm_scheduler.core.commands import AckStatus, CommandState
from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.core.traffic import (
    AckKind,
    AiringToStore,
    IncomingAck,
    IncomingStatus,
    NewCommand,
)
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.repository import Repository
from tests.storage.storage_factories import AUDIO, VN, Answer, World, planned

NOW = datetime(2025, 11, 23, 22, 58, tzinfo=UTC)  # Monday 05:58 in Cẩm Phả
DURATION_S = 600.0


def _item(ward: str) -> AiringToStore:
    """One airing (06:00, window to 06:30) with one command for a 600-s recording."""
    cid = f"c-{ward}-loa-01"
    payload = json.dumps(
        {"v": 2, "type": "play", "id": cid, "audio": {"sha256": AUDIO, "duration_s": DURATION_S}}
    ).encode()
    command = NewCommand(cid, "loa-01", f"ipfm/{ward}/loa-01/cmd", payload)
    return AiringToStore(planned(ward), Priority.NORMAL, AUDIO, (command,))


def _completed(ward: str, at: datetime, *, verified: bool = True) -> IncomingAck:
    cid = f"c-{ward}-loa-01"
    answer = Answer(cid, AckStatus.COMPLETED, at, None, DURATION_S, at.isoformat())
    return IncomingAck(ward, "loa-01", f"ipfm/{ward}/loa-01/ack", b"{}", answer, verified=verified)


def test_a_completed_said_after_its_command_had_expired_is_not_counted(repo: Repository) -> None:
    """The window closes at 06:30; a 600-s play started then ends by 06:40, and the scheduler
    marks the command expired 2 minutes later (06:42). A `completed` whose `at` is 06:50 can't
    be true: kept in quarantine with the reason; one at 06:41 counts, whenever it arrives."""
    world = World(repo)
    stored = repo.store_airings(
        [_item("cam-trung"), _item("cua-ong")], snapshot_id=world.snapshot_id, now=NOW
    )
    late = datetime(2025, 11, 24, 6, 50, tzinfo=VN)
    in_time = datetime(2025, 11, 24, 6, 41, tzinfo=VN)
    outcomes = repo.record_acks(
        [_completed("cam-trung", late), _completed("cua-ong", in_time)],
        now=NOW + timedelta(hours=3),  # long after: the answer of a box that was cut off
    )
    assert [o.kind for o in outcomes] == [AckKind.QUARANTINED, AckKind.STORED]
    assert "after the command had expired" in (outcomes[0].quarantined or "")
    assert "8 min" in (outcomes[0].quarantined or "")
    assert repo.airing(stored[0].airing_id).states == {"loa-01": CommandState.PENDING}
    assert repo.airing(stored[1].airing_id).states == {"loa-01": CommandState.COMPLETED}


def test_whether_each_answer_was_verified_is_kept(repo: Repository) -> None:
    world = World(repo)
    repo.store_airings(
        [_item("cam-trung"), _item("cua-ong")], snapshot_id=world.snapshot_id, now=NOW
    )
    at = datetime(2025, 11, 24, 6, 11, tzinfo=VN)
    repo.record_acks(
        [_completed("cam-trung", at), _completed("cua-ong", at, verified=False)],
        now=NOW + timedelta(minutes=20),
    )
    with repo.engine.connect() as conn:
        acks = dict(conn.execute(select(t.acks.c.ward, t.acks.c.verified)).all())
        marks = dict(conn.execute(select(t.commands.c.ward, t.commands.c.answer_verified)).all())
    assert acks == {"cam-trung": True, "cua-ong": False}
    assert marks == {"cam-trung": True, "cua-ong": False}


def test_whether_each_status_was_verified_is_kept(repo: Repository) -> None:
    signed = IncomingStatus("cam-trung", "loa-01", True, None, "fw", b"{}", verified=True)
    unsigned = replace(signed, receiver="loa-02", verified=False)
    repo.record_statuses([signed, unsigned], now=NOW)
    with repo.engine.connect() as conn:
        rows = dict(
            conn.execute(
                select(t.receiver_status_events.c.receiver, t.receiver_status_events.c.verified)
            ).all()
        )
    assert rows == {"loa-01": True, "loa-02": False}
