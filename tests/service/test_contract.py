"""The same dispatcher flows over the airing log in memory (``MemoryLog``, used by the fast
tests) and in the database (SQLite and PostgreSQL through storage's ``Repository``): the one in
memory behaves like the real thing. Only the port's own reads are used to check."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from ipfm_scheduler.core.commands import CommandState
from ipfm_scheduler.core.model import Origin
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.service.ports import AiringRecord, IncomingMessage
from ipfm_scheduler.storage import tables as t
from ipfm_scheduler.storage.db import open_engine
from ipfm_scheduler.storage.memory import MemoryLog
from ipfm_scheduler.storage.migrate import upgrade
from ipfm_scheduler.storage.repository import Repository
from tests.core.factories import ward, weekly
from tests.service.fake_mqtt import ack_message, status_message
from tests.service.helpers import MONDAY, PREFIX, Rig, local, make_plan

WEEK = IsoWeek.of(MONDAY)
NEXT_MONDAY = MONDAY + timedelta(days=7)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def make_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], Any]]:
    """A fresh airing log of each kind."""
    engines = []

    def make() -> Any:
        if request.param == "memory":
            return MemoryLog({"kh179": 600.0})
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'ipfm.db'}"
        else:
            url = request.getfixturevalue("pg_databases")()
        engine = open_engine(url)
        engines.append(engine)
        upgrade(engine)
        return Repository(engine)

    yield make
    for engine in engines:
        engine.dispose()


def records(rig: Rig) -> list[AiringRecord]:
    week = IsoWeek.of(MONDAY)
    tz = rig.plan.tz
    return sorted(
        rig.log.airings_between(week.start(tz), week.next().end(tz)), key=lambda r: r.start
    )


def states(rig: Rig) -> dict[str, CommandState]:
    return {f"{r.start:%H%M}/{k}": c.state for r in records(rig) for k, c in r.commands.items()}


def closures(rig: Rig, week: IsoWeek) -> dict[str, tuple[int, bool, str]]:
    if isinstance(rig.log, MemoryLog):
        return {r.receiver: (r.completed, r.compliant, r.reason) for r in rig.log.closed[week]}
    wc = t.week_closures
    with rig.log.engine.connect() as conn:
        rows = conn.execute(select(wc).where(wc.c.week == str(week)).order_by(wc.c.id)).all()
    return {r.receiver: (r.completed, r.verdict == "compliant", r.reason) for r in rows}


def quarantined(rig: Rig) -> int:
    if isinstance(rig.log, MemoryLog):
        return len(rig.log.quarantined)
    with rig.log.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.ack_quarantine)).scalar_one())


def answer(rig: Rig, status: str, *, only: str | None = None, detail: str | None = None) -> None:
    """Every receiver (or ``only``) answers every command published so far."""
    for _, topic, payload in rig.outbox.published:
        receiver = topic.split("/")[2]
        if only is None or receiver == only:
            command_id = json.loads(payload)["id"]
            rig.outbox.incoming.append(
                ack_message(PREFIX, "cam-trung", receiver, command_id, status, rig.now, detail)
            )


def at(rig: Rig, day: datetime) -> Rig:
    rig.at(day)
    rig.tick()
    rig.sweep()
    return rig


def test_dispatch_restart_and_acks(make_log: Callable[[], Any]) -> None:
    plan = make_plan(ward(weekly("mon", "06:00")))
    rig = at(Rig(plan, local(MONDAY, "05:58"), make_log()), local(MONDAY, "05:58"))
    assert states(rig) == {"2300/loa-01": CommandState.SENT, "2300/loa-02": CommandState.SENT}
    sent = list(rig.outbox.published)
    answer(rig, "received")
    at(rig, local(MONDAY, "05:59"))
    restarted = at(Rig(rig.plan, local(MONDAY, "05:59:40"), rig.log), local(MONDAY, "05:59:40"))
    assert restarted.outbox.published == []
    assert len(records(restarted)) == 1
    rig.outbox.published = sent
    answer(rig, "completed")
    answer(rig, "playing")  # late: changes nothing
    rig.outbox.incoming.append(
        ack_message(PREFIX, "cam-trung", "loa-09", json.loads(sent[0][2])["id"], "failed", rig.now)
    )
    rig.outbox.incoming.append(IncomingMessage(f"{PREFIX}/cam-trung/loa-01/ack", b"\xff\xfe"))
    at(rig, local(MONDAY, "06:12"))
    assert set(states(rig).values()) == {CommandState.COMPLETED}
    assert quarantined(rig) == 1  # loa-09 is not in the configuration: only counted
    assert rig.dispatcher.answers.unknown == 1


def test_missed_make_up_and_week_closing(make_log: Callable[[], Any]) -> None:
    """Down at 06:00 Monday: missed; loa-02 fails its make-up once, then completes; loa-03 is
    offline all week and ends it short with the reason."""
    from ipfm_scheduler.core.model import Receiver

    receivers = (Receiver("loa-01"), Receiver("loa-02"), Receiver("loa-03"))
    plan = make_plan(ward(weekly("mon", "06:00"), receivers=receivers))
    rig = Rig(plan, local(MONDAY, "07:00"), make_log())
    rig.outbox.incoming.append(status_message(PREFIX, "cam-trung", "loa-03", "offline"))
    at(rig, local(MONDAY, "07:00"))  # 06:00 missed; a make-up at 17:00 for loa-01, loa-02
    missed, makeup = records(rig)
    assert (missed.outcome, dict(missed.commands)) == ("missed", {})
    assert (makeup.origin, makeup.start) == (Origin.MAKEUP, local(MONDAY, "17:00"))
    assert rig.outbox.published == []  # not before 16:58
    at(rig, local(MONDAY, "16:58"))
    answer(rig, "completed", only="loa-01")
    answer(rig, "failed", only="loa-02", detail="device")
    at(rig, local(MONDAY, "17:00"))
    at(rig, local(MONDAY, "17:01"))  # a second make-up for loa-02 only, at 17:10
    published = len(rig.outbox.published)
    at(rig, local(MONDAY, "17:08"))
    assert len(rig.outbox.published) == published + 1
    rig.outbox.published = rig.outbox.published[-1:]
    answer(rig, "completed", only="loa-02")
    at(rig, local(MONDAY, "17:30"))
    makeups = [r for r in records(rig) if r.origin is Origin.MAKEUP]
    assert [sorted(r.commands) for r in makeups] == [["loa-01", "loa-02"], ["loa-02"]]
    assert makeups[1].makeup_for == makeups[0].id
    at(rig, local(NEXT_MONDAY, "01:00"))
    assert closures(rig, WEEK) == {
        "loa-01": (1, True, ""),
        "loa-02": (1, True, ""),
        "loa-03": (
            0,
            False,
            "offline since 2026-11-23 07:00; no command sent: 1 airing missed while the "
            "service was not running (2026-11-23 06:00)",
        ),
    }


def closure_snapshots(rig: Rig, week: IsoWeek) -> set[int | None]:
    if isinstance(rig.log, MemoryLog):
        return {rig.log.closed_snapshot[week]}
    wc = t.week_closures
    with rig.log.engine.connect() as conn:
        return set(conn.execute(select(wc.c.snapshot_id).where(wc.c.week == str(week))).scalars())


def test_a_closed_week_names_the_configuration_it_was_judged_by(
    make_log: Callable[[], Any],
) -> None:
    """An auditor can tell which receivers and minimum a week close applied: the closure rows
    carry the snapshot of the configuration in force."""
    plan = make_plan(ward(weekly("mon", "06:00")))
    rig = at(Rig(plan, local(MONDAY, "05:58"), make_log()), local(MONDAY, "05:58"))
    answer(rig, "completed")
    at(rig, local(MONDAY, "06:30"))
    at(rig, local(NEXT_MONDAY, "01:00"))
    assert set(closures(rig, WEEK)) == {"loa-01", "loa-02"}
    assert rig.plan.snapshot_id is not None
    assert closure_snapshots(rig, WEEK) == {rig.plan.snapshot_id}


def test_a_week_closed_late_is_judged_by_the_configuration_of_that_week(
    make_log: Callable[[], Any],
) -> None:
    """Down over the week's end, the service comes back on Wednesday with an edited ward file
    (loa-02 disabled, loa-03 added): the ended week is still judged by its own receivers and
    snapshot, not by the new file (which would call loa-03 short and forget loa-02)."""
    from dataclasses import replace

    from ipfm_scheduler.config.settings import LoadedConfig
    from ipfm_scheduler.core.model import Receiver

    plan = make_plan(ward(weekly("mon", "06:00")))
    rig = at(Rig(plan, local(MONDAY, "05:58"), make_log()), local(MONDAY, "05:58"))
    answer(rig, "completed")
    at(rig, local(MONDAY, "06:30"))
    old_snapshot = rig.plan.snapshot_id
    receivers = (Receiver("loa-01"), Receiver("loa-02", enabled=False), Receiver("loa-03"))
    edited = make_plan(ward(weekly("mon", "06:00"), receivers=receivers))
    wednesday = local(NEXT_MONDAY + timedelta(days=2), "09:00")
    loaded = LoadedConfig(edited.station, edited.schedule, {}, ())
    edited = replace(edited, snapshot_id=rig.log.record_config(loaded, now=wednesday))
    assert edited.snapshot_id != old_snapshot
    rig.at(wednesday)
    rig.dispatcher.replan(edited, wednesday)
    rig.plan = edited
    at(rig, wednesday)
    assert closures(rig, WEEK) == {"loa-01": (1, True, ""), "loa-02": (1, True, "")}
    assert closure_snapshots(rig, WEEK) == {old_snapshot}


def test_every_publish_refusal_is_a_send_outcome_the_airing_log_knows() -> None:
    from ipfm_scheduler.core.traffic import SendOutcome
    from ipfm_scheduler.service import ports

    refused = {s.value for s in ports.PublishStatus} - {"accepted", "busy"}
    assert refused <= {o.value for o in SendOutcome}  # a refusal is recorded as is


def test_a_request_whose_airing_could_not_be_stored_is_queued_again_then_aired(
    make_log: Callable[[], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database error while storing a manual request's airing hands the request back to the
    queue, with the reason, on every airing log; the next tick airs it and finishes it done."""
    from ipfm_scheduler.core.model import Priority
    from ipfm_scheduler.core.records import ManualRequest
    from ipfm_scheduler.errors import StorageError

    rig = Rig(make_plan(ward(weekly("mon", "06:00"))), local(MONDAY, "12:00"), make_log())
    request = ManualRequest("cam-trung", "kh179", Priority.EMERGENCY, "kt@tram")
    request_id = rig.log.queue_request(request, now=rig.now)

    def state() -> tuple[str, str]:
        if isinstance(rig.log, MemoryLog):
            entry = rig.log.requests[request_id]
            return str(entry["state"]), str(entry["message"])
        record = rig.log.request(request_id)
        return str(record.state), str(record.message)

    store = rig.log.store_airings

    def fail_once(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(rig.log, "store_airings", store)
        raise StorageError("database is locked")

    monkeypatch.setattr(rig.log, "store_airings", fail_once)
    at(rig, local(MONDAY, "12:00:01"))
    assert state() == ("queued", "queued again: its airing could not be stored: database is locked")
    assert rig.outbox.published == []
    at(rig, local(MONDAY, "12:00:02"))
    assert state()[0] == "done"
    assert len(rig.outbox.published) == 2


def test_a_request_left_taken_by_an_interrupted_service_is_finished_saying_what_happened(
    make_log: Callable[[], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three requests stay `taken`: one because its service was killed right after taking it
    (no airing), and two because the database failed as their outcome was noted (one airing
    stored for the first, which the second, asked for the same time, joined). Once `taken` for
    2 minutes, the running service finishes them: refused, done, done (with the airing each
    became), saying why; before that it leaves them alone."""
    from ipfm_scheduler.core.model import Priority
    from ipfm_scheduler.core.records import ManualRequest
    from ipfm_scheduler.errors import StorageError

    rig = Rig(make_plan(ward(weekly("mon", "06:00"))), local(MONDAY, "12:00"), make_log())

    def queue(start: datetime | None = None) -> int:
        request = ManualRequest("cam-trung", "kh179", Priority.EMERGENCY, "kt@tram", start=start)
        return int(rig.log.queue_request(request, now=rig.now))

    def state(request_id: int) -> tuple[str, str, int | None]:
        if isinstance(rig.log, MemoryLog):
            entry = rig.log.requests[request_id]
            airing = entry.get("airing")
            assert airing is None or isinstance(airing, int)
            return str(entry["state"]), str(entry.get("message")), airing
        record = rig.log.request(request_id)
        return str(record.state), str(record.message), record.airing_id

    def take_but_fail_to_note_the_outcome() -> None:
        finish = rig.log.finish_request

        def fail_once(*args: Any, **kwargs: Any) -> Any:
            monkeypatch.setattr(rig.log, "finish_request", finish)
            raise StorageError("database is locked")

        monkeypatch.setattr(rig.log, "finish_request", fail_once)
        with pytest.raises(StorageError):
            rig.dispatcher.take_requests(rig.now)

    killed = queue()
    assert [r.id for r in rig.log.take_requests(rig.now)] == [killed]  # ... and nothing more
    rig.advance(seconds=1)
    noted = queue()
    take_but_fail_to_note_the_outcome()
    (stored,) = [r for r in records(rig) if r.origin is Origin.EMERGENCY]
    joined = queue(start=stored.start)
    take_but_fail_to_note_the_outcome()
    assert [r.id for r in records(rig) if r.origin is Origin.EMERGENCY] == [stored.id]
    assert {state(r)[0] for r in (killed, noted, joined)} == {"taken"}
    at(rig, local(MONDAY, "12:01:30"))  # taken 90 s ago: may still be in hand
    assert {state(r)[0] for r in (killed, noted, joined)} == {"taken"}
    at(rig, local(MONDAY, "12:02:30"))
    assert state(killed) == (
        "refused",
        f"request #{killed} (cam-trung, kh179): the service that took it at 2026-11-23 12:00 "
        "was interrupted before storing its airing; not aired "
        "(queue it again if it is still needed)",
        None,
    )
    for request_id in (noted, joined):
        assert state(request_id) == (
            "done",
            f"request #{request_id} (cam-trung, kh179): airing #{stored.id} was stored for it; "
            "the service that took it at 2026-11-23 12:00 was interrupted before noting it done",
            stored.id,
        )


def test_a_message_whose_topic_was_not_utf8_is_counted_as_from_no_receiver_of_ours(
    make_log: Callable[[], Any],
) -> None:
    """The transport hands on a topic that was not UTF-8 with U+FFFD for the bad bytes (see
    tests/transport): no receiver of the configuration has that id, so it is counted with the
    answers from unknown receivers, and no row is written (a flood of them writes nothing)."""
    rig = Rig(make_plan(ward(weekly("mon", "06:00"))), local(MONDAY, "12:00"), make_log())
    topic = f"{PREFIX}/cam-trung/loa-\ufffd01/ack"
    rig.outbox.incoming.append(IncomingMessage(topic, b'{"v":1}', False))
    at(rig, local(MONDAY, "12:00:01"))
    assert rig.dispatcher.answers.unknown == 1
    assert quarantined(rig) == 0


def test_offline_receivers_as_of_a_moment(make_log: Callable[[], Any]) -> None:
    """Every airing log says who was offline at a moment, and since when it went offline (a
    later status that changes only the firmware does not move it), as `report` and the week's
    closing record judge a week."""
    from ipfm_scheduler.core.traffic import IncomingStatus

    log = make_log()
    t0 = local(MONDAY, "06:00")

    def heard(receiver: str, online: bool, at: datetime, fw: str | None = None) -> None:
        status = IncomingStatus("cam-trung", receiver, online, None, fw, b"{}")
        log.record_statuses([status], now=at)

    heard("loa-01", False, t0)
    heard("loa-02", False, t0)
    heard("loa-01", False, t0 + timedelta(hours=1), fw="2.0")
    heard("loa-01", True, t0 + timedelta(hours=5))
    assert log.offline_receivers() == {("cam-trung", "loa-02"): t0}
    at_three = log.offline_receivers(t0 + timedelta(hours=3))
    assert at_three == {("cam-trung", "loa-01"): t0, ("cam-trung", "loa-02"): t0}
    assert log.offline_receivers(t0 + timedelta(hours=3), {"cua-ong"}) == {}
    assert log.offline_receivers(t0) == {}  # before `until`, not at it
