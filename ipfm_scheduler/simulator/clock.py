"""Clocks for the simulator: the real one, and one that tests move by hand."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant (timezone-aware)."""

    def seconds_until(self, moment: datetime) -> float | None:
        """Real seconds to wait for ``moment``; ``None``: wait until told the time moved."""

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (no I/O) whenever the time jumps (a manual clock moved)."""


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def seconds_until(self, moment: datetime) -> float | None:
        return max(0.0, (moment - self.now()).total_seconds())

    def add_listener(self, callback: Callable[[], None]) -> None:
        """The real clock never jumps: nothing to tell."""


class ManualClock:
    """A clock that only moves when a test says so (``advance``/``set``)."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def seconds_until(self, moment: datetime) -> float | None:
        return 0.0 if moment <= self.now() else None

    def add_listener(self, callback: Callable[[], None]) -> None:
        self._listeners.append(callback)

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment
        for callback in list(self._listeners):
            callback()

    def advance(self, delta: timedelta) -> None:
        self.set(self.now() + delta)
