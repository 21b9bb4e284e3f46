"""Checks of ward files against the station: programmes, windows, one-off dates, the weekly
minimum, duplicate wards; and a broken ward file never takes the others down."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.config.conftest import Station

F = "wards/cam-trung.yaml"


def test_unknown_programme_suggests_the_close_one(one_ward: Station) -> None:
    found = one_ward.minimal("programme: kh179", "programme: kh197")
    assert found[0] == (
        f'{F}:14:16: airings[1].programme: "kh197" is not a programme of this station '
        '(did you mean "kh179"?) (the station\'s programmes: kh179)'
    )


def test_airing_outside_every_window(one_ward: Station) -> None:
    found = one_ward.minimal('at: "06:00"', 'at: "12:00"')
    assert found == [
        f"{F}:16:9: airings[1].at: kh179 at 12:00 on mon, thu starts outside every window open "
        "that day (windows open then: mon, tue, wed, thu, fri, sat, sun 05:30-06:30; "
        "mon, tue, wed, thu, fri 17:00-18:00)"
    ]


def test_airing_outside_on_some_days_only(one_ward: Station) -> None:
    """17:15 is inside the weekday evening window, but not on Saturday."""
    found = one_ward.minimal(
        'days: [mon, thu]\n    at: "06:00"', 'days: [mon, sat]\n    at: "17:15"'
    )
    assert found == [
        f"{F}:16:9: airings[1].at: kh179 at 17:15 on sat starts outside every window open that "
        "day (windows open then: mon, tue, wed, thu, fri, sat, sun 05:30-06:30)"
    ]


def test_programme_that_runs_past_the_window_end(one_ward: Station) -> None:
    """kh179 lasts 85 s: starting at 06:29 it ends 06:30:25, 25 s after the window closes."""
    found = one_ward.minimal('at: "06:00"', 'at: "06:29"')
    assert found == [
        f"{F}:16:9: airings[1].at: kh179 lasts 1 min 25 s: starting at 06:29 on mon, thu it "
        "runs 25 s past the end of the window 05:30-06:30"
    ]


def test_programme_that_just_fits(one_ward: Station) -> None:
    """Starting at 06:28 it ends at 06:29:25, inside the window."""
    assert one_ward.minimal('at: "06:00"', 'at: "06:28"') == []


def test_one_off_date_that_is_also_skipped(one_ward: Station) -> None:
    found = one_ward.minimal(
        '    at: "06:00"\n',
        '    at: "06:00"\n  - programme: kh179\n    dates: [2027-02-03, 2027-02-06]\n'
        '    at: "06:00"\nskip_dates: [2027-02-06]\n',
    )
    assert found == [
        f"{F}:18:25: airings[2].dates[2]: 2027-02-06 is also in skip_dates, so this airing "
        "would not happen: remove the date from one of the two lists"
    ]


def test_one_off_date_outside_the_campaign(one_ward: Station) -> None:
    found = one_ward.minimal(
        '    at: "06:00"\n',
        '    at: "06:00"\n  - programme: kh179\n    dates: [2022-07-01]\n    at: "06:00"\n',
    )
    assert found == [
        f"{F}:18:13: airings[2].dates[1]: 2022-07-01 is outside the kh179 campaign (2022-07-04 "
        "to open-ended), so this airing would not happen"
    ]


def test_removing_the_only_airing_fails_the_weekly_minimum(station: Station) -> None:
    """The message names the ward, the programme, every short week and what to add."""
    station.edit_ward(
        "cam-phu",
        '  - programme: kh179\n    days: [wed]\n    at: "16:45"\n    volume: 85\n',
        "  []\n",
    )
    found = station.problems()
    assert found == [
        "wards/cam-phu.yaml:16:1: airings: cam-phu plans 0 airings of kh179 a week; the minimum "
        "is 1 (every ISO week from 2022-W27 on), so it is short in every week from 2022-W27 on: "
        "add a weekly airing of kh179 (days: [...] with an at inside a window; the windows: "
        "mon, tue, wed, thu, fri, sat, sun 06:00-06:45; mon, tue, wed, thu, fri 16:30-17:30)"
    ]
    loaded = station.load()
    assert loaded.schedule is not None
    assert "cam-phu" not in loaded.schedule.wards
    assert not loaded.ward_files["cam-phu.yaml"].valid


def test_a_skip_date_that_empties_a_week_says_what_to_do(one_ward: Station) -> None:
    found = one_ward.minimal("airings:\n", "skip_dates: [2027-02-01, 2027-02-04]\nairings:\n")
    assert found == [
        f"{F}:14:1: airings: cam-trung plans fewer than 1 airing of kh179 in 1 week: 2027-W05; "
        "the minimum is 1 (every ISO week from 2022-W27 on); 2027-W05 (2027-02-01 to "
        "2027-02-07): 0 airings, 2027-02-01, 2027-02-04 are skip dates: add a one-off airing of "
        "kh179 (dates: [...]) on another day of each short week"
    ]


def test_every_short_week_is_named_in_one_problem(one_ward: Station) -> None:
    """Two Tết-like breaks, two weeks apart, and two weeks in a row: one problem, as runs."""
    skip = "2027-02-01, 2027-02-04, 2027-02-15, 2027-02-18, 2027-02-22, 2027-02-25"
    found = one_ward.minimal("airings:\n", f"skip_dates: [{skip}]\nairings:\n")
    assert len(found) == 1
    assert found[0].startswith(
        f"{F}:14:1: airings: cam-trung plans fewer than 1 airing of kh179 in 3 weeks: 2027-W05, "
        "2027-W07 to 2027-W08; the minimum is 1 (every ISO week from 2022-W27 on); 2027-W05 "
        "(2027-02-01 to 2027-02-07): 0 airings, 2027-02-01, 2027-02-04 are skip dates; 2027-W07 "
    )
    assert found[0].endswith("on another day of each short week")


def test_a_closed_campaign_counts_its_short_weeks(one_ward: Station) -> None:
    """A campaign with an end: the weeks are counted, a week mended by a one-off date left out."""
    one_ward.edit_station("until: null", "until: 2022-12-31")
    found = one_ward.minimal(
        '    days: [mon, thu]\n    at: "06:00"\n',
        '    dates: [2022-08-03]\n    at: "06:00"\n',
    )
    assert [p for p in found if p.startswith(F)] == [
        f"{F}:13:1: airings: cam-trung plans 0 airings of kh179 a week; the minimum is 1 (every "
        "ISO week from 2022-W27 to 2022-W51), so it is short in 24 weeks: 2022-W27 to 2022-W30, "
        "2022-W32 to 2022-W51: add a weekly airing of kh179 (days: [...] with an at inside a "
        "window; the windows: mon, tue, wed, thu, fri, sat, sun 05:30-06:30; mon, tue, wed, "
        "thu, fri 17:00-18:00)"
    ]


def test_one_off_airing_makes_up_for_skipped_days(one_ward: Station) -> None:
    found = one_ward.minimal(
        "airings:\n",
        "skip_dates: [2027-02-01, 2027-02-04]\nairings:\n"
        '  - programme: kh179\n    dates: [2027-02-03]\n    at: "17:10"\n',
    )
    assert found == []


def test_campaign_end_bounds_the_weekly_check(one_ward: Station) -> None:
    """After the campaign's last full week, no week is short any more."""
    one_ward.edit_station("    until: null", "    until: 2026-12-31")
    found = one_ward.minimal("airings:\n", "skip_dates: [2027-02-01, 2027-02-04]\nairings:\n")
    assert [p for p in found if p.startswith(F)] == []


def test_ward_without_enabled_receivers_is_not_held_to_the_minimum(one_ward: Station) -> None:
    no_airings = one_ward.MINIMAL.split("airings:")[0] + "airings: []\n"
    one_ward.write_ward("cam-trung.yaml", no_airings)
    assert len(one_ward.problems()) == 1  # with an enabled receiver: short
    one_ward.write_ward(
        "cam-trung.yaml", no_airings.replace("    location:", "    enabled: no\n    location:")
    )
    assert one_ward.problems() == []


def test_duplicate_ward_ids(station: Station) -> None:
    text = station.ward_path("cam-trung.yaml").read_text(encoding="utf-8")
    station.ward_path("cam-trung.yml").write_text(text, encoding="utf-8")
    found = station.problems()
    assert found == [
        'wards/cam-trung.yml:2:5: id: the ward id "cam-trung" is already used by '
        "wards/cam-trung.yaml"
    ]


def test_a_broken_ward_never_takes_the_others_down(station: Station) -> None:
    station.edit_ward("cua-ong", "receivers:\n", "receivers:\n\t- id: x\n")
    station.edit_ward("cam-trung", 'at: "06:00"', 'at: "25:00"')
    loaded = station.load()
    assert not loaded.ok
    assert loaded.station is not None
    assert loaded.schedule is not None
    assert len(loaded.schedule.wards) == 14
    assert {n for n, w in loaded.ward_files.items() if not w.valid} == {
        "cua-ong.yaml",
        "cam-trung.yaml",
    }
    assert [p.file for p in loaded.problems] == ["wards/cam-trung.yaml", "wards/cua-ong.yaml"]


def test_every_file_is_kept_for_the_airing_log(station: Station) -> None:
    import hashlib

    station.edit_ward("cam-trung", 'at: "06:00"', 'at: "25:00"')
    loaded = station.load()
    assert len(loaded.ward_files) == 16
    ward_file = loaded.ward_files["cam-trung.yaml"]
    raw = station.ward_path("cam-trung.yaml").read_bytes()
    assert ward_file.text == raw.decode()
    assert ward_file.sha256 == hashlib.sha256(raw).hexdigest()
    assert ward_file.ward_id == "cam-trung"
    assert not ward_file.valid
    assert loaded.ward_files["cam-son.yaml"].valid


def test_every_problem_of_a_window_and_an_airing_is_reported_at_once(one_ward: Station) -> None:
    """A window whose days are mistyped still has its end checked against its start, and an
    airing whose time is mistyped still has its programme checked: staff see every mistake in
    one run, not one more after each fix."""
    one_ward.write_ward(
        "cam-trung.yaml",
        one_ward.MINIMAL.replace("days: [mon, tue, wed, thu, fri, sat, sun]", "days: mon")
        .replace('to: "06:30"', 'to: "05:00"')
        .replace("programme: kh179", "programme: kh197")
        .replace('at: "06:00"', 'at: "25:00"'),
    )
    found = one_ward.problems()
    assert (
        f'{F}:7:11: windows[1].days: expected a list of days, such as [mon, thu], found "mon"'
        in found
    )
    assert any(p.startswith(f'{F}:9:9: windows[1].to: "05:00" is not after') for p in found), found
    assert any(
        p.startswith(f'{F}:14:16: airings[1].programme: "kh197" is not a programme') for p in found
    ), found
    assert (
        f'{F}:16:9: airings[1].at: "25:00" is not a time of day (HH:MM, 00:00–23:59); hours go '
        "from 00 to 23 (midnight is 00:00)"
    ) in found
    assert len(found) == 4, found


def test_a_copy_of_a_ward_file_is_blamed_for_the_duplicate_id_not_the_original(
    station: Station,
) -> None:
    text = station.ward_path("cam-trung.yaml").read_text(encoding="utf-8")
    station.ward_path("cam-trung - Copy.yaml").write_text(text, encoding="utf-8")
    found = station.problems()
    assert [p for p in found if p.startswith("wards/cam-trung.yaml")] == []  # the original is fine
    assert (
        'wards/cam-trung - Copy.yaml:2:5: id: the ward id "cam-trung" is already used by '
        "wards/cam-trung.yaml"
    ) in found
    assert "cam-trung" in station.load().schedule.wards  # type: ignore[union-attr]


def test_a_ward_file_saved_under_another_name_is_reported_not_silently_dropped(
    station: Station,
) -> None:
    station.ward_path("cam-son.yaml").rename(station.ward_path("cam-son.yaml.txt"))
    station.ward_path("cam-hai.yaml").rename(station.ward_path("CAM-HAI.YAML"))
    station.ward_path(".cam-tay.yaml.swp").write_text("editor's swap file", encoding="utf-8")
    station.ward_path("cam-tay.yaml~").write_text("editor's backup", encoding="utf-8")
    rename = "not read: the name of a ward file ends in .yaml (rename it to"
    move = "or move it out of the wards folder if it is not a ward file)"
    assert station.problems() == [
        f"wards/CAM-HAI.YAML: {rename} cam-hai.yaml, {move}",
        f"wards/cam-son.yaml.txt: {rename} cam-son.yaml, {move}",
    ]  # hidden files and editors' backups (~) are not ward files: nothing to say about them
    assert not station.load().ok


def test_an_airing_outside_every_window_is_reported_while_its_programme_is_broken(
    station: Station,
) -> None:
    # kh179 broken in the station file: its length is unknown, but an airing at noon is still
    # outside every window of cam-trung (it was reported only once the programme was fixed)
    station.edit_station("    min_per_week: 1", "    min_per_week: -1")
    station.edit_ward("cam-trung", 'at: "06:00"', 'at: "12:00"')
    found = station.problems()
    assert any(p.startswith("ipfm.yaml:41:19: programmes.kh179.min_per_week: ") for p in found)
    outside = [p for p in found if p.startswith("wards/cam-trung.yaml:")]
    assert len(outside) == 1, found
    assert "kh179 at 12:00 on " in outside[0]
    assert "starts outside every window open that day" in outside[0]


def test_an_airing_with_a_bad_day_is_still_checked_against_the_windows(
    one_ward: Station,
) -> None:
    """One mistake does not hide another: the bad day and the time outside every window."""
    found = one_ward.minimal(
        'days: [mon, thu]\n    at: "06:00"', 'days: [mon, thursday]\n    at: "12:00"'
    )
    assert found == [
        f'{F}:15:17: airings[1].days[2]: "thursday" is not a day: write mon, tue, wed, thu, fri, '
        'sat, sun (or T2 … T7, CN) (did you mean "thu"?)',
        f"{F}:16:9: airings[1].at: kh179 at 12:00 on mon starts outside every window open that "
        "day (windows open then: mon, tue, wed, thu, fri, sat, sun 05:30-06:30; mon, tue, wed, "
        "thu, fri 17:00-18:00)",
    ]


def test_an_airing_with_a_bad_date_still_has_its_other_dates_checked(one_ward: Station) -> None:
    found = one_ward.minimal(
        'days: [mon, thu]\n    at: "06:00"',
        'dates: [2027-02-30, 2027-02-06]\n    at: "06:29"\nskip_dates: [2027-02-06]',
    )
    assert found == [
        f'{F}:15:13: airings[1].dates[1]: "2027-02-30" is not a date (YYYY-MM-DD or dd/mm/yyyy, '
        "such as 2027-02-06)",
        f"{F}:15:25: airings[1].dates[2]: 2027-02-06 is also in skip_dates, so this airing would "
        "not happen: remove the date from one of the two lists",
        f"{F}:16:9: airings[1].at: kh179 lasts 1 min 25 s: starting at 06:29 on 2027-02-06 (sat) "
        "it runs 25 s past the end of the window 05:30-06:30",
    ]
