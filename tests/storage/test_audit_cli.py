"""`report` and `log` as auditors run them: output files they can trust, ids checked, exports
that tools and Excel read safely."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import shutil
from datetime import date
from pathlib import Path

import pytest

from ipfm_scheduler.core.commands import AckStatus
from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.core.traffic import AiringToStore
from ipfm_scheduler.storage.db import open_engine
from ipfm_scheduler.storage.repository import Repository
from ipfm_scheduler.storage.snapshot import SnapshotWard
from tests.storage.storage_factories import AUDIO, World, planned, snapshot
from tests.storage.test_storage_cli import BOM, recorded_week, run

SQLITE_HEADER = b"SQLite format 3\x00"
MISSED_NOTE = "window closed before it could be sent (service not running)"


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "ipfm.db"
    shutil.copyfile(sqlite_template, path)
    recorded_week(f"sqlite:///{path}")
    return f"sqlite:///{path}"


def with_missed_airing(db_url: str) -> None:
    """cam-trung aired on Monday (loa-01 completed, loa-02 failed); its Wednesday airing was
    missed while the service was down."""
    recorded_week(db_url)
    engine = open_engine(db_url)
    world = World(Repository(engine))
    item = AiringToStore(
        planned(day=date(2025, 11, 26)), Priority.NORMAL, AUDIO, missed=True, note=MISSED_NOTE
    )
    world.repo.store_airings([item], snapshot_id=world.snapshot_id, now=world.now)
    engine.dispose()


def with_ward_name(db_url: str, name: str, location: str = "Tổ 1") -> None:
    """Week 2025-W48 as in ``recorded_week``, under a configuration that names cam-trung
    ``name`` and places its receivers at ``location``."""
    base = snapshot()
    wards = tuple(
        SnapshotWard(
            w.id, name, tuple(dataclasses.replace(r, location=location) for r in w.receivers)
        )
        if w.id == "cam-trung"
        else w
        for w in base.wards
    )
    engine = open_engine(db_url)
    world = World(Repository(engine), dataclasses.replace(base, wards=wards))
    _, (one, two) = world.airing()
    world.answer("cam-trung", "loa-01", one, AckStatus.COMPLETED)
    world.answer("cam-trung", "loa-02", two, AckStatus.FAILED, detail="device")
    engine.dispose()


# --- -o / --output ----------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm", "-journal"])
def test_output_onto_the_database_being_read_is_refused_and_nothing_is_written(
    sqlite_url: str, suffix: str
):
    database = Path(sqlite_url.removeprefix("sqlite:///"))
    target = database.with_name(database.name + suffix)
    before = target.read_bytes() if target.exists() else None
    result = run(
        "report",
        "--week",
        "2025-W48",
        "--format",
        "csv",
        "-o",
        str(target),
        "--database",
        sqlite_url,
    )
    assert result.code == 2
    assert f"{target} is the database being read" in result.err
    assert "writing there would destroy it; name another file" in result.err
    assert (target.read_bytes() if target.exists() else None) == before
    assert database.read_bytes().startswith(SQLITE_HEADER)


def test_output_onto_any_sqlite_database_is_refused(sqlite_url: str, tmp_path: Path):
    other = tmp_path / "other.db"
    shutil.copyfile(sqlite_url.removeprefix("sqlite:///"), other)
    result = run("log", "--format", "csv", "-o", str(other), "--database", sqlite_url)
    assert result.code == 2
    assert f"{other} is an SQLite database: writing there would destroy it" in result.err
    assert other.read_bytes().startswith(SQLITE_HEADER)


def test_output_into_a_folder_that_does_not_exist_is_a_usage_error(sqlite_url: str, tmp_path: Path):
    missing = tmp_path / "no-such-folder" / "w48.csv"
    for command in (["report", "--week", "2025-W48"], ["log"]):
        result = run(*command, "-o", str(missing), "--database", sqlite_url)
        assert result.code == 2, result.err
        assert f"the folder {missing.parent} does not exist" in result.err
        assert "Traceback" not in result.err


def test_a_report_with_nothing_recorded_still_replaces_last_weeks_file(
    sqlite_url: str, tmp_path: Path
):
    """The file must hold this run's answer: an old report left in place would look current."""
    for fmt in ("table", "csv", "json"):
        out = tmp_path / f"report.{fmt}"
        out.write_text("last week's report: all compliant\n")
        result = run(
            "report",
            "--week",
            "2025-W40",
            "--format",
            fmt,
            "-o",
            str(out),
            "--database",
            sqlite_url,
        )
        assert result.code == 1
        assert "nothing recorded for week 2025-W40" in result.err
        data = out.read_bytes()
        assert b"last week" not in data
        if fmt == "csv":
            assert data.startswith(BOM + b"week,ward,ward_name,")
            assert data.count(b"\r\n") == 1  # the header alone
        elif fmt == "json":
            assert json.loads(data)["verdict"] == "nothing recorded"
        else:
            assert "nothing recorded for week 2025-W40" in data.decode()


def test_an_empty_log_table_is_written_to_the_file_with_its_message(
    sqlite_url: str, tmp_path: Path
):
    out = tmp_path / "log.txt"
    out.write_text("an older log\n")
    result = run("log", "--from", "2027-01-01", "-o", str(out), "--database", sqlite_url)
    assert (result.code, result.out) == (0, b"")
    assert out.read_text() == "no airings recorded (from 2027-01-01 00:00)\n"
    assert "no airings recorded" in result.err


def test_the_output_file_is_replaced_whole_or_not_at_all(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Written to a temporary file in the same folder, then renamed: a failure leaves the old
    file as it was and no temporary file behind."""
    out = tmp_path / "out" / "w48.csv"
    out.parent.mkdir()
    out.write_bytes(b"old")

    def failing_replace(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    result = run("report", "--week", "2025-W48", "-o", str(out), "--database", sqlite_url)
    assert result.code == 2
    assert f"can't write {out}: No space left on device" in result.err
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in out.parent.iterdir()) == ["w48.csv"]
    monkeypatch.undo()
    assert run("report", "--week", "2025-W48", "-o", str(out), "--database", sqlite_url).code == 1
    assert out.read_text().startswith("Week 2025-W48")
    assert sorted(p.name for p in out.parent.iterdir()) == ["w48.csv"]


# --- ids, dates and --database ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "--week", "2025-W48", "--ward", "cam-trungg"], "ward cam-trungg is not known"),
        (["log", "--ward", "cam-trungg"], "ward cam-trungg is not known"),
        (["log", "--programme", "kh197"], "programme kh197 is not known"),
        (["report", "--week", "2025-W48", "--programme", "kh197"], "programme kh197 is not known"),
        (["log", "--receiver", "loa-9"], "receiver loa-9 is not known"),
        (
            ["log", "--ward", "cua-ong", "--receiver", "loa-02"],
            "receiver loa-02 of ward cua-ong is not known to this database "
            "(known receivers of ward cua-ong: loa-01)",
        ),
    ],
)
def test_an_id_the_database_never_heard_of_is_a_usage_error_not_nothing_aired(
    db_url: str, args: list[str], message: str
):
    recorded_week(db_url)
    result = run(*args, "--database", db_url)
    assert result.code == 2, result.err
    assert message in result.err
    assert "(known " in result.err  # and which ids are


def test_a_known_ward_still_answers(db_url: str):
    recorded_week(db_url)
    assert run("log", "--ward", "cua-ong", "--database", db_url).code == 0
    assert run("log", "--ward", "cam-trung", "--receiver", "loa-03", "--database", db_url).code == 0


@pytest.mark.parametrize(("option", "day"), [("--from", "0001-01-01"), ("--to", "9999-12-31")])
def test_log_at_the_edges_of_the_calendar_means_no_bound(sqlite_url: str, option: str, day: str):
    result = run("log", option, day, "--database", sqlite_url)
    assert result.code == 0, result.err
    assert "2 rows (times in Asia/Ho_Chi_Minh)" in result.text


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("", "--database is empty"),
        ("  ", "--database is empty"),
        ("garbage", '"garbage" is not a database URL this program can use'),
        ("mysql://u@h/db", '"mysql://u@h/db" is not a database URL this program can use'),
    ],
)
def test_an_unusable_database_option_is_a_usage_error(tmp_path: Path, given: str, message: str):
    station = tmp_path / "ipfm.yaml"
    station.write_text(f"database: sqlite:///{tmp_path / 'station.db'}\n")
    for args in (["report", "--week", "2025-W48"], ["log"], ["db", "check"]):
        result = run("--config", str(station), *args, "--database", given)
        assert result.code == 2, result.err
        assert message in result.err
    assert not (tmp_path / "station.db").exists()  # never fell back to the station file's


def test_a_bad_database_in_the_station_file_stays_a_configuration_error(tmp_path: Path):
    station = tmp_path / "ipfm.yaml"
    station.write_text("database: mysql://u@h/db\n")
    result = run("--config", str(station), "log", env={"IPFM_DATABASE_URL": ""})
    assert result.code == 3


# --- what the log and the exports hold ----------------------------------------------------------


def test_the_log_for_one_receiver_keeps_its_wards_missed_airings(db_url: str):
    """A missed airing has no command: it concerns every receiver of the ward."""
    with_missed_airing(db_url)
    result = run(
        "log",
        "--ward",
        "cam-trung",
        "--receiver",
        "loa-02",
        "--format",
        "json",
        "--database",
        db_url,
    )
    rows = json.loads(result.text)
    assert [(r["planned_local"][:10], r["receiver"], r["state"]) for r in rows] == [
        ("2025-11-24", "loa-02", "failed"),
        ("2025-11-26", None, "no command"),
    ]
    assert rows[1]["note"] == MISSED_NOTE


def test_log_json_writes_missing_values_as_null_and_csv_as_empty_cells(db_url: str):
    with_missed_airing(db_url)
    as_json = json.loads(run("log", "--format", "json", "--database", db_url).text)
    missed = as_json[-1]
    for key in ("receiver", "command_id", "first_sent", "state_at", "receiver_time", "detail"):
        assert missed[key] is None, key
    assert missed["played_s"] is None
    assert as_json[1]["detail"] == "device"
    as_csv = run("log", "--format", "csv", "--database", db_url).out.decode("utf-8-sig")
    last = list(csv.DictReader(io.StringIO(as_csv)))[-1]
    assert (last["receiver"], last["first_sent"], last["played_s"]) == ("", "", "")


def test_csv_text_that_excel_would_run_as_a_formula_is_quoted(
    tmp_path: Path, sqlite_template: Path
):
    path = tmp_path / "ipfm.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    with_ward_name(url, '=HYPERLINK("http://x")', location="@SUM(A1)")
    data = run("report", "--week", "2025-W48", "--format", "csv", "--database", url).out
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    cam_trung = [r for r in rows if r["ward"] == "cam-trung"]
    assert {r["ward_name"] for r in cam_trung} == {'\'=HYPERLINK("http://x")'}
    assert {r["location"] for r in cam_trung} == {"'@SUM(A1)"}
    assert cam_trung[0]["minimum"] == "1"  # numbers stay numbers
    as_json = json.loads(
        run("report", "--week", "2025-W48", "--format", "json", "--database", url).text
    )
    assert as_json["groups"][0]["ward_name"] == '=HYPERLINK("http://x")'  # only CSV is quoted


def test_a_line_break_in_a_name_keeps_the_table_on_one_line_per_row(
    tmp_path: Path, sqlite_template: Path
):
    path = tmp_path / "ipfm.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    with_ward_name(url, "Phường Cẩm Trung\nTổ 2")
    text = run("report", "--week", "2025-W48", "--database", url).text
    [row] = [line for line in text.splitlines() if line.startswith("cam-trung ")]
    assert "Phường Cẩm Trung / Tổ 2" in row
    assert row.split()[-1] == "SHORT"


def test_log_dates_may_be_written_day_first_as_vietnamese_readers_do(sqlite_url: str):
    """--from 01/01/2027 is 1 January 2027 (dd/mm/yyyy), the same as 2027-01-01; a day the
    calendar does not have is refused with a usage error (exit 2), nothing read."""
    iso = run("log", "--from", "2027-01-01", "--database", sqlite_url)
    vietnamese = run("log", "--from", "01/01/2027", "--database", sqlite_url)
    assert (vietnamese.code, vietnamese.text) == (iso.code, iso.text)
    assert "no airings recorded (from 2027-01-01 00:00)" in vietnamese.text
    bounded = run("log", "--to", "31/12/9999", "--database", sqlite_url)
    assert "2 rows (times in Asia/Ho_Chi_Minh)" in bounded.text
    wrong = run("log", "--from", "31/02/2027", "--database", sqlite_url)
    assert wrong.code == 2
    assert "31/02/2027" in wrong.err
