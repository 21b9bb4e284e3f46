"""The only source of the current time, for the service and the simulated receivers.

Nothing else reads the clock: a job asks a :class:`Clock` and passes ``now`` down, so tests drive
time with a :class:`ManualClock` instead of sleeping. (The interface the service depends on is
``service.ports.Clock``; these are its two implementations.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from ipfm_scheduler.errors import ValueInvalid
from ipfm_scheduler.i18n import _


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...

    def seconds_until(self, moment: datetime) -> float | None:
        """Real seconds to wait for ``moment``; ``None``: wait until told the time moved."""
        ...

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (no I/O) whenever the time jumps (a manual clock moved)."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def seconds_until(self, moment: datetime) -> float | None:
        """Real seconds to wait for ``moment``."""
        return max(0.0, (moment - self.now()).total_seconds())

    def add_listener(self, callback: Callable[[], None]) -> None:
        """The real clock never jumps: nothing to tell."""


class ManualClock:
    """A clock that moves only when a test says so (``set``/``advance``). Thread-safe."""

    def __init__(self, start: datetime) -> None:
        self._now = _utc(start)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def seconds_until(self, moment: datetime) -> float | None:
        """0 once ``moment`` has come; ``None``: wait until told the time moved."""
        return 0.0 if moment <= self.now() else None

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (no I/O) whenever the time moves."""
        self._listeners.append(callback)

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = _utc(moment)
        for callback in list(self._listeners):
            callback()

    def advance(self, delta: timedelta | float) -> datetime:
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        with self._lock:
            moment = self._now + step
        self.set(moment)
        return moment


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueInvalid(_("a clock keeps aware datetimes only"))
    return moment.astimezone(UTC)
