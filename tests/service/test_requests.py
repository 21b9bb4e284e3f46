"""Manual and emergency airings (`ipfm-scheduler air`) as the service decides them."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from ipfm_scheduler.core.manual import RETRY_FOR, decide
from ipfm_scheduler.core.model import Origin, Priority
from ipfm_scheduler.errors import StorageError
from ipfm_scheduler.service.ports import ManualRequest, RequestState
from tests.service.helpers import MONDAY, PREFIX, Rig, default_ward, local, make_plan

PLAN = make_plan(default_ward())


def request(**kwargs: object) -> ManualRequest:
    fields: dict[str, object] = {
        "id": 7,
        "ward": "cam-trung",
        "programme": "kh179",
        "priority": Priority.NORMAL,
    }
    fields.update(kwargs)
    return ManualRequest(**fields)  # type: ignore[arg-type]


def test_a_normal_airing_inside_a_window_expires_at_the_window_end() -> None:
    decision = decide(request(), PLAN.schedule, local(MONDAY, "17:05"))
    assert decision.refusal == ""
    assert decision.planned is not None
    assert decision.planned.origin is Origin.MANUAL
    assert decision.planned.expires == local(MONDAY, "18:00")
    assert decision.receivers == ("loa-01", "loa-02")


@pytest.mark.parametrize(
    ("kwargs", "now", "expected"),
    [
        ({}, "12:00", "Mon 12:00 is not inside a window of cam-trung long enough for kh179"),
        ({}, "17:55", "Mon 17:55 is not inside a window"),  # 10 min don't fit before 18:00
        ({"ward": "cam-xyz"}, "17:05", "ward cam-xyz is not in the configuration"),
        ({"programme": "kh180"}, "17:05", "programme kh180 is unknown (known: kh179)"),
        ({"receiver": "loa-09"}, "17:05", "has no receiver loa-09 (it has: loa-01, loa-02)"),
        ({"start": local(MONDAY, "16:00")}, "17:05", "the requested start 2026-11-23 16:00 has"),
        (
            {"requested_at": local(MONDAY, "16:00")},
            "17:05",
            "queued at 2026-11-23 16:00 and not picked up within 10 minutes",
        ),
    ],
)
def test_refusals_say_why(kwargs: dict[str, object], now: str, expected: str) -> None:
    decision = decide(request(**kwargs), PLAN.schedule, local(MONDAY, now))
    assert decision.planned is None
    assert expected in decision.refusal
    assert decision.refusal.startswith("request #7 (")


def test_an_emergency_ignores_windows_and_expires_after_it_could_have_played() -> None:
    decision = decide(
        request(priority=Priority.EMERGENCY), PLAN.schedule, local(MONDAY, "12:00:41")
    )
    assert decision.planned is not None
    assert decision.planned.origin is Origin.EMERGENCY
    assert decision.planned.start == local(MONDAY, "12:00:41")
    assert decision.planned.expires == local(MONDAY, "12:15:41")  # 10 min + 5 min margin


def test_the_service_airs_a_queued_emergency_at_once_and_writes_back_what_it_did() -> None:
    rig = Rig(PLAN, local(MONDAY, "12:00"))
    rig.log.queue(request(priority=Priority.EMERGENCY, receiver="loa-02", requested_by="kt@pc"))
    rig.tick()
    (published,) = rig.outbox.published
    assert published[1] == f"{PREFIX}/cam-trung/loa-02/cmd"
    assert json.loads(published[2])["priority"] == "emergency"
    entry = rig.log.requests[7]
    assert entry["state"] is RequestState.DONE
    assert "emergency" in str(entry["message"])
    assert entry["airing"] is not None


def test_the_service_refuses_a_request_outside_the_windows_and_writes_back_why() -> None:
    rig = Rig(PLAN, local(MONDAY, "12:00"))
    rig.log.queue(request())
    rig.tick()
    assert rig.outbox.published == []
    assert rig.log.requests[7]["state"] is RequestState.REFUSED
    assert "not inside a window" in str(rig.log.requests[7]["message"])


def test_a_request_at_a_planned_airing_time_joins_it_and_airs_nothing_twice() -> None:
    rig = Rig(PLAN, local(MONDAY, "05:58"))
    rig.tick()
    rig.log.queue(request(start=local(MONDAY, "06:00")))
    rig.advance(seconds=1).tick()
    assert len(rig.outbox.published) == 2
    assert "joined the airing already planned" in str(rig.log.requests[7]["message"])


def test_demo_plans_one_airing_per_ward_a_few_seconds_ahead_and_sends_it() -> None:
    rig = Rig(PLAN, local(MONDAY, "12:00"))
    assert rig.dispatcher.demo(rig.now, timedelta(seconds=10)) == 1
    rig.tick()
    assert len(rig.outbox.published) == 2
    start = json.loads(rig.outbox.published[0][2])["start_at"]
    assert datetime.fromisoformat(start) == local(MONDAY, "12:00:10")


def test_a_request_whose_airing_cannot_be_ordered_is_refused_with_the_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Ordering raises (the programme has no audio): the request taken is finished as refused,
    saying why, with a WARNING; it does not stay `taken` for ever."""
    from dataclasses import replace

    plan = replace(PLAN, station=replace(PLAN.station, programme_audio={}))
    rig = Rig(plan, local(MONDAY, "17:05"))
    rig.log.queue(request(priority=Priority.EMERGENCY))
    with caplog.at_level(logging.WARNING, logger="ipfm_scheduler.service.manual"):
        rig.tick()
    entry = rig.log.requests[7]
    assert entry["state"] is RequestState.REFUSED
    assert str(entry["message"]).startswith("request #7 (cam-trung, kh179): ")
    assert "programme kh179 has no audio in the configuration" in str(entry["message"])
    assert entry["message"] in [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert rig.outbox.published == []


def test_a_database_failure_while_storing_queues_the_request_again_and_the_next_tick_airs_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Storing raises a StorageError (transient): the request goes back to the queue with the
    reason (logged at WARNING) and is aired on the next tick."""
    rig = Rig(PLAN, local(MONDAY, "12:00"))
    rig.log.queue(request(priority=Priority.EMERGENCY, requested_at=rig.now))
    rig.log.fail_next = StorageError("database is locked")
    with caplog.at_level(logging.WARNING, logger="ipfm_scheduler.service.manual"):
        rig.tick()
    entry = rig.log.requests[7]
    assert entry["state"] is RequestState.QUEUED
    assert "database is locked" in str(entry["message"])
    assert any("queued again" in r.getMessage() for r in caplog.records)
    assert rig.outbox.published == []
    rig.advance(seconds=1).tick()
    assert rig.log.requests[7]["state"] is RequestState.DONE
    assert len(rig.outbox.published) == 2


def test_a_request_the_database_fails_for_longer_than_the_retry_time_is_refused() -> None:
    """A StorageError on a request queued more than RETRY_FOR ago: refused, saying the airing
    could not be stored and why, instead of being retried (and logged) for ever."""
    rig = Rig(PLAN, local(MONDAY, "12:00"))
    queued = rig.now - RETRY_FOR - timedelta(seconds=1)
    rig.log.queue(request(priority=Priority.EMERGENCY, requested_at=queued))
    rig.log.fail_next = StorageError("database is locked")
    rig.tick()
    entry = rig.log.requests[7]
    assert entry["state"] is RequestState.REFUSED
    assert "could not be stored" in str(entry["message"])
    assert "database is locked" in str(entry["message"])


def test_status_shows_what_became_of_the_requests_and_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`status`, run as a technician runs it, lists the `air` requests of the last 24 hours
    with their state and reason: a refused one says why, one queued again after a database
    error says so (what `air` tells its user to look at when it stops waiting)."""
    from datetime import UTC, datetime

    from ipfm_scheduler.cli import main
    from ipfm_scheduler.core import records as rec
    from ipfm_scheduler.storage.db import open_engine
    from ipfm_scheduler.storage.migrate import upgrade
    from ipfm_scheduler.storage.repository import Repository
    from tests.service.e2e import write_station

    station = write_station(tmp_path, prefix="ipfm-t", mqtt_port=1883, at="06:00")
    engine = open_engine(f"sqlite:///{tmp_path / 'ipfm.db'}")
    upgrade(engine)
    repo = Repository(engine)
    now = datetime.now(UTC)
    asked = rec.ManualRequest("ward-00", "kh179", Priority.EMERGENCY, "kt@tram")
    refused = repo.queue_request(asked, now=now - timedelta(minutes=2))
    repo.take_requests(now)
    repo.finish_request(refused, "refused", now=now, message="its airing could not be stored")
    again = repo.queue_request(
        rec.ManualRequest("ward-00", "kh179", Priority.NORMAL, "kt@tram", receiver="loa-02"),
        now=now - timedelta(minutes=1),
    )
    repo.take_requests(now)
    repo.finish_request(again, "queued", now=now, message="queued again: database is locked")
    from ipfm_scheduler.core.traffic import IncomingStatus

    late = IncomingStatus("ward-00", "loa-03", True, now - timedelta(seconds=75), None, b"{}")
    repo.record_statuses([late], now=now)  # loa-03's clock is 75 s behind
    engine.dispose()
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(station), "status"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "service: NOT running" in out
    # what the database last heard of the receivers is not shown as the present
    assert "never heard from (as last heard: no service is running to hear them now)" in out
    assert (
        "  clock off: ward-00/loa-03 is -75 s from the service's clock (it plays by its own: "
        "set its time right, e.g. systemd-timesyncd)"
    ) in out
    assert "requests by `air` in the last 24 hours (newest first):" in out
    shown = out.split("requests by `air`")[1].splitlines()[1:]
    assert shown[0].startswith(f"  #{again} ")
    assert shown[0].endswith("loa-02 kh179 normal: queued: queued again: database is locked")
    assert shown[1].startswith(f"  #{refused} ")
    assert shown[1].endswith("/all kh179 emergency: refused: its airing could not be stored")
