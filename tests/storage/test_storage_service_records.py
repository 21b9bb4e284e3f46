"""Receivers' status, week closures, manual requests and heartbeats, on both databases."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.errors import ValueInvalid
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.repository import Repository
from tests.storage.storage_factories import planned, record_status

NOW = datetime(2025, 11, 21, tzinfo=UTC)


def count(repo: Repository, table: t.Table) -> int:
    with repo.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


# --- receivers --------------------------------------------------------------------------------


def test_status_changes_are_events_and_repeats_only_refresh_last_seen(repo: Repository):
    t1, t2, t3 = NOW, NOW + timedelta(minutes=1), NOW + timedelta(minutes=2)
    assert record_status(repo, "cam-trung", "loa-01", "online", at=t1, now=t1, fw="2.4.1", raw=b"1")
    assert not record_status(
        repo, "cam-trung", "loa-01", "online", at=t1, now=t2, fw="2.4.1", raw=b"1"
    )
    # a last will without `fw`: the state changes, the firmware known stays
    assert record_status(repo, "cam-trung", "loa-01", "offline", at=None, now=t3, fw=None, raw=b"")
    (status,) = repo.receivers_status()
    assert (status.online, status.since, status.last_seen_at) == (False, t3, t3)
    assert status.fw == "2.4.1"
    assert count(repo, t.receiver_status_events) == 2
    # a new firmware while online is a change too
    assert record_status(repo, "cam-trung", "loa-01", "online", at=t3, now=t3, fw="2.5.0", raw=b"")
    assert count(repo, t.receiver_status_events) == 3


def test_a_live_status_tells_the_receivers_clock_and_a_replayed_one_does_not(repo: Repository):
    """The receiver's clock minus ours, from the `at` of a status it sends now (network delay
    included); a retained status the broker replays, or one without `at`, changes nothing."""
    from ipfm_scheduler.core.traffic import IncomingStatus

    def heard(at: datetime | None, now: datetime, *, retained: bool = False) -> None:
        status = IncomingStatus("cam-trung", "loa-01", True, at, "2.4.1", b"{}", retained)
        repo.record_statuses([status], now=now)

    heard(NOW + timedelta(seconds=42), NOW)  # its clock is 42 s ahead
    assert repo.receivers_status()[0].clock_offset_s == 42.0
    heard(NOW - timedelta(hours=1), NOW + timedelta(minutes=1), retained=True)
    heard(None, NOW + timedelta(minutes=2))
    assert repo.receivers_status()[0].clock_offset_s == 42.0
    heard(NOW + timedelta(minutes=3), NOW + timedelta(minutes=3, seconds=0.4))  # set right
    assert repo.receivers_status()[0].clock_offset_s == -0.4


# --- manual requests and the service's heartbeat ----------------------------------------------


def test_manual_requests_are_taken_once_and_finished(repo: Repository):
    from ipfm_scheduler.core.records import ManualRequest, RequestState

    request = ManualRequest("cam-trung", "kh179", Priority.EMERGENCY, "kt@tram", receiver="loa-01")
    first = repo.queue_request(request, now=NOW)
    second = repo.queue_request(
        ManualRequest("cua-ong", "kh179", Priority.NORMAL, "kt@tram", start=planned().start),
        now=NOW + timedelta(seconds=1),
    )
    taken = repo.take_requests(NOW + timedelta(seconds=2))
    assert [(r.id, repo.request(r.id).state) for r in taken] == [
        (first, RequestState.TAKEN),
        (second, RequestState.TAKEN),
    ]
    assert taken[0] == replace(request, id=first, requested_at=NOW)
    assert taken[1].start == planned().start
    assert repo.take_requests(NOW + timedelta(seconds=3)) == []
    repo.finish_request(first, "refused", now=NOW, message="ward cam-trung: no receiver loa-01")
    assert repo.request(first).state is RequestState.REFUSED
    assert repo.request(first).message == "ward cam-trung: no receiver loa-01"
    with pytest.raises(ValueInvalid):
        repo.finish_request(second, "taken", now=NOW)


def test_a_taken_request_handed_back_is_queued_again_with_the_reason(repo: Repository):
    """finish_request(..., "queued") puts a taken request back in the queue (the service could
    not store its airing), keeping why, and the next take hands it out again; requests_since
    lists requests newest first with their state and message (what `status` shows)."""
    from ipfm_scheduler.core.records import ManualRequest, RequestState

    request = ManualRequest("cam-trung", "kh179", Priority.EMERGENCY, "kt@tram")
    first = repo.queue_request(request, now=NOW)
    assert [r.id for r in repo.take_requests(NOW + timedelta(seconds=1))] == [first]
    repo.finish_request(first, "queued", now=NOW, message="database is locked")
    assert (repo.request(first).state, repo.request(first).message) == (
        RequestState.QUEUED,
        "database is locked",
    )
    (again,) = repo.take_requests(NOW + timedelta(seconds=2))
    assert (again.id, repo.request(first).state) == (first, RequestState.TAKEN)
    assert again == replace(request, id=first, requested_at=NOW)
    repo.finish_request(first, "refused", now=NOW, message="could not be stored")
    second = repo.queue_request(request, now=NOW + timedelta(minutes=1))
    listed = repo.requests_since(NOW, limit=10)
    assert [(r.id, r.state, r.message) for r in listed] == [
        (second, RequestState.QUEUED, None),
        (first, RequestState.REFUSED, "could not be stored"),
    ]
    assert [r.id for r in repo.requests_since(NOW + timedelta(seconds=1), limit=10)] == [second]
    assert [r.id for r in repo.requests_since(NOW, limit=1)] == [second]


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
