"""Flow control for QoS 1 publishing: the publishes that await the broker's PUBACK.

At most ``size`` of them at a time; each one's packet id (mid) is mapped to the caller's topic
and token until its PUBACK comes, including a PUBACK that arrives (on paho's network thread)
before the publishing thread has recorded its mid. No paho here: :mod:`mqtt` drives it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from ipfm_scheduler.errors import PublishBusy


class PublishWindow:
    """The places of publishes awaiting PUBACK; thread-safe."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._cond = threading.Condition()
        self._pending: dict[int, tuple[str, object]] = {}  # mid -> (topic, token)
        self._early: set[int] = set()  # PUBACKs that beat the publisher to its bookkeeping
        self._dropped: set[int] = set()  # dropped at the gate before the publisher recorded them
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
            if mid in self._dropped:  # never written: no PUBACK will come
                self._dropped.discard(mid)
                self._reserved -= 1
                self._cond.notify_all()
                return False
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

    def forget(self, mid: int) -> None:
        """The publish ``mid`` was dropped before it was written (:class:`GatedPackets`): its
        place is freed, now or when the publisher records it; no PUBACK will come."""
        with self._cond:
            if self._pending.pop(mid, None) is None:
                self._dropped.add(mid)
                return
            self._reserved -= 1
            self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until no publish awaits its PUBACK; False if the timeout passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: self._reserved == 0, timeout)

    def wake(self) -> None:
        """Wake every publisher waiting for a place, to look again at whether it may publish."""
        with self._cond:
            self._cond.notify_all()


PUBLISH = 0x30  # the packet type of an MQTT PUBLISH, in the high nibble of its first byte
PUBACK = 0x40
#: at most this many bytes of packets handed to paho's write as one (one ``send``)
JOIN_BYTES = 65_536


class GatedPackets(deque[dict[str, Any]]):
    """paho's queue of packets to write, with a gate. paho's network thread takes each packet
    with ``popleft`` just before writing it; while ``gate()`` says no, a PUBLISH not begun yet
    is dropped there, never written, and ``dropped(mid)`` is told. So a service that no longer
    leads (service/lead.py) publishes nothing, not even what it handed to paho just before it
    was paused: those publishes would reach the broker when it resumes.

    Packets paho writes and then forgets (QoS 1 PUBLISHes, whose PUBACK paho awaits by their
    mid, and PUBACKs) are handed to it joined, up to ``JOIN_BYTES``: one ``send`` system call
    for many, where paho makes one a packet (a 100,000-receiver slot is 200,000 of them). To
    paho the joined packet is a PUBACK (after writing one it does nothing more); a part of it
    left unwritten is finished first, as any packet begun, but if the gate has closed
    meanwhile (a leader paused in the middle of its ``send``) only the PUBLISH begun is
    finished: the whole ones after it are dropped, and ``dropped`` told, as above."""

    def __init__(self, gate: Callable[[], bool], dropped: Callable[[int], None]) -> None:
        super().__init__()
        self.gate = gate
        self.dropped = dropped

    def popleft(self) -> dict[str, Any]:
        packet = self._next()  # IndexError when empty, as paho expects
        if not _joinable(packet):
            return packet
        parts, size = [packet], len(packet["packet"])
        while size < JOIN_BYTES:
            try:
                more = self._next()
            except IndexError:
                break
            if not _joinable(more):
                self.appendleft(more)
                break
            parts.append(more)
            size += len(more["packet"])
        if len(parts) == 1:
            return packet
        joined = b"".join(p["packet"] for p in parts)
        return {"command": PUBACK, "mid": 0, "qos": 0, "pos": 0, "to_process": len(joined),
                "packet": joined, "info": None, "parts": parts}  # fmt: skip

    def _next(self) -> dict[str, Any]:
        while True:
            packet = super().popleft()
            if packet["pos"] and "parts" in packet and not self.gate():
                return _cut(packet, self.dropped)
            if packet["command"] & 0xF0 != PUBLISH or packet["pos"] or self.gate():
                return packet
            self.dropped(packet["mid"])


def _cut(joined: dict[str, Any], dropped: Callable[[int], None]) -> dict[str, Any]:
    """A joined packet begun while the gate was open, now closed: the part begun is finished
    (else the stream breaks), and every PUBLISH after it dropped (the PUBACKs are kept)."""
    kept, start = [], 0
    for part in joined["parts"]:
        begun = start < joined["pos"]  # written whole, or in part
        start += len(part["packet"])
        if begun or part["command"] & 0xF0 != PUBLISH:
            kept.append(part)
        else:
            dropped(part["mid"])
    data = b"".join(p["packet"] for p in kept)
    return {**joined, "packet": data, "to_process": len(data) - joined["pos"], "parts": kept}


def _joinable(packet: dict[str, Any]) -> bool:
    """Not begun, and nothing for paho to do once written: a QoS 1 PUBLISH or a PUBACK."""
    kind = packet["command"] & 0xF0
    return not packet["pos"] and (kind == PUBACK or (kind == PUBLISH and packet["qos"] > 0))
