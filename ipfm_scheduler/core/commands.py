"""The state of a play command, derived from the acknowledgements received for it.

A receiver answers ``received``, ``playing`` and one of ``completed``/``failed``/``rejected``, in
that order, may skip the first two, and may repeat any of them (docs/protocol.md). The state
never moves backwards: a repeated or late ack changes nothing, and the first final answer stands.
"""

from __future__ import annotations

from enum import StrEnum


class AckStatus(StrEnum):
    """What a receiver may say about a command."""

    RECEIVED = "received"
    PLAYING = "playing"
    COMPLETED = "completed"
    FAILED = "failed"
    REJECTED = "rejected"


class CommandState(StrEnum):
    """Where a command stands, as far as the scheduler knows."""

    PENDING = "pending"  # written to the database, not yet accepted by the broker
    SENT = "sent"  # accepted by the broker at least once, no answer yet
    RECEIVED = "received"
    PLAYING = "playing"
    EXPIRED = "expired"  # no final answer by the time it could no longer have played
    COMPLETED = "completed"
    FAILED = "failed"
    REJECTED = "rejected"

    @property
    def final(self) -> bool:
        """A receiver's final answer: nothing changes it any more."""
        return self in _FINAL

    @property
    def rank(self) -> int:
        """Progress: a command's state only ever moves to a higher rank."""
        return _RANK[self]

    @property
    def open(self) -> bool:
        """Still waiting for the receiver (resend while it has not expired)."""
        return _RANK[self] < _RANK[CommandState.EXPIRED]


_FINAL = frozenset({CommandState.COMPLETED, CommandState.FAILED, CommandState.REJECTED})
_RANK = {
    CommandState.PENDING: 0,
    CommandState.SENT: 1,
    CommandState.RECEIVED: 2,
    CommandState.PLAYING: 3,
    # our own verdict; a receiver's final answer arriving later still replaces it
    CommandState.EXPIRED: 4,
    CommandState.COMPLETED: 5,
    CommandState.FAILED: 5,
    CommandState.REJECTED: 5,
}


def advance(current: CommandState, new: CommandState) -> CommandState:
    """The state after ``new`` is learnt, given ``current``: never backwards, finals stick."""
    if current.final:
        return current
    return new if _RANK[new] > _RANK[current] else current


def after_ack(current: CommandState, status: AckStatus) -> CommandState:
    try:
        return _AFTER_ACK[current, status]  # a look-up: asked for every ack of a big slot
    except KeyError:  # a plain string for a status (as its enum would be), or not a status
        return advance(current, CommandState(AckStatus(status).value))


def after_publish(current: CommandState) -> CommandState:
    """The broker accepted the command (PUBACK)."""
    return advance(current, CommandState.SENT)


def after_deadline(current: CommandState) -> CommandState:
    """The command can no longer have played, and no final answer came."""
    return advance(current, CommandState.EXPIRED)


_AFTER_ACK = {
    (current, status): advance(current, CommandState(status.value))
    for current in CommandState
    for status in AckStatus
}
#: the stored text of the open states (for code that compares stored rows' states)
OPEN_TEXTS = frozenset(state.value for state in CommandState if state.open)
#: the stored text of the states every ack moves on from (pending, sent): a command still in
#: one has no ack stored, so the acks' record need not look for one (issue 15)
UNANSWERED_TEXTS = frozenset(
    current.value
    for current in CommandState
    if all(_AFTER_ACK[current, status] is not current for status in AckStatus)
)
