"""Range and conditional-request rules, as pure functions (RFC 9110)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipfm_scheduler.service.http.ranges import (
    ByteRange,
    RangeNotSatisfiable,
    byte_range,
    none_match,
    range_applies,
)


def test_no_header_means_the_whole_file() -> None:
    assert byte_range(None, 10) is None


def test_the_three_forms_of_a_single_range() -> None:
    assert byte_range("bytes=2-5", 10) == ByteRange(2, 5, 10)
    assert byte_range("bytes=7-", 10) == ByteRange(7, 9, 10)
    assert byte_range("bytes=-3", 10) == ByteRange(7, 9, 10)
    assert byte_range(" BYTES=0-0 ", 10) == ByteRange(0, 0, 10)


def test_an_empty_file_has_no_satisfiable_range() -> None:
    with pytest.raises(RangeNotSatisfiable):
        byte_range("bytes=0-", 0)
    with pytest.raises(RangeNotSatisfiable):
        byte_range("bytes=-5", 0)


@given(
    size=st.integers(min_value=1, max_value=10_000),
    first=st.integers(min_value=0, max_value=20_000),
    last=st.integers(min_value=0, max_value=20_000) | st.none(),
)
def test_a_satisfiable_range_always_lies_inside_the_file(
    size: int, first: int, last: int | None
) -> None:
    """Whatever the client asks, what is served lies within the file and is not empty."""
    header = f"bytes={first}-{'' if last is None else last}"
    try:
        found = byte_range(header, size)
    except RangeNotSatisfiable:
        assert first >= size
        return
    if found is None:  # an inverted range is ignored
        assert last is not None
        assert last < first
        return
    assert 0 <= found.first <= found.last < size
    assert found.length == found.last - found.first + 1 >= 1


def test_if_none_match_compares_weakly() -> None:
    etag = '"abc"'
    assert none_match('"abc"', etag)
    assert none_match('W/"abc"', etag)
    assert none_match('"x", "abc"', etag)
    assert none_match("*", etag)
    assert not none_match('"abd"', etag)
    assert not none_match(None, etag)


def test_if_range_needs_our_strong_etag() -> None:
    etag = '"abc"'
    assert range_applies(None, etag)
    assert range_applies('"abc"', etag)
    assert not range_applies('W/"abc"', etag)
    assert not range_applies("Fri, 27 Nov 2026 09:00:00 GMT", etag)
