"""What the service manager tells the service, and what it tells the manager.

Signals: SIGTERM/SIGINT (stop) and SIGHUP (reload); the handlers only set a flag. A socketpair
given to ``signal.set_wakeup_fd`` wakes the daemon's main loop at once, so it can wait with a
timeout (to feed the watchdog) without missing a signal.

sd_notify(3) over ``$NOTIFY_SOCKET``: READY, STOPPING, RELOADING, STATUS and the watchdog.

A datagram to a Unix socket; no dependency needed. Outside systemd (no ``$NOTIFY_SOCKET``) every
call does nothing and returns False. A manager that does not read its socket (its queue holds
only ``net.unix.max_dgram_qlen`` datagrams, 10 by default) never holds the service up: a send
waits at most ``timeout`` seconds, then the message is dropped with one WARNING per outage.

And the process's allocator and garbage collector, set before its threads start
(:func:`limit_arenas`, :func:`collect_less`).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
import logging
import os
import select
import signal
import socket
import time
from collections.abc import Mapping
from types import FrameType

from ipfm_scheduler.i18n import _

log = logging.getLogger(__name__)


class Notifier:
    """Sends state changes to the service manager named by ``$NOTIFY_SOCKET``."""

    def __init__(self, address: str | None = None, timeout: float = 0.5) -> None:
        self.address = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        self.timeout = timeout
        self._failing = False

    @property
    def enabled(self) -> bool:
        return bool(self.address)

    def notify(self, *fields: str) -> bool:
        """Send ``KEY=VALUE`` fields in one datagram; False if there is no manager or it fails."""
        if not self.address:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.settimeout(self.timeout)
                sock.sendto("\n".join(fields).encode(), target)
        except OSError as exc:  # TimeoutError too: the manager's queue is full
            if not self._failing:
                log.warning(_("could not notify systemd at %s: %s"), self.address, exc)
            self._failing = True
            return False
        self._failing = False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def reloading(self) -> bool:
        monotonic_us = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify("RELOADING=1", f"MONOTONIC_USEC={monotonic_us}")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")


def watchdog_interval(env: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """How often to feed the watchdog (half of ``WatchdogSec``), in seconds; None when off.

    ``$WATCHDOG_PID``, when set, must be this process (as sd_watchdog_enabled(3) checks).
    """
    env = os.environ if env is None else env
    try:
        usec = int(env.get("WATCHDOG_USEC", "0"))
        owner = int(env.get("WATCHDOG_PID", "0"))
    except ValueError:
        return None
    if usec <= 0 or (owner and owner != (os.getpid() if pid is None else pid)):
        return None
    return usec / 2_000_000


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


MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # glibc's malloc.h


def limit_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """At most ``arenas`` malloc arenas from now on (glibc's ``mallopt(M_ARENA_MAX)``), called
    before the service's threads start. glibc gives a thread that finds the shared arena busy
    one of its own (up to eight per core), and memory freed into one arena is not reused from
    another; the service's threads (paho's loop, the timer, the jobs, the HTTP server, the
    SQLite checkpoints) free each other's buffers, so the process kept more than it used
    (issue 15: the peak RSS of a slot to 100,000 receivers, docs/service.md). Left alone where
    ``MALLOC_ARENA_MAX`` is set (the operator's word wins) and where the C library is not
    glibc (no ``mallopt``). True if set."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_ARENA_MAX, arenas))


#: Python's cyclic garbage collector: a collection of the young generation once this many more
#: container objects were made than freed (Python's default: 700); of the middle one after 10 of
#: those, of the oldest after 10 of the middle's (Python's defaults)
GC_THRESHOLDS = (10_000, 10, 10)


def collect_less(thresholds: tuple[int, int, int] = GC_THRESHOLDS) -> None:
    """Python's cyclic garbage collector runs less often (``gc.set_threshold``). What the
    service makes and drops (a slot's commands, answers, rows) is freed by reference counting
    as it goes, the collector or not; but at Python's default of 700 the collector ran about
    180 times a second through a slot to 100,000 receivers, each older collection walking
    everything alive that is not frozen (:func:`agenda.settle_heap`): 1.5 s of its CPU in a
    slot of 22 s (issue 15, docs/service.md). A cycle is still collected, after at most
    ``thresholds[0]`` new objects instead of 700."""
    gc.set_threshold(*thresholds)
