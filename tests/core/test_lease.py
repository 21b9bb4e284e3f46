"""The lease's pure decisions (core/lease.py): who renews, who takes, who waits; the epochs;
the timing that keeps a takeover within ``takeover_s`` and the leader's trust inside its
lease."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipfm_scheduler.core.lease import (
    Lease,
    LeaseTimes,
    LeaseTrust,
    Move,
    Role,
    next_move,
    role_of,
    taken,
    takeover_reason,
)

T0 = datetime(2026, 12, 5, 5, 50, tzinfo=UTC)


def lease(epoch: int = 3, holder: int = 7, expires_in_s: float = 5.0) -> Lease:
    return Lease(
        epoch, holder, "may-a", 101, T0 - timedelta(minutes=1), T0 + timedelta(seconds=expires_in_s)
    )


def test_no_lease_yet_is_taken() -> None:
    assert next_move(None, 7, T0) is Move.TAKE


def test_the_holder_renews_even_a_lease_that_ran_out() -> None:
    assert next_move(lease(), 7, T0) is Move.RENEW
    assert next_move(lease(expires_in_s=-60), 7, T0) is Move.RENEW


def test_another_waits_while_the_lease_runs_then_takes_it() -> None:
    assert next_move(lease(), 8, T0) is Move.WAIT
    assert next_move(lease(), 8, T0 + timedelta(seconds=4.999)) is Move.WAIT
    assert next_move(lease(), 8, T0 + timedelta(seconds=5)) is Move.TAKE


def test_a_takeover_has_the_next_epoch_and_starts_now() -> None:
    new = taken(lease(epoch=3), (8, "may-b", 202), T0, timedelta(seconds=9))
    assert (new.epoch, new.instance_id, new.host, new.pid) == (4, 8, "may-b", 202)
    assert (new.since, new.expires_at) == (T0, T0 + timedelta(seconds=9))
    assert taken(None, (8, "may-b", 202), T0, timedelta(seconds=9)).epoch == 1


def test_why_the_lease_changed_hands() -> None:
    assert takeover_reason(None, T0) == "first"
    assert takeover_reason(lease(expires_in_s=-1), T0) == "expired"
    given_up = Lease(3, 7, "may-a", 101, T0, T0)  # a clean stop sets expires_at = since
    assert takeover_reason(given_up, T0) == "released"


def test_trust_runs_out_on_the_monotonic_clock() -> None:
    times = LeaseTimes(10.0)
    trust = LeaseTrust.after_renewal(4, asked_at=100.0, times=times)
    assert trust.holds(104.99)
    assert not trust.holds(105.0)
    assert role_of(trust, 104.0) is Role.LEADER
    assert role_of(trust, 106.0) is Role.STANDBY  # paused past its trust: it no longer leads
    assert role_of(None, 0.0) is Role.STANDBY


@given(st.floats(min_value=2.0, max_value=3600.0))
def test_the_timing_keeps_a_takeover_within_takeover_s(takeover_s: float) -> None:
    times = LeaseTimes(takeover_s)
    length = times.length.total_seconds()
    # the leader dies just after renewing: its lease runs `length` more; a standby looks every
    # `every_s`: it takes over at most length + every_s later
    assert length + times.every_s < takeover_s
    # the leader stops trusting its lease before the database lets anyone take it, with room
    # for the two clocks' rates to differ
    assert times.trust_s < length - 0.05 * takeover_s
    # it renews at least twice within its trust: one slow renewal does not depose it
    assert 2 * times.every_s < times.trust_s


def test_takeover_s_must_be_positive() -> None:
    with pytest.raises(ValueError, match="takeover_s must be positive"):
        LeaseTimes(0)
