"""The PUBACKs of a big send recorded on a thread of their own, while the sender goes on (used on
PostgreSQL).

On PostgreSQL the service waited on the server for about 40 % of a 100,000-receiver slot, 14 %
on the PUBACKs' records alone (issue 15, docs/service.md): the dispatching thread sat idle while
the server wrote. :class:`Aside` hands each batch of PUBACKs to one worker thread, in order, and
returns at once, so that publishing, storing the next batch and reading answers go on meanwhile.
SQLite has one writer at a time, so there the sender records them itself, as before.

What stays as it was:

* **in order**: one worker, batches written in the order they were handed over;
* **bounded**: at most ``bound`` PUBACKs wait for the worker; past that, :meth:`Aside.put` waits
  for the oldest batches to be written;
* **drained** before anything reads or writes what these records change: the sender drains at
  the end of each step and before it asks which commands to (re)send (a command whose PUBACK is
  not written yet would look unsent), and the dispatcher before it records answers (so that an
  ack's transaction and a PUBACK's never lock the same commands at the same time);
* **a failure loses nothing that matters**: a batch the database refused is said in the log, and
  its commands, still recorded as not sent, are sent again (the same bytes), as when the sender
  recorded them itself and the step failed.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

from ipfm_scheduler.errors import IpfmError
from ipfm_scheduler.i18n import ngettext
from ipfm_scheduler.service.ports import SendResult

log = logging.getLogger(__name__)

BOUND = 20_000  # PUBACKs handed over and not yet written, at most (~10 flushes of a big send)

Record = Callable[[Sequence[SendResult], datetime], None]


class Aside:
    """One worker thread writing batches of send results through ``record``, in order."""

    def __init__(self, record: Record, *, bound: int = BOUND) -> None:
        self._record = record
        self.bound = bound
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ipfm-pubacks")
        self._queued: deque[tuple[Future[None], int]] = deque()
        self.waiting = 0  # results handed over and not yet written (or failed)

    def put(self, results: Sequence[SendResult], now: datetime) -> None:
        """Hand ``results`` (as of ``now``) to the worker; returns once at most ``bound`` wait."""
        if not results:
            return
        self._queued.append((self._pool.submit(self._record, results, now), len(results)))
        self.waiting += len(results)
        while self._queued and (self.waiting > self.bound or self._queued[0][0].done()):
            self._settle_oldest()

    def drain(self) -> None:
        """Wait until every batch handed over is written (or has failed, and said so)."""
        while self._queued:
            self._settle_oldest()

    def close(self) -> None:
        """Drain, then stop the worker thread."""
        self.drain()
        self._pool.shutdown(wait=True)

    def _settle_oldest(self) -> None:
        future, count = self._queued.popleft()
        self.waiting -= count
        try:
            future.result()
        except IpfmError as exc:
            log.warning(ngettext(
                "the PUBACK of %d command was not recorded (%s): it will be sent again",
                "the PUBACKs of %d commands were not recorded (%s): they will be sent again",
                count), count, exc)  # fmt: skip
        except Exception:  # a bug: said with its trace, the send goes on
            log.exception(ngettext(
                "the PUBACK of %d command was not recorded because of the error below",
                "the PUBACKs of %d commands were not recorded because of the error below",
                count), count)  # fmt: skip
