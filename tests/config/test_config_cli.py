"""`validate`, `plan` and `schema` as a user runs them: real audio probing (ffprobe), exit
codes through the program's own main(), and the console script in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest

from ipfm_scheduler.cli import main
from ipfm_scheduler.config.schema import schema_text
from ipfm_scheduler.core.weeks import IsoWeek

if TYPE_CHECKING:
    from tests.config.conftest import Station

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "config" / "ipfm.yaml"
WARD_IDS = [p.stem for p in sorted((ROOT / "config" / "wards").glob("*.yaml"))]
pytestmark = pytest.mark.usefixtures("ffmpeg")


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    def invoke(*args: str) -> Run:
        with pytest.raises(SystemExit) as done:
            main(list(args))
        captured = capsys.readouterr()
        return Run(int(done.value.code or 0), captured.out, captured.err)

    return invoke


def test_validate_passes_on_the_sample(run) -> None:  # type: ignore[no-untyped-def]
    result = run("--config", str(SAMPLE), "validate")
    assert result.code == 0, result.out
    assert "OK: the configuration is valid (16 wards, 1 programme)." in result.out
    assert f"Valid wards (16 of 16): {', '.join(sorted(WARD_IDS))}" in result.out
    for ward_id in WARD_IDS:
        assert f"\n  {ward_id} " in result.out  # one weekly-count row per ward
    assert result.err == ""


def test_validate_fails_naming_ward_programme_and_week(run, station: Station) -> None:  # type: ignore[no-untyped-def]
    """Done-when: removing a ward's only kh179 airing makes validate fail, naming all three."""
    station.edit_ward(
        "cam-thinh",
        '  - programme: kh179\n    days: [thu]\n    at: "17:20"\n    volume: 80\n',
        "  []\n",
    )
    result = run("--config", str(station.path), "validate")
    assert result.code == 3
    assert (
        "wards/cam-thinh.yaml:16:1: airings: cam-thinh plans 0 airings of kh179 a week; the "
        "minimum is 1 (every ISO week from 2022-W27 on), so it is short in every week from "
        "2022-W27 on: add a weekly airing of kh179"
    ) in result.out
    assert "Ward files with problems (1): cam-thinh (cam-thinh.yaml)" in result.out
    assert "Valid wards (15 of 16)" in result.out
    assert "NOT VALID: 1 problem in 1 file" in result.out
    assert result.err == "ipfm-scheduler: the configuration is not valid (1 problem)\n"


def test_validate_json_for_tools(run, station: Station) -> None:  # type: ignore[no-untyped-def]
    station.edit_ward("cam-trung", 'at: "06:00"', 'at: "25:00"')
    result = run("--config", str(station.path), "validate", "--format", "json")
    assert result.code == 3
    report = json.loads(result.out)
    assert report["ok"] is False
    assert report["problems"] == [
        {
            "file": "wards/cam-trung.yaml",
            "line": 25,
            "column": 9,
            "path": "airings[1].at",
            "message": '"25:00" is not a time of day (HH:MM, 00:00–23:59); hours go from 00 '
            "to 23 (midnight is 00:00)",
        }
    ]
    valid = {f["ward"]: f["valid"] for f in report["ward_files"]}
    assert valid["cam-trung"] is False
    assert sum(valid.values()) == 15
    rows = {r["ward"]: r for r in report["weekly"]}
    assert "cam-trung" not in rows
    assert rows["cam-son"]["lowest"]["planned"] >= rows["cam-son"]["minimum"] == 1


def test_unquoted_time_plans_at_that_time(run, station: Station) -> None:  # type: ignore[no-untyped-def]
    """Done-when: `at: 12:30` unquoted plans an airing at 12:30, never 00:12:30 or 750."""
    station.edit_ward(
        "cam-phu",
        '    to: "17:30"\n',
        '    to: "17:30"\n  - days: [mon]\n    from: 12:00\n    to: 13:00\n',
    )
    station.edit_ward("cam-phu", 'days: [wed]\n    at: "16:45"', "days: [mon]\n    at: 12:30")
    result = run(
        "--config",
        str(station.path),
        "plan",
        "--week",
        "2026-W48",
        "--ward",
        "cam-phu",
        "--format",
        "json",
    )
    assert result.code == 0, result.err
    plan = json.loads(result.out)
    assert [(a["day"], a["time"], a["start"]) for a in plan["airings"]] == [
        ("2026-11-23", "12:30", "2026-11-23T12:30:00+07:00")
    ]
    table = run("--config", str(station.path), "plan", "--week", "2026-W48", "--ward", "cam-phu")
    assert "Mon 2026-11-23  12:30  cam-phu" in table.out
    assert "00:12:30" not in table.out
    assert "750" not in table.out


def test_plan_shows_the_week_and_the_verdicts(run) -> None:  # type: ignore[no-untyped-def]
    result = run("--config", str(SAMPLE), "plan", "--week", "2027-W05")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == (
        "Plan for week 2027-W05 (Mon 2027-02-01 to Sun 2027-02-07), local time Asia/Ho_Chi_Minh:"
    )
    assert "  Wed 2027-02-03  06:00  cam-son     kh179      06:15        80" in lines
    assert "  cam-son     kh179      1        1        ok       enforced" in lines
    assert sum(1 for line in lines if line.endswith("enforced")) == 16


def test_plan_marks_the_campaigns_first_week_as_partial(run, station: Station) -> None:  # type: ignore[no-untyped-def]
    station.edit_station("    from: 2022-07-04", "    from: 2026-11-25")
    result = run(
        "--config",
        str(station.path),
        "plan",
        "--week",
        "2026-W48",
        "--ward",
        "cam-phu",
        "--format",
        "json",
    )
    assert result.code == 0, result.out + result.err
    [count] = json.loads(result.out)["compliance"]
    assert count == {
        "ward": "cam-phu",
        "programme": "kh179",
        "planned": 1,
        "minimum": 1,
        "enforced": False,
        "rule": "not enforced: partial campaign week",
        "verdict": "ok",
    }


def test_plan_defaults_to_this_week(run) -> None:  # type: ignore[no-untyped-def]
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    before = IsoWeek.containing(datetime.now(UTC), tz)
    result = run("--config", str(SAMPLE), "plan", "--format", "json")
    after = IsoWeek.containing(datetime.now(UTC), tz)
    assert result.code == 0
    assert json.loads(result.out)["week"] in {str(before), str(after)}


@pytest.mark.parametrize(
    ("week", "message"),
    [
        ("next week", "'next week' is not an ISO week (write it like 2026-W48)"),
        ("2026-W54", "2026 has weeks 1 to 53, not 54"),
    ],
)
def test_plan_refuses_a_bad_week(run, week: str, message: str) -> None:  # type: ignore[no-untyped-def]
    result = run("--config", str(SAMPLE), "plan", "--week", week)
    assert result.code == 2
    assert f"Error: Invalid value for '--week': {message}" in result.err


def test_plan_unknown_ward_lists_the_wards(run) -> None:  # type: ignore[no-untyped-def]
    result = run("--config", str(SAMPLE), "plan", "--ward", "cam-trungg")
    assert result.code == 2
    assert (
        'Error: Invalid value for --ward: there is no ward "cam-trungg" (did you mean '
        f'"cam-trung"?); the wards are: {", ".join(sorted(WARD_IDS))}'
    ) in result.err


def test_plan_of_a_ward_with_problems_shows_them(run, station: Station) -> None:  # type: ignore[no-untyped-def]
    station.edit_ward("cam-trung", 'at: "06:00"', 'at: "25:00"')
    result = run("--config", str(station.path), "plan", "--ward", "cam-trung")
    assert result.code == 3
    assert result.out == ""
    assert 'wards/cam-trung.yaml:25:9: airings[1].at: "25:00" is not a time of day' in result.err


def test_plan_of_a_ward_whose_id_cannot_be_read_shows_its_problems(  # type: ignore[no-untyped-def]
    run, station: Station
) -> None:
    station.edit_ward("cam-trung", "id: cam-trung", "\tid: cam-trung")  # a tab: nothing is read
    result = run("--config", str(station.path), "plan", "--ward", "cam-trung")
    assert result.code == 3  # was 2 with 'there is no ward "cam-trung" (did you mean …)'
    assert "wards/cam-trung.yaml:" in result.out + result.err
    assert "there is no ward" not in result.out + result.err


def test_plan_leaves_out_broken_wards_and_says_so(run, station: Station) -> None:  # type: ignore[no-untyped-def]
    station.edit_ward("cam-trung", 'at: "06:00"', 'at: "25:00"')
    result = run("--config", str(station.path), "plan", "--week", "2026-W48")
    assert result.code == 3
    assert "cam-son" in result.out
    assert "cam-trung" not in result.out
    assert result.err == (
        "ipfm-scheduler: the configuration has 1 problem; left out: cam-trung "
        "(cam-trung.yaml); run `ipfm-scheduler validate` to see it\n"
    )


def test_plan_does_not_need_secrets(run, station: Station) -> None:  # type: ignore[no-untyped-def]
    station.edit_station(
        "dispatch:\n", "signing:\n  kid: k\n  key_file: /nonexistent.key\ndispatch:\n"
    )
    assert run("--config", str(station.path), "plan", "--week", "2026-W48").code == 0
    checked = run("--config", str(station.path), "validate")
    assert checked.code == 3
    assert (
        "ipfm.yaml:32:13: signing.key_file: the file /nonexistent.key does not exist" in checked.out
    )


def test_schema_prints_and_writes(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    printed = run("schema")
    assert printed.code == 0
    assert printed.out == schema_text()
    target = tmp_path / "ward.schema.json"
    written = run("schema", "-o", str(target))
    assert written.code == 0
    assert target.read_text(encoding="utf-8") == schema_text()
    assert written.err == f"wrote {target}\n"


def test_schema_into_a_folder_that_does_not_exist_is_a_wrong_argument(  # type: ignore[no-untyped-def]
    run, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-folder" / "ward.schema.json"
    written = run("schema", "-o", str(missing))
    assert written.code == 2  # was a FileNotFoundError traceback, exit 70
    assert f"can't write {missing}: No such file or directory" in written.err
    assert "Traceback" not in written.err


def test_station_from_the_environment(
    run, station: Station, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("IPFM_CONFIG", str(station.path))
    station.edit_ward("cam-trung", 'at: "06:00"', 'at: "25:00"')
    assert run("validate").code == 3


def test_config_option_also_after_the_command(run, station: Station, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`validate --config PATH` reads PATH (not config/ipfm.yaml), in either spelling."""
    station.edit_ward("cam-trung", 'at: "06:00"', 'at: "25:00"')
    assert run("validate", "--config", str(station.path)).code == 3
    missing = tmp_path / "nothing.yaml"
    result = run("validate", f"--config={missing}")
    assert result.code == 3
    assert f"the file {missing} does not exist" in result.out


def test_missing_station_file(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = run("--config", str(tmp_path / "nothing.yaml"), "validate")
    assert result.code == 3
    assert f"nothing.yaml: the file {tmp_path / 'nothing.yaml'} does not exist" in result.out


def test_console_script_exit_codes(station: Station) -> None:
    script = Path(sys.executable).parent / "ipfm-scheduler"
    ok = subprocess.run(
        [script, "--config", str(SAMPLE), "validate"], capture_output=True, text=True, check=False
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    station.edit_ward("cam-trung", "days: [mon, thu]", "days: [mon, thu, funday]")
    bad = subprocess.run(
        [script, "--config", str(station.path), "validate"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 3
    assert 'wards/cam-trung.yaml:24:22: airings[1].days[3]: "funday" is not a day' in bad.stdout


def test_plan_does_not_call_a_ward_without_receivers_a_partial_week(run, station: Station) -> None:  # type: ignore[no-untyped-def]
    """A full campaign week of a ward whose receivers are all disabled is not enforced because
    nothing is counted there, not because the week is partial: the verdict says which."""
    station.write_ward(
        "cam-trung.yaml",
        "id: cam-trung\nname: Phường Cẩm Trung\nreceivers:\n  - id: loa-01\n"
        "    enabled: false\nwindows: []\nairings: []\n",
    )
    args = ("--config", str(station.path), "plan", "--week", "2026-W49", "--ward", "cam-trung")
    table = run(*args)
    assert table.code == 0, table.out + table.err
    assert "partial" not in table.out
    assert (
        "  cam-trung  kh179      0        1        not counted (no enabled receivers)  "
        "not enforced: no enabled receivers"
    ) in table.out.splitlines()
    [count] = json.loads(run(*args, "--format", "json").out)["compliance"]
    assert count["verdict"] == "not counted (no enabled receivers)"
    assert count["enforced"] is False


def test_without_its_station_file_no_ward_is_called_valid(  # type: ignore[no-untyped-def]
    run, station: Station
) -> None:
    missing = station.path.with_name("nope.yaml")  # the wards/ folder beside it is still read
    result = run("--config", str(missing), "validate")
    assert result.code == 3
    assert "nope.yaml: the file " in result.out
    assert "does not exist" in result.out
    assert "Wards read, not checked against the station (16 of 16):" in result.out
    assert "Valid wards" not in result.out  # said "Valid wards (16 of 16)" before
