"""The timer's sweep closes a week in steps (``Weekly.close_step``): the configuration in force,
then the wards, about ``CLOSE_STEP`` receivers a sweep, then the verdicts written, so that a
dispatch due meanwhile waits for one step, never for the whole close of 100,000 receivers."""

from __future__ import annotations

from datetime import timedelta

from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.service.jobs import Jobs
from tests.core.factories import ward, weekly
from tests.service.helpers import MONDAY, Rig, local, make_plan

WEEK = IsoWeek.of(MONDAY)
NEXT_MONDAY = MONDAY + timedelta(days=7)


def sweep(jobs: Jobs, rig: Rig) -> list[str]:
    """Run the timer's sweep job's steps, as the timer would; returns their names."""
    steps = jobs.steps("sweep")
    for _name, step in steps:
        step(rig.now)
    return [name for name, _step in steps]


def test_the_sweep_closes_a_week_over_several_sweeps_and_writes_it_once_at_the_end() -> None:
    rig = Rig(make_plan(ward(weekly("mon", "06:00"))), local(MONDAY, "05:00"))
    jobs = Jobs(rig.dispatcher, rig.log, instance=1)
    rig.log.closed[WEEK.previous()] = []  # the start of history: the week is the service's
    rig.at(local(NEXT_MONDAY, "01:00"))
    assert "closing weeks" in sweep(jobs, rig)
    assert WEEK not in rig.log.closed  # the configuration in force, read
    sweep(jobs, rig)
    assert WEEK not in rig.log.closed  # its two receivers judged, kept in memory
    sweep(jobs, rig)
    assert [(r.receiver, r.compliant) for r in rig.log.closed[WEEK]] == [
        ("loa-01", False),
        ("loa-02", False),
    ]
    for _ in range(3):
        sweep(jobs, rig)
    assert list(rig.log.closed) == [WEEK.previous(), WEEK]  # closed once


def test_a_week_closed_by_the_sweep_says_what_a_close_at_once_says() -> None:
    plan = make_plan(ward(weekly("mon", "06:00")), ward(weekly("tue", "06:00"), wid="cua-ong"))
    stepped, whole = (Rig(plan, local(MONDAY, "05:00")) for _ in range(2))
    for rig in (stepped, whole):
        rig.log.closed[WEEK.previous()] = []
        rig.at(local(NEXT_MONDAY, "01:00"))
    jobs = Jobs(stepped.dispatcher, stepped.log, instance=1)
    for _ in range(3):
        sweep(jobs, stepped)
    whole.dispatcher.close_weeks(whole.now)
    assert stepped.log.closed[WEEK] == whole.log.closed[WEEK]
    assert stepped.log.closed_snapshot[WEEK] == whole.log.closed_snapshot[WEEK]
