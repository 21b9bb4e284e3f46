"""Which of the services sharing one PostgreSQL database leads (issue 17): pure decisions.

The database holds one lease row: the leader's epoch, who it is, and until when the lease runs
(on the database's clock, the one clock every machine shares). The leader renews it often; a
standby looks as often, and takes the lease, with the next epoch, once it has run out. The
leader trusts its lease for less than its length, measured on its own monotonic clock from the
moment it *asked* for the renewal (:class:`LeaseTrust`): a leader paused (SIGSTOP, a stalled
VM) or cut off from the database stops publishing before a standby can take over. Storing is
fenced in the database itself: every store checks the epoch in its own transaction
(storage/lease.py).

Timing, for ``takeover_s`` = T (:class:`LeaseTimes`): the lease lasts 0.6 T, the leader renews
and a standby looks every 0.2 T, the leader trusts a renewal for 0.5 T. A leader that dies just
after renewing is replaced at most 0.6 T + 0.2 T (+ one round trip) later: within T.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Role(StrEnum):
    LEADER = "leader"
    STANDBY = "standby"
    SOLE = "sole"  # SQLite: one service, no lease (a second one is refused)


class Move(StrEnum):
    """What a service does with the lease it finds."""

    RENEW = "renew"  # it holds it: extend it
    TAKE = "take"  # none, or it ran out: take it with the next epoch
    WAIT = "wait"  # another holds it: stay on standby


@dataclass(frozen=True, slots=True)
class LeaseTimes:
    """The lease's timing for a takeover within ``takeover_s`` seconds."""

    takeover_s: float = 15.0

    def __post_init__(self) -> None:
        if not self.takeover_s > 0:
            raise ValueError(
                f"takeover_s must be positive, not {self.takeover_s}"
            )  # i18n: internal

    @property
    def length(self) -> timedelta:
        """How long a renewal extends the lease (from the database's now)."""
        return timedelta(seconds=0.6 * self.takeover_s)

    @property
    def every_s(self) -> float:
        """How often the leader renews and a standby looks."""
        return 0.2 * self.takeover_s

    @property
    def trust_s(self) -> float:
        """How long the leader trusts a renewal, from the moment it asked (monotonic)."""
        return 0.5 * self.takeover_s


@dataclass(frozen=True, slots=True)
class Lease:
    """The lease row as read: who leads since when, until when (database time)."""

    epoch: int
    instance_id: int
    host: str
    pid: int
    since: datetime
    expires_at: datetime

    def expired(self, db_now: datetime) -> bool:
        return db_now >= self.expires_at


def next_move(lease: Lease | None, me: int, db_now: datetime) -> Move:
    """What service ``me`` (its instance id) does with ``lease`` at ``db_now``.

    The holder renews even a lease that has run out: nobody took it, so nobody else has stored
    or published under another epoch meanwhile."""
    if lease is None:
        return Move.TAKE
    if lease.instance_id == me:
        return Move.RENEW
    if lease.expired(db_now):
        return Move.TAKE
    return Move.WAIT


def taken(
    lease: Lease | None, me: tuple[int, str, int], db_now: datetime, length: timedelta
) -> Lease:
    """The lease ``me`` (instance id, host, pid) takes over ``lease`` at ``db_now``."""
    epoch = 1 if lease is None else lease.epoch + 1
    instance_id, host, pid = me
    return Lease(epoch, instance_id, host, pid, db_now, db_now + length)


def takeover_reason(previous: Lease | None, db_now: datetime) -> str:
    """Why the lease changed hands, for the record: ``first``, ``released`` (the leader stopped
    cleanly and gave it up) or ``expired`` (it died, hung or lost the database)."""
    if previous is None:
        return "first"
    if previous.expires_at <= previous.since:
        return "released"
    return "expired"


@dataclass(frozen=True, slots=True)
class LeaseTrust:
    """The leader's own view of its lease: epoch ``epoch`` is trusted until ``until`` on the
    monotonic clock. A paused process finds it over when it resumes (the monotonic clock runs
    on while a process is stopped)."""

    epoch: int
    until: float

    @classmethod
    def after_renewal(cls, epoch: int, asked_at: float, times: LeaseTimes) -> LeaseTrust:
        """The trust a renewal asked for at ``asked_at`` (monotonic) gives."""
        return cls(epoch, asked_at + times.trust_s)

    def holds(self, monotonic_now: float) -> bool:
        return monotonic_now < self.until


def role_of(trust: LeaseTrust | None, monotonic_now: float) -> Role:
    return Role.LEADER if trust is not None and trust.holds(monotonic_now) else Role.STANDBY
