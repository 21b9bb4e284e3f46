"""The C library's memory allocator, set for a long-running service with several threads.

glibc's malloc gives a thread that finds the shared arena busy an arena of its own, up to eight
per core. The service's threads (paho's network loop, the timer, the jobs, the HTTP server, the
SQLite checkpoints) allocate and free each other's buffers: a command's bytes, an ack's
payload. Memory freed into one thread's arena is not reused by the others, and the process
keeps more than it uses (issue 15: the peak RSS of a slot to 100,000 receivers,
docs/service.md). Two arenas are enough for one process that Python's lock serialises.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

ARENAS = 2
_M_ARENA_MAX = -8  # glibc's malloc.h


def limit_arenas(arenas: int = ARENAS) -> bool:
    """At most ``arenas`` malloc arenas from now on (glibc's ``mallopt(M_ARENA_MAX)``), before
    the service's threads start. Left alone where ``MALLOC_ARENA_MAX`` is set (the operator's
    word wins) and where the C library is not glibc (no ``mallopt``). True if set."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(_M_ARENA_MAX, arenas))
