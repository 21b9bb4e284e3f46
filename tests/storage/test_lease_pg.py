"""The leader's lease on the real PostgreSQL (issue 17): the first claim, renewal, a takeover
once it ran out (with the next epoch and a row in ha_leader_changes), giving it up, and the
fence: a store by a service whose epoch is over is refused and leaves nothing behind."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from ipfm_scheduler.core.commands import AckStatus, CommandState
from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.core.traffic import AiringToStore, SendOutcome, SendResult
from ipfm_scheduler.errors import NotLeading
from ipfm_scheduler.storage import lease
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.db import open_engine
from ipfm_scheduler.storage.repository import Repository
from ipfm_scheduler.storage.tables import metadata
from tests.storage.storage_factories import AUDIO, World, ack, command, incoming, planned

pytestmark = pytest.mark.postgres

LONG = timedelta(seconds=30)
GONE = timedelta(microseconds=1)  # a lease that has run out by the time anyone looks
A = (1, "may-a", 101)
B = (2, "may-b", 202)


@pytest.fixture
def repos(pg_session_url: str) -> Iterator[Callable[[], Repository]]:
    """Repositories on one emptied PostgreSQL database: one per service."""
    engine = open_engine(pg_session_url)
    names = ", ".join(f'"{tb.name}"' for tb in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()
    made: list[Repository] = []

    def make() -> Repository:
        made.append(Repository(open_engine(pg_session_url)))
        return made[-1]

    yield make
    for repo in made:
        repo.close()


def changes(repo: Repository) -> list[tuple[int, str, str | None, str]]:
    lc = t.ha_leader_changes
    with repo.engine.connect() as conn:
        rows = conn.execute(select(lc).order_by(lc.c.epoch)).all()
    return [(r.epoch, r.host, r.previous_host, r.reason) for r in rows]


def test_the_first_claim_leads_a_second_waits_and_the_holder_renews(repos) -> None:
    a, b = repos(), repos()
    first = a.claim_lease(A, LONG)
    assert (first.mine, first.changed, first.reason, first.lease.epoch) == (True, True, "first", 1)
    waiting = b.claim_lease(B, LONG)
    assert (waiting.mine, waiting.lease.host, waiting.lease.epoch) == (False, "may-a", 1)
    renewed = a.claim_lease(A, LONG)
    assert (renewed.mine, renewed.changed, renewed.lease.epoch) == (True, False, 1)
    assert renewed.lease.expires_at > first.lease.expires_at
    assert changes(a) == [(1, "may-a", None, "first")]


def test_a_lease_that_ran_out_is_taken_with_the_next_epoch_and_recorded(repos) -> None:
    a, b = repos(), repos()
    a.claim_lease(A, GONE)
    taken = b.claim_lease(B, LONG)
    assert (taken.mine, taken.changed, taken.reason, taken.lease.epoch) == (
        True, True, "expired", 2,
    )  # fmt: skip
    assert taken.previous is not None
    assert taken.previous.host == "may-a"
    late = a.claim_lease(A, LONG)  # the old leader comes back: it waits
    assert (late.mine, late.lease.epoch, late.lease.host) == (False, 2, "may-b")
    assert changes(a) == [(1, "may-a", None, "first"), (2, "may-b", "may-a", "expired")]


def test_a_lease_given_up_is_taken_at_once(repos) -> None:
    a, b = repos(), repos()
    a.claim_lease(A, LONG)
    assert a.release_lease(A[0])
    assert not b.release_lease(B[0])  # b does not hold it: nothing changes
    taken = b.claim_lease(B, LONG)
    assert (taken.mine, taken.reason, taken.lease.epoch) == (True, "released", 2)


def test_two_services_claiming_the_first_lease_at_once_give_one_leader(repos) -> None:
    a, b = repos(), repos()
    barrier = threading.Barrier(2)
    claims: dict[str, lease.Claim] = {}

    def claim(name: str, repo: Repository, me: lease.Me) -> None:
        barrier.wait(timeout=10)
        claims[name] = repo.claim_lease(me, LONG)

    threads = [
        threading.Thread(target=claim, args=("a", a, A)),
        threading.Thread(target=claim, args=("b", b, B)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(c.mine for c in claims.values()) == [False, True]
    assert {c.lease.epoch for c in claims.values()} == {1}
    assert len(changes(a)) == 1


def item(hour: int, receivers: tuple[str, ...]) -> AiringToStore:
    plan = planned(hour=hour)
    commands = tuple(command(r, hour, plan.ward) for r in receivers)
    return AiringToStore(plan, Priority.NORMAL, AUDIO, commands)


def count(repo: Repository, table: object) -> int:
    with repo.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_a_deposed_leader_stores_nothing_and_its_transaction_leaves_nothing(repos) -> None:
    a, b = repos(), repos()
    world = World(a)
    a.fence = a.claim_lease(A, GONE).lease.epoch
    (stored,) = a.store_airings(
        [item(6, ("loa-01",))], snapshot_id=world.snapshot_id, now=world.now
    )
    assert stored.created
    b.fence = b.claim_lease(B, LONG).lease.epoch  # b took over: epoch 2
    before = (count(a, t.airings), count(a, t.commands))
    with pytest.raises(NotLeading, match="does not lead in epoch 1: nothing stored"):
        a.store_airings(
            [item(7, ("loa-01", "loa-02"))], snapshot_id=world.snapshot_id, now=world.now
        )
    assert (count(a, t.airings), count(a, t.commands)) == before
    with a.engine.connect() as conn:
        (cid,) = conn.execute(select(t.commands.c.id)).scalars()
    with pytest.raises(NotLeading):
        a.record_sends([SendResult(cid, SendOutcome.PUBACK)], now=world.now)
    with pytest.raises(NotLeading):
        a.take_requests(world.now)
    # the new leader stores and records as usual
    b.store_airings([item(8, ("loa-01",))], snapshot_id=world.snapshot_id, now=world.now)
    b.record_sends([SendResult(cid, SendOutcome.PUBACK)], now=world.now)
    assert b.open_commands()[CommandState.SENT] == 1
    # the deposed one's PUBACK handed to the acks' record is refused too; the acks are stored
    heard = incoming(planned(hour=6).ward, "loa-01", ack(cid, AckStatus.RECEIVED))
    (outcome,) = a.record_acks([heard], now=world.now, pubacks=[cid])
    assert (outcome.state, count(a, t.send_attempts)) == (CommandState.RECEIVED, 1)


def test_a_takeover_waits_for_a_fenced_store_in_progress(repos) -> None:
    a, b = repos(), repos()
    epoch = a.claim_lease(A, GONE).lease.epoch
    in_store = threading.Event()
    finish = threading.Event()
    took: list[lease.Claim] = []

    def slow_store() -> None:
        with a.engine.begin() as conn:
            lease.check_epoch(conn, epoch)  # the fence holds the row for share...
            in_store.set()
            finish.wait(10)  # ...until this transaction ends

    store = threading.Thread(target=slow_store)
    store.start()
    assert in_store.wait(10)
    claim = threading.Thread(target=lambda: took.append(b.claim_lease(B, LONG)))
    claim.start()
    claim.join(0.5)
    assert claim.is_alive()
    assert not took
    finish.set()
    store.join(10)
    claim.join(10)
    assert took[0].mine
    assert took[0].lease.epoch == epoch + 1


# what the leader was doing when it was paused: a store (the fence held shared), or a renewal
# (the lease row locked: before 6cdb9d3 with no idle limit, so every standby's claim timed out
# on the row, 2 s each, until the leader resumed)
LEFT_IDLE: dict[str, Callable[[Connection, int], object]] = {
    "store": lambda held, epoch: lease.check_epoch(held, epoch, idle_ms=300),
    "renewal": lambda held, _epoch: lease.claim(held, A, GONE, idle_ms=300),
}


@pytest.mark.parametrize("doing", list(LEFT_IDLE))
def test_a_transaction_left_idle_by_a_paused_leader_does_not_hold_a_takeover_up(
    repos, doing: str
) -> None:
    a, b = repos(), repos()
    epoch = a.claim_lease(A, GONE).lease.epoch
    held = a.engine.connect()
    stuck = held.begin()
    LEFT_IDLE[doing](held, epoch)  # ...and then the leader is paused: idle
    took = b.claim_lease(B, LONG)  # waits until PostgreSQL ends that transaction
    assert took.mine
    assert took.lease.epoch == epoch + 1
    with pytest.raises(DBAPIError, match=r"idle-in-transaction"):
        held.execute(select(1))
    stuck.close()
    held.close()


def test_a_renewal_is_not_held_up_by_the_leaders_own_store(repos) -> None:
    a = repos()
    epoch = a.claim_lease(A, LONG).lease.epoch
    with a.engine.begin() as conn:
        lease.check_epoch(conn, epoch)  # a big store in progress...
        renewed = a.claim_lease(A, LONG)  # ...on another connection: the renewal goes through
    assert renewed.mine
    assert renewed.lease.epoch == epoch
