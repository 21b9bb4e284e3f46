"""Ward files in the clerk's own words: Vietnamese day names (T2 … T7, CN, thứ hai, chủ nhật)
and dd/mm/yyyy dates are read as the canonical forms, and `validate` says what it read."""

from __future__ import annotations

import json
from datetime import date
from typing import TYPE_CHECKING

import pytest

from ipfm_scheduler.cli import main
from ipfm_scheduler.core.expand import PlannedAiring, expand

if TYPE_CHECKING:
    from tests.config.conftest import Station

F = "wards/cam-trung.yaml"
ONE_OFF = '    at: "06:00"\n  - programme: kh179\n    dates: [{date}]\n    at: "06:10"\n'


def airings(station: Station, days: str, one_off: str) -> list[PlannedAiring]:
    """The airings cam-trung plans from 2026-11-30 to 2027-03-07 with these days and date."""
    station.minimal("days: [mon, thu]", f"days: {days}")
    station.edit_ward("cam-trung", '    at: "06:00"\n', ONE_OFF.format(date=one_off))
    loaded = station.load()
    assert loaded.problems == ()
    assert loaded.schedule is not None
    ward = loaded.schedule.wards["cam-trung"]
    tz = loaded.schedule.timezone
    return expand(ward, loaded.schedule.programmes, tz, date(2026, 11, 30), date(2027, 3, 7))


def test_vietnamese_days_and_a_dd_mm_yyyy_date_plan_the_same_airings(one_ward: Station) -> None:
    """Done-when of issue 14 item 3."""
    canonical = airings(one_ward, "[mon, sun]", "2026-12-05")
    clerks = airings(one_ward, "[T2, CN]", '"05/12/2026"')
    assert clerks == canonical
    assert len(canonical) == 14 * 2 + 1  # 14 weeks of mon and sun, and the one-off Saturday
    assert date(2026, 12, 5) in {a.local_day for a in canonical}


@pytest.mark.parametrize(
    ("written", "day"),
    [
        ("T2", "mon"),
        ("t3", "tue"),
        ("T4", "wed"),
        ("T5", "thu"),
        ("T6", "fri"),
        ("T7", "sat"),
        ("CN", "sun"),
        ("cn", "sun"),
        ("thứ hai", "mon"),
        ("Thứ 2", "mon"),
        ("THỨ BA", "tue"),
        ("thứ tư", "wed"),
        ("Thứ Năm", "thu"),
        ("thu sau", "fri"),
        ("thứ bảy", "sat"),
        ("Chủ Nhật", "sun"),
        ("chu nhat", "sun"),
        ("CHỦ NHẬT", "sun"),
    ],
)
def test_a_vietnamese_day_name_is_read_as_its_day(
    one_ward: Station, written: str, day: str
) -> None:
    assert one_ward.minimal("days: [mon, thu]", f"days: [{written}]") == []
    loaded = one_ward.load()
    assert loaded.schedule is not None
    (rule,) = loaded.schedule.wards["cam-trung"].airings
    assert rule.days == {("mon", "tue", "wed", "thu", "fri", "sat", "sun").index(day)}
    assert [str(n) for n in loaded.notes] == [
        f'{F}:15:12: airings[1].days[1]: "{written}" read as {day}'
    ]


def test_canonical_forms_need_no_note(one_ward: Station) -> None:
    assert one_ward.load().notes == ()


def test_a_dd_mm_yyyy_date_is_read_and_noted(one_ward: Station) -> None:
    found = one_ward.minimal('    at: "06:00"\n', '    at: "06:00"\nskip_dates: ["5/2/2027"]\n')
    assert found == []
    loaded = one_ward.load()
    assert loaded.schedule is not None
    assert loaded.schedule.wards["cam-trung"].skip_dates == {date(2027, 2, 5)}
    assert [str(n) for n in loaded.notes] == [
        f'{F}:17:14: skip_dates[1]: "5/2/2027" read as 2027-02-05 (dd/mm/yyyy)'
    ]


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        ("31/02/2027", "month 02/2027 has 28 days, not 31"),
        ("29/02/2028x", ""),
        ("12/13/2027", "there is no month 13 (dd/mm/yyyy: the month is in the middle)"),
    ],
)
def test_an_impossible_dd_mm_yyyy_date_is_a_located_problem(
    one_ward: Station, bad: str, why: str
) -> None:
    found = one_ward.minimal("days: [mon, thu]", f'dates: ["{bad}"]')
    if why:
        assert found == [f'{F}:15:13: airings[1].dates[1]: "{bad}" is not a date: {why}']
    else:
        assert found == [
            f'{F}:15:13: airings[1].dates[1]: "{bad}" is not a date (YYYY-MM-DD or dd/mm/yyyy, '
            "such as 2027-02-06)"
        ]


def test_validate_says_what_it_read_and_exits_0(
    one_ward: Station, capsys: pytest.CaptureFixture[str]
) -> None:
    one_ward.minimal("days: [mon, thu]", "days: [T2, thứ năm]")
    with pytest.raises(SystemExit) as done:
        main(["--config", str(one_ward.path), "validate"])
    out = capsys.readouterr().out
    assert done.value.code in (0, None), out
    assert (
        "Read as (days and dates written in another accepted form; not problems):\n"
        f'  {F}:15:12: airings[1].days[1]: "T2" read as mon\n'
        f'  {F}:15:16: airings[1].days[2]: "thứ năm" read as thu\n'
    ) in out
    assert "OK: the configuration is valid" in out
    with pytest.raises(SystemExit):
        main(["--config", str(one_ward.path), "validate", "--format", "json"])
    read_as = json.loads(capsys.readouterr().out)["read_as"]
    assert [(n["line"], n["column"], n["message"]) for n in read_as] == [
        (15, 12, '"T2" read as mon'),
        (15, 16, '"thứ năm" read as thu'),
    ]
