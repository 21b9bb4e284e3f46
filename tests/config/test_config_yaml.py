"""YAML is read as people mean it: syntax mistakes in plain words with their line, no implicit
typing, no aliases; and every HH:MM text, quoted or not, is that time of day."""

from __future__ import annotations

from datetime import time
from typing import TYPE_CHECKING

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ipfm_scheduler.config import nodes
from ipfm_scheduler.config.kinds import TIME
from ipfm_scheduler.config.reader import INVALID, FileReader

if TYPE_CHECKING:
    from tests.config.conftest import Station

F = "wards/cam-trung.yaml"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "  - id: loa-01",
            "\t- id: loa-01",
            "4:1: a tab character is used here; YAML files must be indented with spaces only "
            "(replace the tab with spaces)",
        ),
        (
            "name: Phường Cẩm Trung",
            'name: "Phường Cẩm Trung',
            "2:7: the quote opened at line 2, column 7 is never closed",
        ),
        (
            '    from: "17:00"',
            '   from: "17:00"',
            "11:4: the indentation of this line does not match the lines above it (the block "
            "that starts at line 7, column 3)",
        ),
        (
            "name: Phường Cẩm Trung",
            "  name: Phường Cẩm Trung",
            "2:7: a ':' appears where none is allowed: check this line's indentation, or put a "
            "text that contains ': ' in quotes",
        ),
        (
            "airings:\n",
            "airings\n",
            "13:1: this line has a key without ':' after it (write it as `key: value`)",
        ),
        (
            "days: [mon, thu]",
            "days: [mon, thu",
            "15:11: the list opened with '[' at line 15, column 11 is not closed with ']', or its "
            "items are not separated by commas",
        ),
        (
            '    location: "Tổ 1, khu 2"',
            "    location: 'Tổ 1, khu 2",
            "5:15: the quote opened at line 5, column 15 is never closed",
        ),
        (
            "airings:\n",
            "---\nairings:\n",
            "13:1: the file holds more than one document ('---'); keep one document per file",
        ),
    ],
)
def test_syntax_errors_in_plain_words(one_ward: Station, old: str, new: str, expected: str) -> None:
    found = one_ward.minimal(old, new)
    assert found == [f"{F}:{expected}"]


def test_a_syntax_error_leaves_the_other_wards_valid(one_ward: Station) -> None:
    one_ward.minimal("  - id: loa-01", "\t- id: loa-01")
    loaded = one_ward.load()
    assert loaded.schedule is not None
    assert len(loaded.schedule.wards) == 15


def test_aliases_and_merge_keys_are_refused(one_ward: Station) -> None:
    found = one_ward.minimal(
        "windows:\n  - days: [mon, tue, wed, thu, fri, sat, sun]",
        "windows:\n  - days: &every [mon, tue, wed, thu, fri, sat, sun]",
    )
    assert found == []  # an anchor alone changes nothing
    found = one_ward.minimal(
        "windows:\n  - days: [mon, tue, wed, thu, fri, sat, sun]",
        "windows:\n  - days: &every [mon, tue, wed, thu, fri, sat, sun]\n"
        '    from: "18:30"\n    to: "19:30"\n  - days: *every',
    )
    assert found == [
        f"{F}:10:11: anchors and aliases (&name, *name, <<: *name) are not supported in these "
        "files: write the value out in full where it is needed"
    ]
    found = one_ward.minimal(
        "  - id: loa-01\n", "  - &r {id: loa-01}\n  - <<: *r\n    id: loa-02\n"
    )
    assert found == [
        f"{F}:5:5: receivers[2]: merge keys (<<) are not supported in these files: write the "
        "keys out in full",
        f"{F}:5:9: anchors and aliases (&name, *name, <<: *name) are not supported in these "
        "files: write the value out in full where it is needed",
    ]


def test_undefined_alias(one_ward: Station) -> None:
    found = one_ward.minimal("days: [mon, thu]", "days: *weekdays")
    assert found == [
        f"{F}:15:11: anchors and aliases (&name, *name, <<: *name) are not supported in these "
        "files: write the value out in full where it is needed"
    ]


def test_the_c_loader_is_used_when_present() -> None:
    if hasattr(yaml, "CSafeLoader"):
        assert nodes.LOADER is yaml.CSafeLoader
    else:  # pragma: no cover
        assert nodes.LOADER is yaml.SafeLoader


def test_python_loader_gives_the_same_messages(
    one_ward: Station, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without libyaml, the pure-Python parser's errors are translated the same way."""
    bad = [("  - id: loa-01", "\t- id: loa-01"), ('    from: "17:00"', '   from: "17:00"')]
    with_c = [one_ward.minimal(old, new) for old, new in bad]
    monkeypatch.setattr(nodes, "LOADER", yaml.SafeLoader)
    assert [one_ward.minimal(old, new) for old, new in bad] == with_c


def _read_time(text: str) -> object:
    root = yaml.compose(f"at: {text}\n", Loader=nodes.LOADER)
    assert isinstance(root, yaml.MappingNode)
    return TIME.read(FileReader("x.yaml"), root.value[0][1], "at")


@settings(max_examples=300, deadline=None)
@given(
    hour=st.integers(0, 23),
    minute=st.integers(0, 59),
    pad=st.booleans(),
    quote=st.sampled_from(["", "'", '"']),
)
def test_every_hh_mm_is_that_time_of_day(hour: int, minute: int, pad: bool, quote: str) -> None:
    """Unquoted or quoted, 12:30 is half past twelve: never 750 (YAML 1.1) or 00:12:30."""
    text = f"{hour:02d}:{minute:02d}" if pad else f"{hour}:{minute:02d}"
    assert _read_time(f"{quote}{text}{quote}") == time(hour, minute)


@settings(max_examples=200, deadline=None)
@given(hour=st.integers(24, 99), minute=st.integers(0, 99))
def test_hours_past_23_are_refused(hour: int, minute: int) -> None:
    assert _read_time(f"{hour}:{minute:02d}") is INVALID


@settings(max_examples=200, deadline=None)
@given(hour=st.integers(0, 23), minute=st.integers(60, 99))
def test_minutes_past_59_are_refused(hour: int, minute: int) -> None:
    assert _read_time(f"{hour:02d}:{minute}") is INVALID


def test_many_aliases_in_one_file_are_one_problem_with_their_count(one_ward: Station) -> None:
    levels = [f"l{i}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}]" for i in range(8)]
    bomb = "\n".join(['lol: &a "lol"', *levels])  # 8 levels of 2 aliases each
    found = one_ward.minimal("airings:", f"{bomb}\nairings:")
    aliases = [p for p in found if "anchors and aliases" in p]
    assert len(aliases) == 1, found  # was one message per alias: 16 here, 81 in a 9x9 bomb
    assert aliases[0].endswith("(and 15 more aliases in this file)")


def test_a_file_indented_with_tabs_throughout_gets_every_tabbed_line_named(
    one_ward: Station,
) -> None:
    tabbed = one_ward.MINIMAL.replace("    ", "\t\t").replace("  ", "\t")
    one_ward.write_ward("cam-trung.yaml", tabbed)
    (found,) = one_ward.problems()  # YAML stops at the first tab: the others are listed
    assert found == (
        f"{F}:4:1: a tab character is used here; YAML files must be indented with spaces only "
        "(replace the tab with spaces); tabs also indent lines 5, 7, 8, 9, 10, 11, 12, 14, …"
    )
