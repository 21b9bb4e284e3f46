"""The weekly minimum enforced live (make-ups) and the verdict when a week closes, over a whole
simulated week with fakes: the clock is moved by the test, nothing sleeps."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest

from ipfm_scheduler.core.commands import CommandState
from ipfm_scheduler.core.model import Origin
from ipfm_scheduler.core.verdicts import MAX_MAKEUPS
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.service import jobs as jobs_module
from tests.core.factories import ward, weekly
from tests.service.fake_mqtt import ack_message, status_message
from tests.service.helpers import MONDAY, PREFIX, Rig, local, make_plan

WEEK = IsoWeek.of(MONDAY)
NEXT_MONDAY = MONDAY + timedelta(days=7)

# receiver -> what it answers to a play command at time t (None: it never answers)
Policy = Callable[[str, datetime], str | None]


def completes(receiver: str, at: datetime) -> str | None:
    return "completed"


def drive(
    rig: Rig, until: datetime, policy: Policy, step: timedelta = timedelta(minutes=3)
) -> None:
    """Tick and sweep every ``step`` until ``until``, answering each new command per ``policy``."""
    answered = 0
    while rig.now < until:
        rig.tick()
        rig.sweep()
        for _, topic, payload in rig.outbox.published[answered:]:
            _, ward_id, receiver, _ = topic.split("/")
            status = policy(receiver, rig.now)
            if status is not None:
                detail = "device" if status == "failed" else None
                command_id = json.loads(payload)["id"]
                rig.outbox.incoming.append(
                    ack_message(PREFIX, ward_id, receiver, command_id, status, rig.now, detail)
                )
        answered = len(rig.outbox.published)
        rig.advance(seconds=step.total_seconds())
    rig.tick()
    rig.sweep()


def test_a_receiver_that_fails_gets_a_make_up_for_just_it_and_the_week_ends_compliant() -> None:
    rig = Rig(make_plan(ward(weekly("mon", "06:00"))), local(MONDAY, "05:00"))
    failed_once: set[str] = set()

    def policy(receiver: str, at: datetime) -> str:
        if receiver == "loa-02" and receiver not in failed_once:
            failed_once.add(receiver)
            return "failed"
        return "completed"

    drive(rig, local(NEXT_MONDAY, "01:00"), policy)
    makeups = [a for a in rig.log.airings.values() if a.planned.origin is Origin.MAKEUP]
    assert len(makeups) == 1
    (makeup,) = makeups
    assert [c.receiver for c in makeup.item.commands] == ["loa-02"]
    assert makeup.planned.start.astimezone(makeup.planned.zone).date() == MONDAY
    assert makeup.item.makeup_for is not None
    rows = rig.log.closed[WEEK]
    assert [(r.receiver, r.completed, r.compliant) for r in rows] == [
        ("loa-01", 1, True),
        ("loa-02", 1, True),
    ]


def test_no_make_up_while_a_planned_airing_this_week_can_still_count() -> None:
    rig = Rig(make_plan(ward(weekly("mon,thu", "06:00"))), local(MONDAY, "05:00"))
    drive(
        rig,
        local(MONDAY, "23:00"),
        lambda r, at: "failed" if r == "loa-02" else "completed",
    )
    assert Origin.MAKEUP not in rig.log.origins()  # Thursday's airing may still count


def test_a_receiver_that_stays_offline_ends_the_week_short_with_the_reason() -> None:
    rig = Rig(make_plan(ward(weekly("mon", "06:00"))), local(MONDAY, "05:00"))
    rig.outbox.incoming.append(status_message(PREFIX, "cam-trung", "loa-02", "offline"))
    drive(rig, local(NEXT_MONDAY, "01:00"), lambda r, at: None if r == "loa-02" else "completed")
    assert Origin.MAKEUP not in rig.log.origins()  # no make-up for a receiver known offline
    rows = {r.receiver: r for r in rig.log.closed[WEEK]}
    assert rows["loa-01"].compliant
    short = rows["loa-02"]
    assert not short.compliant
    assert short.completed == 0
    assert short.reason == "offline since 2026-11-23 05:00; 1 command: expired"


def test_a_receiver_back_online_gets_its_make_up() -> None:
    rig = Rig(make_plan(ward(weekly("mon", "06:00"))), local(MONDAY, "05:00"))
    rig.outbox.incoming.append(status_message(PREFIX, "cam-trung", "loa-02", "offline"))
    drive(rig, local(MONDAY, "12:00"), lambda r, at: None if r == "loa-02" else "completed")
    assert Origin.MAKEUP not in rig.log.origins()
    rig.outbox.incoming.append(status_message(PREFIX, "cam-trung", "loa-02", "online"))
    drive(rig, local(NEXT_MONDAY, "01:00"), completes)
    (makeup,) = [a for a in rig.log.airings.values() if a.planned.origin is Origin.MAKEUP]
    assert makeup.planned.local_start.strftime("%a %H:%M") == "Mon 17:00"  # the next window
    assert all(r.compliant for r in rig.log.closed[WEEK])


def test_a_receiver_that_always_fails_gets_a_bounded_number_of_make_ups() -> None:
    rig = Rig(make_plan(ward(weekly("mon", "06:00"))), local(MONDAY, "05:00"))
    drive(
        rig, local(NEXT_MONDAY, "01:00"), lambda r, at: "failed" if r == "loa-02" else "completed"
    )
    makeups = [a for a in rig.log.airings.values() if a.planned.origin is Origin.MAKEUP]
    assert len(makeups) == MAX_MAKEUPS
    short = {r.receiver: r for r in rig.log.closed[WEEK]}["loa-02"]
    assert short.reason == (
        "4 commands: failed (device) ×4; 3 make-ups tried, the most a week gets"
    )


def test_make_ups_used_up_are_told_once_at_warning(caplog: pytest.LogCaptureFixture) -> None:
    """When a short receiver gets no more make-ups, a technician is told, once (the service
    used to stop re-trying it without a word)."""
    rig = Rig(make_plan(ward(weekly("mon", "06:00"))), local(MONDAY, "05:00"))
    with caplog.at_level(logging.WARNING, logger="ipfm_scheduler.service.weekly"):
        drive(
            rig,
            local(MONDAY + timedelta(days=6), "23:00"),
            lambda r, at: "failed" if r == "loa-02" else "completed",
        )
    told = [r.getMessage() for r in caplog.records if "no more this week" in r.getMessage()]
    assert told == [
        "ward cam-trung receiver loa-02: kh179 still short in 2026-W48 after 3 make-ups: no more "
        "this week; check the loudspeaker (status shows what became of each airing)"
    ]


def test_a_service_down_all_week_closes_it_short_with_no_airing_planned() -> None:
    rig = Rig(make_plan(ward(weekly("mon", "06:00"))), local(MONDAY, "05:00"))
    rig.tick()  # records nothing (not due) but marks the start of history:
    rig.log.closed[WEEK.previous()] = []
    restarted = Rig(rig.plan, local(NEXT_MONDAY + timedelta(days=1), "12:00"), log=rig.log)
    restarted.sweep()
    rows = restarted.log.closed[WEEK]
    assert [(r.receiver, r.reason) for r in rows] == [
        ("loa-01", "no airing planned"),
        ("loa-02", "no airing planned"),
    ]


def test_a_week_is_closed_only_once_its_last_answers_could_have_come() -> None:
    rig = Rig(make_plan(ward(weekly("sun", "06:00"))), local(MONDAY, "05:00"))
    drive(rig, local(NEXT_MONDAY, "00:00"), completes, step=timedelta(hours=1))
    rig.at(local(NEXT_MONDAY, "00:16")).sweep()
    assert WEEK not in rig.log.closed  # 10 min programme + 2 min grace + 5 min margin
    rig.at(local(NEXT_MONDAY, "00:17")).sweep()
    assert all(r.compliant for r in rig.log.closed[WEEK])
    assert WEEK in rig.log.closed
    rig.at(local(NEXT_MONDAY, "00:30")).sweep()
    assert list(rig.log.closed) == [WEEK]  # closed once


def test_make_up_commands_wait_until_their_dispatch_time() -> None:
    rig = Rig(make_plan(ward(weekly("mon", "06:00"))), local(MONDAY, "05:58"))
    rig.tick()
    for _, topic, payload in list(rig.outbox.published):
        receiver = topic.split("/")[2]
        status = "failed" if receiver == "loa-02" else "completed"
        command_id = json.loads(payload)["id"]
        rig.outbox.incoming.append(
            ack_message(PREFIX, "cam-trung", receiver, command_id, status, rig.now)
        )
    rig.at(local(MONDAY, "06:29")).tick()
    rig.sweep()  # no slot left in the morning window: the evening one, 17:00
    (makeup,) = [a for a in rig.log.airings.values() if a.planned.origin is Origin.MAKEUP]
    assert makeup.planned.local_start.strftime("%H:%M") == "17:00"
    published = len(rig.outbox.published)
    rig.at(local(MONDAY, "16:57")).tick()
    assert len(rig.outbox.published) == published  # not before 17:00 - lead
    rig.at(local(MONDAY, "16:58")).tick()
    assert len(rig.outbox.published) == published + 1
    (command,) = makeup.item.commands
    assert rig.log.commands[command.id].state is CommandState.SENT


def test_a_week_short_because_the_service_was_down_says_which_airings_it_missed() -> None:
    # the service starts on Sunday after the last window of the week: Monday's airing was
    # recorded as missed, no slot is left for a make-up, and the week closes short
    rig = Rig(make_plan(ward(weekly("mon", "06:00"))), local(MONDAY + timedelta(days=6), "07:00"))
    rig.tick()
    rig.sweep()
    assert Origin.MAKEUP not in rig.log.origins()  # the week has no window left
    rig.at(local(NEXT_MONDAY, "01:00")).sweep()
    rows = rig.log.closed[WEEK]
    missed = "1 airing missed while the service was not running (2026-11-23 06:00)"
    assert [(r.receiver, r.reason) for r in rows] == [
        ("loa-01", f"no command sent: {missed}"),
        ("loa-02", f"no command sent: {missed}"),
    ]


def test_a_short_week_is_logged_with_its_count_once(caplog: pytest.LogCaptureFixture) -> None:
    """The closing WARNING gives the count once: the reason opens with it when some completed."""
    from ipfm_scheduler.core.records import WeekCloseRow
    from ipfm_scheduler.service.weekly import Weekly

    week = IsoWeek.of(MONDAY)
    rows = [
        WeekCloseRow("cam-trung", "kh179", "loa-01", 1, 2, False, "1 of 2 completed; expired"),
        WeekCloseRow("cam-trung", "kh179", "loa-02", 0, 2, False, "no command sent"),
    ]
    with caplog.at_level(logging.WARNING, logger="ipfm_scheduler.service.weekly"):
        Weekly._report(make_plan(ward(weekly("mon", "06:00"))), week, rows)
    assert [m.split("kh179: ", 1)[1] for m in caplog.messages] == [
        "1 of 2 completed; expired",
        "0 of 2 completed; no command sent",
    ]


def test_the_make_up_sweep_waits_while_a_big_slot_goes_out_but_not_for_long(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Mid-slot every command of the slot is still open: a sweep then finds nothing to make up
    and slows the slot (at 100,000 receivers it reads the week again). It is put off while at
    least ``SLOT_BUSY`` commands are in flight, for at most ``MAKEUP_PUT_OFF_S``; a small slot
    never puts it off."""
    rig = Rig(make_plan(ward(weekly("mon", "06:00"))), local(MONDAY, "05:00"))
    d = rig.dispatcher
    sweeps: list[datetime] = []
    monkeypatch.setattr(d.weekly, "makeups", lambda plan, now: sweeps.append(now) or [])
    moment = [5000.0]
    monkeypatch.setattr(jobs_module, "time", SimpleNamespace(monotonic=lambda: moment[0]))
    d._swept_at = moment[0]
    sender = SimpleNamespace(busy=jobs_module.SLOT_BUSY)
    monkeypatch.setattr(d, "sender", sender)
    d.make_up(rig.now)
    assert sweeps == []  # a big slot going out: put off
    moment[0] += jobs_module.MAKEUP_PUT_OFF_S
    d.make_up(rig.now)
    assert sweeps == [rig.now]  # put off long enough: it runs, slot or not
    sender.busy = jobs_module.SLOT_BUSY - 1
    moment[0] += 1
    d.make_up(rig.now)
    assert sweeps == [rig.now, rig.now]  # a small slot never waits
