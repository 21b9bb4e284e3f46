"""The service's malloc arenas (``service.systemd.limit_arenas``, issue 15's memory): at most
two, however many threads allocate at once, unless the operator set MALLOC_ARENA_MAX. Each case
runs in a fresh Python process (arenas are the process's own); glibc's ``malloc_stats()`` lists
them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from ipfm_scheduler.service import systemd

# eight threads that allocate C-heap blocks (bytes over pymalloc's 512) at the same moment, for
# a while, then glibc's own list of its arenas on stderr
_SCRIPT = textwrap.dedent(
    """
    import ctypes, sys, threading
    from ipfm_scheduler.service import systemd
    print(systemd.limit_arenas() if sys.argv[1] == "limit" else "-")
    start = threading.Barrier(8)
    def churn():
        start.wait()
        kept = []
        for i in range(20000):
            kept.append(bytes(600 + i % 400))
            if len(kept) > 500:
                kept.clear()
    threads = [threading.Thread(target=churn) for _ in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    ctypes.CDLL("libc.so.6").malloc_stats()
    """
)

glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
    reason="glibc's malloc",
)


def arenas(mode: str, **env: str) -> tuple[str, int]:
    clean = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    done = subprocess.run([sys.executable, "-c", _SCRIPT, mode], env={**clean, **env},
                          capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    return done.stdout.strip(), done.stderr.count("Arena ")


@glibc
def test_eight_threads_allocating_at_once_share_two_arenas():
    said, count = arenas("limit")
    assert said == "True"
    assert 1 <= count <= systemd.MALLOC_ARENAS


@glibc
def test_without_the_limit_the_same_threads_take_more_arenas():
    """The case above would prove nothing if these threads never took more than two."""
    said, count = arenas("none")
    assert said == "-"
    assert count > systemd.MALLOC_ARENAS


@glibc
def test_the_operators_malloc_arena_max_is_left_as_it_is():
    said, count = arenas("limit", MALLOC_ARENA_MAX="4")
    assert said == "False"
    assert systemd.MALLOC_ARENAS < count <= 4
