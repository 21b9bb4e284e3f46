"""The service's SQLite checkpoints, on a thread of their own.

In WAL mode every commit appends to the ``-wal`` file, and SQLite copies it back into the
database (a checkpoint, with an fsync) in the commit that finds the file past
``wal_autocheckpoint`` pages (1,000 by default): the service's own thread then waits for that
copy before it goes on publishing. :class:`Checkpointer` raises that bound of the engine's
connections to :data:`FALLBACK_PAGES` (a safety net: they checkpoint themselves only if its
thread falls behind), and checkpoints every :data:`EVERY_S` instead, without locking out writers
(``PASSIVE``). What was committed stays as durable as before: the checkpoint only
moves it from one file to the other. Readers (``status``, ``report``) see the same data either
way.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from ipfm_scheduler.i18n import _
from ipfm_scheduler.storage.db import sqlite_file

log = logging.getLogger(__name__)

EVERY_S = 1.0
#: ``wal_autocheckpoint`` of the service's connections while this thread checkpoints for them
FALLBACK_PAGES = 16_384  # 64 MB of 4 KiB pages


class Checkpointer:
    """Checkpoints the SQLite file of ``engine`` every ``every`` seconds until :meth:`stop`;
    from its making on, the engine's connections leave checkpoints to it (up to
    :data:`FALLBACK_PAGES`)."""

    def __init__(self, engine: Engine, every: float = EVERY_S) -> None:
        if sqlite_file(engine.url) is None:
            raise ValueError("checkpoints are for an SQLite file")  # i18n: internal
        self.engine = engine
        self.every = every
        self.done = 0  # checkpoints run
        self.ran = threading.Event()  # set after each checkpoint (tests wait on it)
        event.listen(engine, "connect", _leave_checkpoints)
        engine.dispose()  # the connections opened before (idle in the pool) are made again
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ipfm-checkpoint", daemon=True)

    def start(self) -> Checkpointer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop, after one last checkpoint."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        connection: Any = None
        try:
            connection = self.engine.raw_connection()
            while not self._stop.wait(self.every):
                self.checkpoint(connection)
            self.checkpoint(connection)
        except (SQLAlchemyError, sqlite3.Error) as exc:  # the commits checkpoint themselves
            log.warning(
                _(
                    "SQLite: the checkpoints on their own thread stopped (%s); the commits make "
                    "them again, past %d pages of WAL"
                ),
                exc,
                FALLBACK_PAGES,
            )
        finally:
            if connection is not None:
                connection.close()

    def checkpoint(self, connection: Any) -> None:
        """One checkpoint, as far as readers allow, outside any transaction (the raw driver
        connection: SQLAlchemy would begin one)."""
        try:
            connection.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:  # a locked or vanished file: tried again next time
            log.debug("SQLite checkpoint failed", exc_info=True)  # i18n: internal
            return
        self.done += 1
        self.ran.set()


def _leave_checkpoints(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute(f"PRAGMA wal_autocheckpoint={FALLBACK_PAGES}")
