"""Flow control for QoS 1 publishing: the publishes that await the broker's PUBACK.

At most ``size`` of them at a time; each one's packet id (mid) is mapped to the caller's topic
and token until its PUBACK comes, including a PUBACK that arrives (on paho's network thread)
before the publishing thread has recorded its mid. No paho here: :mod:`mqtt` drives it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ipfm_scheduler.errors import PublishBusy


class PublishWindow:
    """The places of publishes awaiting PUBACK; thread-safe."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._cond = threading.Condition()
        self._pending: dict[int, tuple[str, object]] = {}  # mid -> (topic, token)
        self._early: set[int] = set()  # PUBACKs that beat the publisher to its bookkeeping
        self._reserved = 0  # publishes in progress or awaiting PUBACK

    @property
    def outstanding(self) -> int:
        with self._cond:
            return self._reserved

    def reserve(self, topic: str, timeout: float, usable: Callable[[], bool]) -> bool:
        """Take a place for a publish to ``topic``, waiting up to ``timeout`` for one.

        False (no place taken) when ``usable()`` is false, or becomes false while waiting;
        :class:`PublishBusy` when the window stayed full for ``timeout``.
        """
        with self._cond:
            if not usable():
                return False
            if not self._cond.wait_for(lambda: self._reserved < self.size or not usable(), timeout):
                raise PublishBusy(
                    f"{topic}: {self._reserved} publishes await the broker's acknowledgement "
                    f"(limit {self.size}) after {timeout:g} s; not sent"
                )
            if not usable():
                return False
            self._reserved += 1
            return True

    def release(self) -> None:
        """Give back a place whose publish was not sent."""
        with self._cond:
            self._reserved -= 1
            self._cond.notify_all()

    def sent(self, mid: int, topic: str, token: object) -> bool:
        """Record that the publish holding a place went out as ``mid``; True if its PUBACK had
        already come (the place is then free again)."""
        with self._cond:
            if mid in self._early:
                self._early.discard(mid)
                self._reserved -= 1
                self._cond.notify_all()
                return True
            self._pending[mid] = (topic, token)
            return False

    def acknowledged(self, mid: int) -> tuple[str, object] | None:
        """The PUBACK of ``mid`` came: its (topic, token), its place freed; None when the
        publisher has not recorded ``mid`` yet (:meth:`sent` will find it)."""
        with self._cond:
            entry = self._pending.pop(mid, None)
            if entry is None:
                self._early.add(mid)
                return None
            self._reserved -= 1
            self._cond.notify_all()
            return entry

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until no publish awaits its PUBACK; False if the timeout passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: self._reserved == 0, timeout)

    def wake(self) -> None:
        """Wake every publisher waiting for a place, to look again at whether it may publish."""
        with self._cond:
            self._cond.notify_all()
