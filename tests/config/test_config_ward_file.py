"""Each mistake a ward file can hold gets its own message, with file:line:column and key path.

The station is the sample; only cam-trung's file changes, so every problem listed is the one
the test made.
"""

from __future__ import annotations

from datetime import time
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.config.conftest import Station

F = "wards/cam-trung.yaml"


def problems_with(station: Station, old: str, new: str) -> list[str]:
    """Problems after replacing ``old`` with ``new`` in the minimal cam-trung file."""
    return station.minimal(old, new)


def test_minimal_ward_is_valid(one_ward: Station) -> None:
    loaded = one_ward.load()
    assert loaded.ok, loaded.problems
    assert loaded.schedule is not None
    assert "cam-trung" in loaded.schedule.wards


def test_unknown_key_suggests_the_close_one(one_ward: Station) -> None:
    found = problems_with(one_ward, '    location: "Tổ 1, khu 2"\n', "    enabeld: no\n")
    assert found == [
        f'{F}:5:5: receivers[1].enabeld: unknown key "enabeld" (did you mean "enabled"?); '
        "a receiver has the keys: id, location, enabled"
    ]


def test_unknown_key_without_a_close_one_lists_the_keys(one_ward: Station) -> None:
    found = problems_with(one_ward, "name: Phường Cẩm Trung\n", "name: x\ncolour: red\n")
    assert found == [
        f'{F}:3:1: colour: unknown key "colour"; a ward file has the keys: id, name, '
        "receivers, windows, airings, skip_dates, accept_unsigned"
    ]


def test_missing_required_key(one_ward: Station) -> None:
    found = problems_with(one_ward, '    at: "06:00"\n', "")
    assert found == [
        f'{F}:14:5: airings[1]: the key "at" is missing (when it starts, such as "06:00")'
    ]


def test_required_key_left_empty(one_ward: Station) -> None:
    found = problems_with(one_ward, "name: Phường Cẩm Trung", "name:")
    assert found == [f"{F}:2:6: name: is empty; expected a text"]


def test_wrong_type_list_expected(one_ward: Station) -> None:
    found = problems_with(one_ward, "    days: [mon, thu]", "    days: mon")
    assert found == [
        f'{F}:15:11: airings[1].days: expected a list of days, such as [mon, thu], found "mon"'
    ]


def test_wrong_type_mapping_expected(one_ward: Station) -> None:
    found = problems_with(one_ward, '  - id: loa-01\n    location: "Tổ 1, khu 2"', "  - loa-01")
    assert found == [f'{F}:4:5: receivers[1]: expected a receiver, found "loa-01"']


def test_duplicated_key_is_an_error(one_ward: Station) -> None:
    found = problems_with(one_ward, '    at: "06:00"\n', '    at: "06:00"\n    at: "06:30"\n')
    assert found == [
        f'{F}:17:5: airings[1].at: the key "at" appears twice (first on line 16); keep only one'
    ]


@pytest.mark.parametrize(
    ("bad", "column", "message"),
    [
        (
            "Cam Trung",
            5,
            "\"Cam Trung\" is not a valid id: use 1 to 64 characters of a-z, 0-9, '-' and '_' "
            '(such as "cam-trung")',
        ),
        ("x" * 65, 5, f'"{"x" * 65}" is too long for an id (65 characters, at most 64)'),
        (
            "cam_trung!",
            5,
            '"cam_trung!" is not a valid id: use 1 to 64 characters of a-z, '
            "0-9, '-' and '_' (such as \"cam_trung\")",
        ),
    ],
)
def test_ward_id_rules(one_ward: Station, bad: str, column: int, message: str) -> None:
    found = problems_with(one_ward, "id: cam-trung", f"id: {bad}")
    assert found == [f"{F}:1:{column}: id: {message}"]


def test_receiver_id_rules_suggest_an_id(one_ward: Station) -> None:
    found = problems_with(one_ward, "  - id: loa-01", "  - id: Loa Chợ 1")
    assert found == [
        f'{F}:4:9: receivers[1].id: "Loa Chợ 1" is not a valid id: use 1 to 64 characters '
        "of a-z, 0-9, '-' and '_' (such as \"loa-cho-1\")"
    ]


def test_duplicate_receiver_ids(one_ward: Station) -> None:
    found = problems_with(one_ward, "windows:\n", "  - id: loa-01\nwindows:\n")
    assert found == [
        f'{F}:6:9: receivers[2].id: the receiver id "loa-01" is already used by receivers[1] '
        "(line 4); receiver ids are unique in a ward"
    ]


def test_file_name_must_match_the_ward_id(one_ward: Station) -> None:
    one_ward.ward_path("cam-trung.yaml").rename(one_ward.ward_path("cam-trung-2.yaml"))
    assert one_ward.problems() == [
        'wards/cam-trung-2.yaml:1:5: id: "cam-trung" does not match the file name '
        "cam-trung-2.yaml: a ward file is named after its id (rename the file to "
        "cam-trung.yaml, or correct the id)"
    ]


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ('"25:00"', "; hours go from 00 to 23 (midnight is 00:00)"),
        ("24:00", "; hours go from 00 to 23 (midnight is 00:00)"),
        ("6:5", "; write the minutes with two digits, like 6:05"),
        ("06:00:00", "; seconds are not used: write hours and minutes only"),
        ("12.30", "; write it with a colon, like 12:30"),
        ("noon", ""),
    ],
)
def test_times_that_are_not_hh_mm(one_ward: Station, text: str, hint: str) -> None:
    found = problems_with(one_ward, 'at: "06:00"', f"at: {text}")
    shown = text.strip('"')
    assert found == [
        f'{F}:16:9: airings[1].at: "{shown}" is not a time of day (HH:MM, 00:00–23:59){hint}'
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("06:00", time(6, 0)), ("6:00", time(6, 0)), ("'06:05'", time(6, 5)), ("05:59", time(5, 59))],
)
def test_times_read_as_people_mean_them(one_ward: Station, text: str, expected: time) -> None:
    """Unquoted 06:00 is six o'clock, never a number of minutes (YAML 1.1 would say 360)."""
    problems_with(one_ward, 'at: "06:00"', f"at: {text}")
    loaded = one_ward.load()
    assert loaded.ok, loaded.problems
    assert loaded.schedule is not None
    assert loaded.schedule.wards["cam-trung"].airings[0].at == expected


def test_yes_no_on_are_text_where_a_name_is_expected(one_ward: Station) -> None:
    problems_with(one_ward, "  - id: loa-01\n", "  - id: on\n  - id: no\n    enabled: no\n")
    loaded = one_ward.load()
    assert loaded.ok, loaded.problems
    assert loaded.schedule is not None
    receivers = loaded.schedule.wards["cam-trung"].receivers
    assert [(r.id, r.enabled) for r in receivers] == [("on", True), ("no", False)]


def test_a_boolean_that_is_not_yes_or_no(one_ward: Station) -> None:
    found = problems_with(one_ward, '    location: "Tổ 1, khu 2"', "    enabled: maybe")
    assert found == [
        f'{F}:5:14: receivers[1].enabled: "maybe" is not true or false (yes/no also work)'
    ]


def test_days_must_be_mon_to_sun(one_ward: Station) -> None:
    found = problems_with(one_ward, "days: [mon, thu]", "days: [mon, Thursday, sunday]")
    assert found == [
        f'{F}:15:17: airings[1].days[2]: "Thursday" is not a day: write mon, tue, wed, thu, '
        'fri, sat, sun (or T2 … T7, CN) (did you mean "thu"?)',
        f'{F}:15:27: airings[1].days[3]: "sunday" is not a day: write mon, tue, wed, thu, '
        'fri, sat, sun (or T2 … T7, CN) (did you mean "sun"?)',
    ]


def test_an_airing_with_both_days_and_dates(one_ward: Station) -> None:
    found = problems_with(
        one_ward, "    days: [mon, thu]\n", "    days: [mon]\n    dates: [2027-01-04]\n"
    )
    assert found == [
        f'{F}:14:5: airings[1]: has both "days" and "dates": use "days" for an airing every '
        'week, or "dates" for one-off airings, not both in one airing'
    ]


def test_an_airing_with_neither_days_nor_dates(one_ward: Station) -> None:
    found = problems_with(one_ward, "    days: [mon, thu]\n", "")
    assert found == [
        f'{F}:14:5: airings[1]: needs "days" (every week, such as [mon, thu]) or "dates" '
        "(one-off, such as [2027-02-04])",
    ]


@pytest.mark.parametrize(
    ("volume", "message"),
    [
        ("101", "101 is out of range: expected a whole number from 0 to 100"),
        ("-1", "-1 is out of range: expected a whole number from 0 to 100"),
        ("loud", '"loud" is not a whole number from 0 to 100'),
        ("'80'", '"80" is in quotes: write the number without quotes'),
        ("80.5", '"80.5" is not a whole number from 0 to 100'),
    ],
)
def test_volume_is_0_to_100(one_ward: Station, volume: str, message: str) -> None:
    found = problems_with(one_ward, '    at: "06:00"\n', f'    at: "06:00"\n    volume: {volume}\n')
    assert found == [f"{F}:17:13: airings[1].volume: {message}"]


def test_volume_bounds_are_allowed(one_ward: Station) -> None:
    problems_with(one_ward, '    at: "06:00"\n', '    at: "06:00"\n    volume: 0\n')
    assert one_ward.load().ok
    problems_with(one_ward, '    at: "06:00"\n', '    at: "06:00"\n    volume: 100\n')
    assert one_ward.load().ok


def test_window_that_ends_before_it_starts(one_ward: Station) -> None:
    found = problems_with(one_ward, 'to: "18:00"', 'to: "16:00"')
    assert found == [
        f'{F}:12:9: windows[2].to: "16:00" is not after the window\'s start "17:00": a window '
        "ends after it starts, on the same day (use 23:59 for the end of the day)"
    ]


def test_window_ending_at_its_start_is_refused(one_ward: Station) -> None:
    found = problems_with(one_ward, 'to: "18:00"', 'to: "17:00"')
    assert len(found) == 1
    assert found[0].startswith(f'{F}:12:9: windows[2].to: "17:00" is not after')


@pytest.mark.parametrize(
    ("bad", "hint"),
    [
        ("2027-02-30", ""),
        ("tet", ""),
        ("6.2.2027", "; write 2027-02-06, or 06/02/2027 with slashes"),
        ("06-02-2027", "; write 2027-02-06, or 06/02/2027 with slashes"),
        ("2027-2-6", ""),
    ],
)
def test_skip_dates_that_are_not_dates(one_ward: Station, bad: str, hint: str) -> None:
    found = problems_with(one_ward, "airings:\n", f"skip_dates: [2027-02-06, {bad}]\nairings:\n")
    assert found == [
        f'{F}:13:26: skip_dates[2]: "{bad}" is not a date (YYYY-MM-DD or dd/mm/yyyy, such as '
        f"2027-02-06){hint}"
    ]


def test_one_off_dates_that_are_not_dates(one_ward: Station) -> None:
    found = problems_with(one_ward, "days: [mon, thu]", "dates: [2027-13-01]")
    assert found == [
        f'{F}:15:13: airings[1].dates[1]: "2027-13-01" is not a date (YYYY-MM-DD or dd/mm/yyyy, '
        "such as 2027-02-06)"
    ]


def test_empty_file(one_ward: Station) -> None:
    one_ward.write_ward("cam-trung.yaml", "# nothing yet\n")
    assert one_ward.problems() == [
        f"{F}: the file is empty; a ward file has the keys id, name, receivers, windows, "
        "airings, skip_dates, accept_unsigned"
    ]


def test_a_file_that_is_a_list(one_ward: Station) -> None:
    one_ward.write_ward("cam-trung.yaml", "- id: cam-trung\n")
    assert one_ward.problems() == [f"{F}:1:1: expected a ward file, found a list"]


def test_every_problem_of_a_file_is_reported_at_once(one_ward: Station) -> None:
    text = (
        one_ward.MINIMAL.replace('at: "06:00"', 'at: "25:00"')
        .replace('to: "18:00"', 'to: "16:00"')
        .replace("  - id: loa-01", "  - id: Loa 1")
    )
    one_ward.write_ward("cam-trung.yaml", text)
    found = one_ward.problems()
    assert [p.split(": ")[0] for p in found] == [f"{F}:4:9", f"{F}:12:9", f"{F}:16:9"]


def test_not_utf8(one_ward: Station) -> None:
    one_ward.ward_path("cam-trung.yaml").write_bytes(
        one_ward.MINIMAL.replace("Phường", "Ph\xb0\xf4ng").encode("latin-1", errors="replace")
    )
    found = one_ward.problems()
    # where the first bad byte is; nothing else about the file (the parser's view of the
    # mangled text was noise)
    assert found == [f"{F}:2:9: the file is not UTF-8 text: save it as UTF-8 in the editor"]


def test_a_file_saved_as_utf16_is_one_plain_problem(one_ward: Station) -> None:
    for encoding in ("utf-16", "utf-16-le"):  # with its BOM, and without
        one_ward.ward_path("cam-trung.yaml").write_bytes(one_ward.MINIMAL.encode(encoding))
        assert one_ward.problems() == [
            f"{F}: the file is not UTF-8 text (it looks saved as UTF-16 or as a document, not "
            "as plain text): save it as UTF-8 text in the editor"
        ]


def test_a_control_character_in_a_value_is_located(one_ward: Station) -> None:
    found = one_ward.minimal("name: Phường Cẩm Trung", 'name: "Phường\x07 Cẩm Trung"')
    assert found == [
        f"{F}:2:14: an invisible control character (U+0007) is here: delete it (it can come "
        "from copying text out of another program)"
    ]


def test_days_run_together_get_the_commas_they_need(one_ward: Station) -> None:
    found = one_ward.minimal("days: [mon, thu]", "days: [mon thu, T2 T5]")
    expected = "is not a day: write mon, tue, wed, thu, fri, sat, sun (or T2 … T7, CN)"
    assert found == [
        f'{F}:15:12: airings[1].days[1]: "mon thu" {expected} (separate the days with commas: '
        "[mon, thu])",
        f'{F}:15:21: airings[1].days[2]: "T2 T5" {expected} (separate the days with commas: '
        "[T2, T5])",
    ]


def test_a_date_far_outside_any_campaign_is_a_located_problem(one_ward: Station) -> None:
    found = one_ward.minimal('    at: "06:00"\n', '    at: "06:00"\nskip_dates: [9999-01-04]\n')
    assert found == [
        f'{F}:17:14: skip_dates[1]: "9999-01-04" is outside the years 2000-2099 that these '
        "files may name (an open-ended campaign has no `until`, or `until:` left empty)"
    ]


def test_a_huge_value_is_shown_cut_short_in_its_message(one_ward: Station) -> None:
    (found,) = one_ward.minimal('at: "06:00"', f'at: "{"6" * 100_000}"')
    assert found.startswith(f'{F}:16:9: airings[1].at: "{"6" * 79}…" is not a time of day')
    assert len(found) < 300  # was over 100,000 characters: the whole value, repeated


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "  - id: loa-01",
            "  - id loa-01",
            "4:5: this line has a key without ':' after it (write it as `id: loa-01`)",
        ),
        ("id: cam-trung", "id:cam-trung", "1:1: put a space after the ':' (write `id: cam-trung`)"),
        ('at: "06:00"', "at:06:00", "16:5: put a space after the ':' (write `at: 06:00`)"),
        (
            "  - id: loa-01",
            "  -id: loa-01",
            "4:3: put a space after the '-' that starts a list item (write `- id: loa-01`)",
        ),
        (
            "  - id: loa-01",
            "\u00a0\u00a0- id: loa-01",
            "4:1: this line is indented with non-breaking spaces (copied from a document?): "
            "delete them and type ordinary spaces",
        ),
        (
            '    location: "Tổ 1, khu 2"',
            '    location: "Tổ "1", khu 2"',
            "5:15: the \" inside this value ends it early: put the value in ' quotes instead "
            "(write 'Tổ \"1\", khu 2')",
        ),
    ],
)
def test_a_typo_yaml_reports_elsewhere_is_named_on_its_own_line(
    one_ward: Station, old: str, new: str, expected: str
) -> None:
    """YAML notices these a line later, in its own terms ("mapping values are not allowed
    here"); the message names the typo, on the line to fix."""
    assert one_ward.minimal(old, new) == [f"{F}:{expected}"]
