"""SIGTERM/SIGINT (stop) and SIGHUP (reload) for the daemon: the handlers only set a flag.

A socketpair given to ``signal.set_wakeup_fd`` wakes the daemon's main loop at once, so it can
wait with a timeout (to feed the watchdog) without missing a signal.
"""

from __future__ import annotations

import contextlib
import select
import signal
import socket
from types import FrameType


class Signals:
    """SIGTERM/SIGINT ask to stop, SIGHUP to reload. Handlers only set a flag; the wakeup fd lets
    the main loop notice at once."""

    def __init__(self) -> None:
        self.stop = False
        self.reload = False
        self._read, self._write = socket.socketpair()
        for end in (self._read, self._write):
            end.setblocking(False)

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)
        signal.set_wakeup_fd(self._write.fileno(), warn_on_full_buffer=False)

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stop = True

    def _on_reload(self, signum: int, frame: FrameType | None) -> None:
        self.reload = True

    def request_stop(self) -> None:
        self.stop = True
        self._wake()

    def request_reload(self) -> None:
        self.reload = True
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError):
            self._write.send(b"\0")

    def wait(self, timeout: float) -> None:
        """Return after ``timeout`` seconds, or at once when a signal arrives."""
        readable, _, _ = select.select([self._read], [], [], timeout)
        if readable:
            try:
                while self._read.recv(512):
                    pass
            except BlockingIOError:
                pass
