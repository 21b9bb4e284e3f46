"""Manual and emergency airings (`ipfm-scheduler air`) as the service decides them."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from ipfm_scheduler.core.model import Origin, Priority
from ipfm_scheduler.service.ports import ManualRequest, RequestState
from ipfm_scheduler.service.requests import decide
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
    decision = decide(request(), PLAN, local(MONDAY, "17:05"))
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
    decision = decide(request(**kwargs), PLAN, local(MONDAY, now))
    assert decision.planned is None
    assert expected in decision.refusal
    assert decision.refusal.startswith("request #7 (")


def test_an_emergency_ignores_windows_and_expires_after_it_could_have_played() -> None:
    decision = decide(request(priority=Priority.EMERGENCY), PLAN, local(MONDAY, "12:00:41"))
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
    assert start == local(MONDAY, "12:00:10").isoformat()
