"""The bounded queue between paho's network thread and the program (issue 13, item 4: hostile
traffic never grows memory).

* A message larger than ``max_payload`` (no answer of the protocol is: 16 KiB) is cut at once,
  in paho's thread: its first ``keep_bytes``, its size and its sha256 go on; the rest is let go
  before it is ever queued.
* The queue holds at most ``max_count`` messages and ``max_bytes`` bytes (payloads and topics).
* When it is full, a *precious* message (for the service: an ack, which paho has already
  acknowledged to the broker, so the broker will not send it again) makes paho's thread wait,
  up to ``block_s``, for the program to take some: paho then reads nothing more from its
  socket, so the broker holds what follows (back-pressure). The time spent waiting is counted
  (``blocked_s``). A message that still does not fit, or any other message (statuses, junk)
  when the queue is full, is dropped and counted (``dropped``): a status is said again, and a
  receiver repeats its latest ack when its command is sent again.

The wait is bounded so that paho still answers the broker's keep-alive (30 s): a thread
blocked longer would have the connection dropped, and with it every message the broker held.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ipfm_scheduler.i18n import ngettext

log = logging.getLogger(__name__)

MAX_COUNT = 10_000
MAX_BYTES = 16 * 1024 * 1024
MAX_PAYLOAD = 16 * 1024  # the protocol's MAX_PAYLOAD_BYTES: nothing larger is an answer
KEEP_BYTES = 1024  # as the quarantine keeps (storage/repeats.py)
BLOCK_S = 2.0
OVERHEAD = 64  # bytes counted per message beyond its payload and topic
DROP_LOG_S = 60.0  # a line about dropped messages at most this often


@dataclass(frozen=True, slots=True)
class Incoming:
    """A message the broker delivered to us. When it was larger than the intake keeps,
    ``payload`` is its first bytes, ``size`` its size as received and ``sha256`` the digest of
    the whole (None both for a message kept whole)."""

    topic: str
    payload: bytes = field(repr=False)
    retain: bool  # True for a retained message replayed on subscribe (e.g. an old status)
    qos: int
    size: int | None = None
    sha256: str | None = None


def _everything(_topic: str) -> bool:
    return True


class Intake:
    """Thread-safe: ``put`` from paho's thread; ``get``/``get_nowait`` (as ``queue.Queue``'s,
    raising ``queue.Empty``) from the program's."""

    def __init__(
        self,
        *,
        max_count: int = MAX_COUNT,
        max_bytes: int = MAX_BYTES,
        max_payload: int = MAX_PAYLOAD,
        keep_bytes: int = KEEP_BYTES,
        block_s: float = BLOCK_S,
        precious: Callable[[str], bool] = _everything,
    ) -> None:
        self.max_count = max_count
        self.max_bytes = max_bytes
        self.max_payload = max_payload
        self.keep_bytes = keep_bytes
        self.block_s = block_s
        self.precious = precious
        self._items: deque[tuple[Incoming, int]] = deque()
        self._bytes = 0
        self._cond = threading.Condition()
        self.dropped = 0  # messages let go because the queue was full
        self.cut = 0  # messages larger than max_payload, kept cut short
        self.blocked_s = 0.0  # time paho's thread waited for room
        self._drop_logged = 0.0
        self._drops_unlogged = 0

    # ---------------------------------------------------------------- paho's side

    def put(self, message: Incoming) -> bool:
        """Queue ``message`` (cut short if too large); False if it was dropped."""
        message = self._shortened(message)
        weight = len(message.payload) + len(message.topic) + OVERHEAD
        with self._cond:
            if not self._fits(weight) and self.precious(message.topic):
                started = time.monotonic()
                deadline = started + self.block_s
                while not self._fits(weight) and (left := deadline - time.monotonic()) > 0:
                    self._cond.wait(left)
                self.blocked_s += time.monotonic() - started
            if not self._fits(weight):
                self._dropped(message.topic)
                return False
            self._items.append((message, weight))
            self._bytes += weight
            self._cond.notify_all()
            return True

    def _fits(self, weight: int) -> bool:
        if not self._items:
            return True  # one message always fits: its payload is bounded by max_payload
        return len(self._items) < self.max_count and self._bytes + weight <= self.max_bytes

    def _shortened(self, message: Incoming) -> Incoming:
        payload = message.payload
        if len(payload) <= self.max_payload or message.size is not None:
            return message
        self.cut += 1
        return Incoming(
            message.topic,
            payload[: self.keep_bytes],
            message.retain,
            message.qos,
            size=len(payload),
            sha256=hashlib.sha256(payload).hexdigest(),
        )

    def _dropped(self, topic: str) -> None:
        self.dropped += 1
        self._drops_unlogged += 1
        now = time.monotonic()
        if now - self._drop_logged >= DROP_LOG_S:
            log.warning(ngettext("the intake is full (%d messages, %d bytes): %d message "
                                 "dropped since the last line, %d in all (the last on %.120s)",
                                 "the intake is full (%d messages, %d bytes): %d messages "
                                 "dropped since the last line, %d in all (the last on %.120s)",
                                 self._drops_unlogged),
                        len(self._items), self._bytes, self._drops_unlogged, self.dropped,
                        topic)  # fmt: skip
            self._drop_logged, self._drops_unlogged = now, 0

    # ---------------------------------------------------------------- the program's side

    def get(self, block: bool = True, timeout: float | None = None) -> Incoming:
        with self._cond:
            if block and not self._items:
                self._cond.wait_for(lambda: bool(self._items), timeout)
            if not self._items:
                raise queue.Empty
            message, weight = self._items.popleft()
            self._bytes -= weight
            self._cond.notify_all()
            return message

    def get_nowait(self) -> Incoming:
        return self.get(block=False)

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    @property
    def queued_bytes(self) -> int:
        return self._bytes
