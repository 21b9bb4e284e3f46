"""`report --format xlsx` and `report --month` as auditors run them, on the simulated
fortnight: the workbook opens in openpyxl with one typed row per receiver, and the month sums
its weeks and says which run into another month."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from openpyxl import load_workbook

from tests.web.world import EVIL, World, run


def test_report_week_xlsx_has_one_typed_row_per_receiver(world: World, tmp_path: Path):
    out = tmp_path / "w47.xlsx"
    done = run("report", "--week", "2025-W47", "--format", "xlsx", "-o", str(out),
               "--database", world.url)  # fmt: skip
    assert done.code == 1, done.err  # cam-trung/loa-02 is short: the exit code says so
    book = load_workbook(out)
    rows = list(book["2025-W47"].iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    assert world.loaded.schedule is not None
    expected = {(w.id, r.id) for w in world.loaded.schedule.wards.values()
                for r in w.enabled_receivers}  # fmt: skip
    ward, receiver = header.index("ward"), header.index("receiver")
    assert sorted((r[ward], r[receiver]) for r in body) == sorted(expected)
    for column in ("minimum", "completed", "commands_sent", "receiver_commands_sent"):
        assert all(type(r[header.index(column)]) is int for r in body), column
    names = {r[header.index("ward_name")] for r in body}
    assert "Phường Cẩm Trung" in names
    assert f"Phường Cẩm Hải {EVIL}" in names
    short = [r for r in body if r[header.index("verdict")] == "short"]
    assert [(r[ward], r[receiver]) for r in short] == [("cam-trung", "loa-02")]
    about = {r[0]: r[1] for r in book["about"].iter_rows(min_row=2, values_only=True)}
    assert isinstance(about["generated at"], datetime)
    assert about["from"] == datetime(2025, 11, 17)
    assert about["until"] == datetime(2025, 11, 23)
    assert book["2025-W47"].column_dimensions["C"].width > 10


def test_xlsx_needs_an_output_file(world: World):
    done = run("report", "--week", "2025-W47", "--format", "xlsx", "--database", world.url)
    assert done.code == 2
    assert "-o" in done.err


def test_report_month_sums_the_weeks_and_names_the_partial_ones(world: World):
    done = run("report", "--month", "2025-11", "--format", "json", "--database", world.url)
    document = json.loads(done.out)
    assert document["partial_weeks"] == ["2025-W44"]
    assert [w["week"] for w in document["weeks"]] == [f"2025-W{n}" for n in range(44, 49)]
    lines = {(x["ward"], x["receiver"]): x for x in document["lines"]}
    # the configuration was first recorded in W46, which then aired nothing (short for all);
    # loa-02 failed every airing of W47 and W48 (Mondays and Thursdays)
    trung = lines[("cam-trung", "loa-02")]
    assert (trung["weeks"], trung["completed"], trung["commands_sent"]) == (3, 0, 4)
    assert (trung["weeks_compliant"], trung["weeks_short"]) == (0, 3)
    one = lines[("cam-trung", "loa-01")]
    assert (one["completed"], one["commands_sent"], one["weeks_compliant"]) == (4, 4, 2)
    assert done.code == 1  # a short week in the month


def test_report_month_as_a_table_and_refusals(world: World):
    table = run("report", "--month", "2025-11", "--database", world.url)
    text = table.out.decode()
    assert "(counted whole): 2025-W44" in text
    assert "cam-trung" in text
    both = run("report", "--month", "2025-11", "--week", "2025-W47", "--database", world.url)
    assert both.code == 2
    assert "one of" in both.err
    bad = run("report", "--month", "2026-13", "--database", world.url)
    assert bad.code == 2
    assert "not a month" in bad.err
