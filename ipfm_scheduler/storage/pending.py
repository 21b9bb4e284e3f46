"""Answers taken from the broker and not yet stored (issue 13, item 5: none lost to a database
error).

The broker forgets a QoS 1 message once we have acknowledged it, which paho does as soon as it
arrives. So an answer taken from the intake stays here, in order, until the airing log has
stored it: a batch the database refuses is offered again later (waiting 1 s, 2 s, 4 s ... up to
``retry_max``), and once the database has been failing for ``spill_after`` (or the answers
waiting in memory reach their bound), they go to the :class:`~.spill.SpillFile`, fsynced, and
are replayed from it, oldest first, when the database answers again or the service starts
again. Memory stays bounded: while the bound is reached and nothing can be spilled, nothing
more is taken from the intake (its own bound then applies, see ``transport/intake.py``).

Times are passed in (``now``): this reads no clock.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ipfm_scheduler.core.traffic import IncomingMessage
from ipfm_scheduler.errors import IpfmError
from ipfm_scheduler.i18n import _, ngettext
from ipfm_scheduler.storage.spill import Spilled, SpillFile

log = logging.getLogger(__name__)

MAX_COUNT = 20_000  # answers waiting in memory, at most
MAX_BYTES = 32 * 1024 * 1024  # ... and their bytes
SPILL_AFTER = timedelta(seconds=10)
RETRY_MAX = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class Batch:
    """Answers to store together, all taken from the broker at ``at`` (store them as received
    then). ``spill_end``: where the spill file's replay stands once they are stored."""

    at: datetime
    messages: list[IncomingMessage] = field(default_factory=list)
    spill_end: int | None = None


class PendingAnswers:
    """The answers between the broker's intake (``take``) and the airing log."""

    def __init__(
        self,
        take: Callable[[int], list[IncomingMessage]],
        spill: SpillFile | None = None,
        *,
        max_count: int = MAX_COUNT,
        max_bytes: int = MAX_BYTES,
        spill_after: timedelta = SPILL_AFTER,
        retry_max: timedelta = RETRY_MAX,
    ) -> None:
        self._take = take
        self.spill = spill
        self.max_count = max_count
        self.max_bytes = max_bytes
        self.spill_after = spill_after
        self.retry_max = retry_max
        self._memory: deque[Spilled] = deque()
        self._bytes = 0
        self._failing_since: datetime | None = None
        self._failures = 0
        self._retry_at: datetime | None = None
        self.spilled = 0  # answers written to the spill file, in all
        self.lost = 0  # answers neither stored nor spilled (no spill file, or it was full)

    @property
    def waiting(self) -> int:
        """Answers waiting in memory."""
        return len(self._memory)

    @property
    def spilled_bytes(self) -> int:
        return 0 if self.spill is None else self.spill.size

    # ---------------------------------------------------------------- taking

    def take(self, limit: int, now: datetime) -> Batch:
        """Take what arrived, and the next answers to store (none while waiting to retry):
        the spill file's first, then memory's, oldest first, all received at the same time."""
        self._pull(now)
        if self._retry_at is not None and now < self._retry_at:
            return Batch(now)
        if self.spill is not None and self.spill.pending:
            return self._from_spill(limit, now)
        messages: list[IncomingMessage] = []
        at = self._memory[0].at if self._memory else now
        for item in self._memory:
            if len(messages) >= limit or item.at != at:
                break
            messages.append(item.message)
        return Batch(at, messages)

    def _from_spill(self, limit: int, now: datetime) -> Batch:
        assert self.spill is not None
        items = self.spill.read(limit)
        if not items:
            return Batch(now)
        at = items[0][0].at
        same = _prefix(items, lambda i: i[0].at == at)  # up to the first of another time
        return Batch(at, [i.message for i, _end in same], same[-1][1])

    def _pull(self, now: datetime) -> None:
        room = self.max_count - len(self._memory)
        if (room <= 0 or self._bytes >= self.max_bytes) and self._failing_since is not None:
            self.set_aside(now)  # the database is down and memory is full: to the file
            room = self.max_count - len(self._memory)
        if room <= 0 or self._bytes >= self.max_bytes:
            return  # the intake keeps them (and bounds them) until there is room
        for message in self._take(room):
            self._memory.append(Spilled(now, message))
            self._bytes += _weight(message)

    # ---------------------------------------------------------------- the outcome

    def done(self, batch: Batch) -> None:
        """``batch`` is stored: forget it."""
        if batch.spill_end is not None and self.spill is not None:
            self.spill.consume(batch.spill_end)
        else:
            for _message in batch.messages:
                self._bytes -= _weight(self._memory.popleft().message)
        if self._failing_since is not None:
            log.info(_("the airing log takes answers again (%d waiting in memory, %d bytes in "
                       "the spill file)"), len(self._memory), self.spilled_bytes)  # fmt: skip
        self._failing_since, self._failures, self._retry_at = None, 0, None

    def failed(self, now: datetime) -> None:
        """The airing log refused the last batch: keep it, try again later; spill what waits
        in memory once the database has been failing for ``spill_after``."""
        self._failures += 1
        self._failing_since = self._failing_since or now
        wait = min(timedelta(seconds=2 ** min(self._failures - 1, 16)), self.retry_max)
        self._retry_at = now + wait
        if now - self._failing_since >= self.spill_after:
            self.set_aside(now)

    def set_aside(self, now: datetime) -> int:
        """Write what waits in memory to the spill file (at stop, or while the database is
        down); returns how many answers were written."""
        if not self._memory or self.spill is None:
            return 0  # without a file they stay in memory (bounded: the intake holds the rest)
        items = list(self._memory)
        written = 0
        try:
            written = self.spill.append(items)
        except IpfmError as exc:
            log.error(_("answers could not be set aside: %s; %d kept in memory"), exc, len(items))
            return 0
        self.spilled += written
        self._memory.clear()
        self._bytes = 0
        if written < len(items):
            self._lose(len(items) - written, _("{path} is full").format(path=self.spill.path))
        return written

    def _lose(self, count: int, why: str) -> None:
        self.lost += count
        log.error(ngettext("%d answer received from receivers is lost (%s): receivers repeat "
                           "their latest ack when their command is sent again",
                           "%d answers received from receivers are lost (%s): receivers repeat "
                           "their latest ack when their command is sent again",
                           count), count, why)  # fmt: skip

    def stop(self, now: datetime) -> int:
        """The service stops: whatever is left in the intake and in memory goes to the file,
        replayed at the next start; returns how many."""
        if self.spill is None:
            left = len(self._memory) + len(self._take(self.max_count))
            if left:
                self._lose(left, _("no spill file"))
            self._memory.clear()
            self._bytes = 0
            return 0
        while True:
            before = len(self._memory)
            self._pull(now)
            if len(self._memory) == before:
                break
            if len(self._memory) >= self.max_count or self._bytes >= self.max_bytes:
                self.set_aside(now)
        return self.set_aside(now)


def _weight(message: IncomingMessage) -> int:
    return len(message.payload) + len(message.topic) + 64


def _prefix(
    items: list[tuple[Spilled, int]], keep: Callable[[tuple[Spilled, int]], bool]
) -> list[tuple[Spilled, int]]:
    out: list[tuple[Spilled, int]] = []
    for item in items:
        if not keep(item):
            break
        out.append(item)
    return out
