"""Command ids (docs/protocol.md "Identifiers"): UUIDs of version 7 (RFC 9562), in increasing
order.

An id is the milliseconds of the time the commands are issued (passed in: nothing here reads a
clock), a 42-bit counter and 32 random bits (RFC 9562 section 6.2, method 1, as CPython 3.14's
``uuid.uuid7`` lays them out). Within one process the ids only increase: the counter starts at
a random value below 2**41 at each new millisecond and counts up from there; a time earlier
than the last id's (a clock set back, an airing issued late) goes on from the last id. Ids of
two processes are told apart by the random counter start and the 32 random bits of each.

Why ordered (issue 15): the airing log indexes commands, their send attempts and their acks by
command id. Random ids (version 4, until 6 December 2026) put each new entry at a random place
in those indexes, so that each transaction of a big slot rewrote most of their pages; ordered
ids go at the end. A receiver reads an id as an opaque string, as before: both kinds match the
protocol's rule for a command id.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta

from ipfm_scheduler.errors import ValueInvalid

_COUNTER_BITS = 42  # 12 bits in rand_a, then the top 30 of rand_b
_COUNTER_MAX = (1 << _COUNTER_BITS) - 1
_VERSION_AND_VARIANT = (0x7 << 76) | (0b10 << 62)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_lock = threading.Lock()
_last = [-1, 0]  # this process's last id: its milliseconds and its counter


def new_command_ids(count: int, at: datetime) -> list[str]:
    """``count`` fresh command ids issued at ``at`` (an aware time), each greater than every
    id this process made before: lower case, with hyphens
    (``019af1c4-5e20-7a3c-9b12-3f4e5d6c7b8a``)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueInvalid("command ids need an aware time")  # i18n: internal
    ms = (at - _EPOCH) // _MS
    if not 0 <= ms < 1 << 48:
        raise ValueInvalid(f"no command id for a time in {at.year}")  # i18n: internal
    tails = os.urandom(4 * count)
    made: list[str] = []
    with _lock:
        last_ms, counter = _last
        for i in range(count):
            if ms > last_ms:
                last_ms, counter = ms, _fresh_counter()
            elif counter < _COUNTER_MAX:
                counter += 1
            else:  # 2**41 ids or more in one millisecond: the next millisecond
                last_ms, counter = last_ms + 1, _fresh_counter()
            tail = int.from_bytes(tails[4 * i : 4 * i + 4], "big")
            value = (last_ms << 80) | _VERSION_AND_VARIANT | tail
            value |= ((counter >> 30) << 64) | ((counter & 0x3FFF_FFFF) << 32)
            h = f"{value:032x}"
            made.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
        _last[:] = [last_ms, counter]
    return made


def _fresh_counter() -> int:
    """A counter's start at a new millisecond: random, below 2**41 (room to count up)."""
    return int.from_bytes(os.urandom(6), "big") >> 7
