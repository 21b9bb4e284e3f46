"""A new airing log (a fresh database): this week's airings whose window closed before the
service first ran are recorded as missed, and said once, plainly, not with a warning each."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from tests.core.factories import ward, weekly
from tests.service.helpers import MONDAY, Rig, local, make_plan

PER_AIRING = "missed: its window closed while the service was not running"
NEW_LOG = "the airing log is new (no airing recorded before this start)"


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_new_log_says_once_how_many_airings_had_closed_before_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    plan = make_plan(ward(weekly("mon,tue,wed", "06:00")))
    rig = Rig(plan, local(MONDAY + timedelta(days=2), "07:00"))  # Wednesday
    with caplog.at_level(logging.INFO):
        rig.tick()
        rig.advance(minutes=1).tick()
    said = warnings(caplog)
    assert [m for m in said if NEW_LOG in m] == [
        f"{NEW_LOG}: nothing could have aired before it, so this week's 3 airing(s) whose window "
        "had already closed are recorded as missed (see `ipfm-scheduler report`), not one "
        "warning each"
    ]
    assert not [m for m in said if PER_AIRING in m]
    assert [a.outcome for a in rig.log.airings.values()] == ["missed"] * 3


def test_after_a_stop_each_missed_airing_is_still_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    plan = make_plan(ward(weekly("mon,tue,wed", "06:00")))
    first = Rig(plan, local(MONDAY, "05:58"))
    first.tick()  # Monday's airing recorded: the log is no longer new
    restarted = Rig(plan, local(MONDAY + timedelta(days=2), "07:00"), log=first.log)
    with caplog.at_level(logging.INFO):
        restarted.tick()
    said = warnings(caplog)
    assert not [m for m in said if NEW_LOG in m]
    assert len([m for m in said if PER_AIRING in m]) == 2  # Tuesday and Wednesday
    assert all("+07:00" in m for m in said if PER_AIRING in m)
