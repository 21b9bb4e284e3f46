"""bench/floor.py keeps working (a few hundred messages; the real run is done by hand): every
message arrives through both subscribers, and its SQL runs on the schema of migrations/ (the
bench raises if a command is not recorded as sent)."""

from __future__ import annotations

import importlib
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import need_service

ROOT = Path(__file__).resolve().parents[2]  # bench/ is not installed: import it from here


def test_the_floor_bench_measures_each_part_and_prints_the_ceilings(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    need_service(
        shutil.which("mosquitto") is not None or Path("/usr/sbin/mosquitto").exists(),
        "the mosquitto binary",
    )
    monkeypatch.syspath_prepend(str(ROOT))
    floor = importlib.import_module("bench.floor")
    floor.main(["--count", "2000", "--rounds", "1"])  # raises if a message or a row is missing
    out = capsys.readouterr().out
    parts = dict(re.findall(r"^  (1|2|3|4a|4b) .*?(\d+\.\d\d)  \(", out, re.MULTILINE))
    assert set(parts) == {"1", "2", "3", "4a", "4b"}, out
    assert all(float(seconds) >= 0 for seconds in parts.values()), out
    ceilings = re.findall(r"^  (1 and 3|1, 3 and 4a|1, 3, 4a and 4b): ", out, re.MULTILINE)
    assert ceilings == ["1 and 3", "1, 3 and 4a", "1, 3, 4a and 4b"], out
    rates = [int(r.replace(",", "")) for r in re.findall(r"at most ([\d,]+) commands/s", out)]
    assert rates == sorted(rates, reverse=True), out  # each part added can only lower it
