"""A PUBACK recorded with its command's acks (``record_acks(..., pubacks=...)``, issue 15)
leaves the rows a PUBACK recorded on its own before them leaves, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from ipfm_scheduler.core.commands import AckStatus, CommandState
from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.core.traffic import (
    AiringToStore,
    IncomingAck,
    NewCommand,
    SendOutcome,
    SendResult,
)
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.repository import Repository
from tests.storage.storage_factories import AUDIO, World, ack, command, incoming, planned

NOW = datetime(2025, 11, 23, 22, 58, tzinfo=UTC)  # Monday 05:58 in Cẩm Phả
BEFORE = NOW - timedelta(minutes=1)
RECEIVERS = ("loa-01", "loa-02", "loa-03", "loa-04", "loa-05")


def _store(repo: Repository, world: World, ward: str) -> dict[str, str]:
    """A pending command to each of RECEIVERS in ``ward``: receiver -> command id."""
    plan = planned(ward)
    commands = tuple(
        NewCommand(f"c-{ward}-{r}", r, f"ipfm/{ward}/{r}/cmd", command(r, 0, ward).payload)
        for r in RECEIVERS
    )
    repo.store_airings([AiringToStore(plan, Priority.NORMAL, AUDIO, commands)],
                       snapshot_id=world.snapshot_id, now=BEFORE)  # fmt: skip
    return {r: f"c-{ward}-{r}" for r in RECEIVERS}


def _heard(ward: str, receiver: str, command_id: str, status: AckStatus) -> IncomingAck:
    return incoming(ward, receiver, ack(command_id, status), b"{}", f"ipfm/{ward}/{receiver}/ack")


def _before(repo: Repository, ward: str, ids: dict[str, str]) -> None:
    """What happened earlier: loa-02's command was accepted once already (this is its second
    PUBACK); loa-04's receiver had answered `received` (its ack now is a repeat)."""
    repo.record_sends([SendResult(ids["loa-02"], SendOutcome.PUBACK)], now=BEFORE)
    repo.record_acks([_heard(ward, "loa-04", ids["loa-04"], AckStatus.RECEIVED)], now=BEFORE)


def _acks(ward: str, ids: dict[str, str]) -> list[IncomingAck]:
    return [
        _heard(ward, "loa-01", ids["loa-01"], AckStatus.RECEIVED),
        _heard(ward, "loa-02", ids["loa-02"], AckStatus.PLAYING),
        _heard(ward, "loa-05", ids["loa-03"], AckStatus.RECEIVED),  # the wrong receiver
        _heard(ward, "loa-04", ids["loa-04"], AckStatus.RECEIVED),  # a repeat
    ]


def _rows(repo: Repository, ids: dict[str, str]) -> dict[str, Any]:
    """Per receiver: its command's row (its own columns), its attempt rows and its acks."""
    c, a, k = t.commands, t.send_attempts, t.acks
    receiver = {cid: r for r, cid in ids.items()}
    found: dict[str, Any] = {r: {"attempts": [], "acks": []} for r in RECEIVERS}
    names = ("state attempts first_sent_at last_sent_at last_attempt_at state_at detail played_s "
             "receiver_at answer_verified")  # fmt: skip
    columns = [c.c[name] for name in names.split()]
    with repo.engine.connect() as conn:
        for row in conn.execute(select(c.c.id, *columns).where(c.c.id.in_(receiver))):
            found[receiver[row.id]]["command"] = tuple(row)[1:]
        query = select(a.c.command_id, a.c.attempt, a.c.at, a.c.outcome).order_by(a.c.attempt)
        for row in conn.execute(query.where(a.c.command_id.in_(receiver))):
            found[receiver[row.command_id]]["attempts"].append(tuple(row)[1:])
        query = select(k.c.command_id, k.c.status, k.c.changed_state, k.c.state_after)
        for row in conn.execute(query.where(k.c.command_id.in_(receiver)).order_by(k.c.id)):
            found[receiver[row.command_id]]["acks"].append(tuple(row)[1:])
    return found


def test_pubacks_recorded_with_the_acks_leave_the_rows_recorded_before_them(
    repo: Repository,
) -> None:
    """Two wards, the same story: in one the PUBACKs are recorded first, on their own
    (``record_sends``), then the acks; in the other the PUBACKs go with the acks. A first and
    a second PUBACK, an ack from the wrong receiver (quarantined: its command's PUBACK is still
    recorded), a repeated ack, a PUBACK with no ack (loa-05's) and an unknown id."""
    world = World(repo)
    alone, together = _store(repo, world, "cam-trung"), _store(repo, world, "cua-ong")
    _before(repo, "cam-trung", alone)
    _before(repo, "cua-ong", together)

    repo.record_sends([SendResult(cid, SendOutcome.PUBACK) for cid in alone.values()], now=NOW)
    first = repo.record_acks(_acks("cam-trung", alone), now=NOW)
    second = repo.record_acks(
        _acks("cua-ong", together), now=NOW, pubacks=[*together.values(), "c-nope"]
    )

    assert [(o.state, o.changed, bool(o.quarantined)) for o in first] == [
        (o.state, o.changed, bool(o.quarantined)) for o in second
    ]
    rows = _rows(repo, together)
    assert rows == _rows(repo, alone)
    assert rows["loa-01"]["command"][:4] == (CommandState.RECEIVED.value, 1, NOW, NOW)
    assert rows["loa-02"]["command"][:4] == (CommandState.PLAYING.value, 2, BEFORE, NOW)
    assert rows["loa-03"]["command"][:2] == (CommandState.SENT.value, 1)
    assert rows["loa-05"]["command"][:2] == (CommandState.SENT.value, 1)
    assert rows["loa-02"]["attempts"] == [(1, BEFORE, "puback"), (2, NOW, "puback")]
    assert [len(rows[r]["acks"]) for r in RECEIVERS] == [1, 1, 0, 1, 0]  # loa-04's: counted


def test_pubacks_alone_are_recorded_without_an_ack(repo: Repository) -> None:
    world = World(repo)
    ids = _store(repo, world, "cam-trung")
    assert repo.record_acks([], now=NOW, pubacks=[ids["loa-01"]]) == []
    rows = _rows(repo, ids)
    assert rows["loa-01"]["command"][:2] == (CommandState.SENT.value, 1)
    assert rows["loa-01"]["attempts"] == [(1, NOW, "puback")]
    assert rows["loa-02"]["attempts"] == []


def test_only_postgresql_gains_by_it(repo: Repository) -> None:
    assert repo.pubacks_with_acks is (repo.engine.dialect.name == "postgresql")
