"""The command state machine: acks never move a command backwards; final answers stick."""

from __future__ import annotations

import itertools

import pytest

from ipfm_scheduler.core.commands import (
    AckStatus,
    CommandState,
    after_ack,
    after_deadline,
    after_publish,
)

S = CommandState
A = AckStatus


def run(*acks: AckStatus, start: CommandState = S.SENT) -> CommandState:
    state = start
    for ack in acks:
        state = after_ack(state, ack)
    return state


def test_normal_sequence() -> None:
    assert run(A.RECEIVED) is S.RECEIVED
    assert run(A.RECEIVED, A.PLAYING) is S.PLAYING
    assert run(A.RECEIVED, A.PLAYING, A.COMPLETED) is S.COMPLETED


def test_receiver_may_skip_steps() -> None:
    assert run(A.COMPLETED) is S.COMPLETED
    assert run(A.REJECTED, start=S.PENDING) is S.REJECTED


def test_late_or_repeated_acks_change_nothing() -> None:
    assert run(A.COMPLETED, A.PLAYING) is S.COMPLETED
    assert run(A.PLAYING, A.RECEIVED) is S.PLAYING
    assert run(A.COMPLETED, A.COMPLETED) is S.COMPLETED


def test_first_final_answer_stands() -> None:
    assert run(A.FAILED, A.COMPLETED) is S.FAILED
    assert run(A.COMPLETED, A.FAILED) is S.COMPLETED


def test_publish_after_an_answer_does_not_reset_it() -> None:
    assert after_publish(S.PENDING) is S.SENT
    assert after_publish(S.PLAYING) is S.PLAYING


def test_deadline_expires_open_commands_but_a_late_final_answer_wins() -> None:
    assert after_deadline(S.PLAYING) is S.EXPIRED
    assert after_deadline(S.COMPLETED) is S.COMPLETED
    assert after_ack(S.EXPIRED, A.COMPLETED) is S.COMPLETED
    assert after_ack(S.EXPIRED, A.PLAYING) is S.EXPIRED


def test_open_and_final() -> None:
    assert [s for s in S if s.open] == [S.PENDING, S.SENT, S.RECEIVED, S.PLAYING]
    assert {s for s in S if s.final} == {S.COMPLETED, S.FAILED, S.REJECTED}


@pytest.mark.parametrize("acks", list(itertools.permutations(list(A), 3)))
def test_state_never_moves_backwards_and_finals_stick(acks: tuple[AckStatus, ...]) -> None:
    state = S.SENT
    for ack in acks:
        new = after_ack(state, ack)
        assert new.rank >= state.rank
        if state.final:
            assert new is state
        state = new
