"""HTTP conditional and range requests (RFC 9110 sections 13 and 14), as pure functions."""

from __future__ import annotations

import re
from dataclasses import dataclass

_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)", re.IGNORECASE)


class RangeNotSatisfiable(Exception):
    """The range starts past the end of the file (answer 416)."""


@dataclass(frozen=True, slots=True)
class ByteRange:
    """Bytes ``first`` to ``last`` inclusive, of a file of ``size`` bytes."""

    first: int
    last: int
    size: int

    @property
    def length(self) -> int:
        return self.last - self.first + 1

    @property
    def content_range(self) -> str:
        return f"bytes {self.first}-{self.last}/{self.size}"


def byte_range(header: str | None, size: int) -> ByteRange | None:
    """The single range a ``Range`` header asks for; ``None`` means the whole file.

    Handles ``bytes=a-b``, ``bytes=a-`` and ``bytes=-n``. A header that is malformed, uses
    another unit or asks for several ranges is ignored (the whole file is sent), as RFC 9110
    allows. Raises :class:`RangeNotSatisfiable` for a range that starts at or after the end.
    """
    if header is None:
        return None
    found = _RANGE.fullmatch(header.strip())
    if found is None:
        return None
    first_text, last_text = found.groups()
    if not first_text:
        if not last_text:
            return None
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable
        return ByteRange(max(0, size - suffix), size - 1, size)
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if last_text and last < first:
        return None
    if first >= size:
        raise RangeNotSatisfiable
    return ByteRange(first, min(last, size - 1), size)


def _tags(header: str) -> list[str]:
    return [t.strip() for t in header.split(",") if t.strip()]


def none_match(header: str | None, etag: str) -> bool:
    """``If-None-Match`` matches (weak comparison): the client's copy is current, answer 304."""
    if header is None:
        return False
    tags = _tags(header)
    return "*" in tags or etag.removeprefix("W/") in (t.removeprefix("W/") for t in tags)


def range_applies(if_range: str | None, etag: str) -> bool:
    """``If-Range``: honour ``Range`` only if the client's validator is our (strong) ETag.

    A date, a weak tag or another tag means the client holds another version: it gets the
    whole file.
    """
    return if_range is None or if_range.strip() == etag
