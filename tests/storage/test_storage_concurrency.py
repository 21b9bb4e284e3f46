"""Two writers at once (the service's threads, or two processes): nothing is lost or doubled,
and the command state still never moves backwards. On both databases."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import func, select

from ipfm_scheduler.core.commands import AckStatus, CommandState
from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.core.records import ManualRequest
from ipfm_scheduler.core.traffic import AckKind, AiringToStore
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.repository import Repository
from tests.storage.storage_factories import AUDIO, World, ack, file_ack, planned

T = TypeVar("T")


def together(*calls: Callable[[], T]) -> list[T]:
    """Run ``calls`` in threads released at the same instant; re-raise any failure."""
    barrier = threading.Barrier(len(calls))
    results: list[T | None] = [None] * len(calls)
    errors: list[BaseException] = []

    def worker(i: int, call: Callable[[], T]) -> None:
        barrier.wait(timeout=10)
        try:
            results[i] = call()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a writer is stuck"
    if errors:
        raise errors[0]
    return results  # type: ignore[return-value]


def test_simultaneous_acks_for_one_command_end_in_the_final_state(repo: Repository):
    world = World(repo)
    now = datetime(2025, 11, 24, tzinfo=UTC)
    for hour in range(6, 11):
        airing_id, (cid,) = world.airing(receivers=("loa-01",), hour=hour)

        def send(status: AckStatus, cid: str = cid) -> AckKind:
            return file_ack(repo, "cam-trung", "loa-01", b"{}", ack(cid, status), now=now).kind

        kinds = together(
            lambda: send(AckStatus.COMPLETED),
            lambda: send(AckStatus.PLAYING),
            lambda: send(AckStatus.RECEIVED),
        )
        assert kinds[0] is AckKind.STORED  # whatever came first, `completed` moves the state
        assert AckKind.QUARANTINED not in kinds
        assert repo.airing(airing_id).states == {"loa-01": CommandState.COMPLETED}
    with repo.engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(t.acks)).scalar_one()
    assert stored == 15  # every ack kept, none lost to a conflict


def test_simultaneous_stores_of_one_airing_create_it_once(repo: Repository):
    world = World(repo)
    item = AiringToStore(planned(), Priority.NORMAL, AUDIO)

    def ensure() -> tuple[int, bool]:
        (stored,) = repo.store_airings([item], snapshot_id=world.snapshot_id, now=world.now)
        return stored.airing_id, stored.created

    results = together(ensure, ensure, ensure)
    assert len({airing_id for airing_id, _ in results}) == 1
    assert sorted(created for _, created in results) == [False, False, True]


def test_simultaneous_take_requests_hand_each_request_out_once(repo: Repository):
    now = datetime(2025, 11, 24, tzinfo=UTC)
    for i in range(10):
        repo.queue_request(
            ManualRequest("cam-trung", "kh179", Priority.NORMAL, "kt@tram"),
            now=now + timedelta(seconds=i),
        )
    batches = together(*(lambda: repo.take_requests(now) for _ in range(3)))
    taken = [r.id for batch in batches for r in batch]
    assert sorted(taken) == list(range(1, 11))
