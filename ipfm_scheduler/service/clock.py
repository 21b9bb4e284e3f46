"""The service's only source of the current time.

Nothing else in the service reads the clock: jobs ask a :class:`Clock` and pass ``now`` down, so
tests drive time with a :class:`ManualClock` instead of sleeping.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

from ipfm_scheduler.errors import ValueInvalid


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to (tests). Thread-safe."""

    def __init__(self, start: datetime) -> None:
        self._now = _utc(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = _utc(moment)

    def advance(self, delta: timedelta | float) -> datetime:
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        with self._lock:
            self._now += step
            return self._now


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueInvalid("a clock keeps aware datetimes only")
    return moment.astimezone(UTC)
