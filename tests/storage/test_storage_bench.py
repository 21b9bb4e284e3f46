"""bench/history.py keeps working (a tiny history; the real run is done by hand)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "history.py"


def test_the_history_bench_generates_and_times_a_tiny_history(capsys: pytest.CaptureFixture[str]):
    spec = importlib.util.spec_from_file_location("bench_history", BENCH)
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    code = bench.main(
        [
            "--databases",
            "sqlite",
            "--wards",
            "4",
            "--receivers",
            "3",
            "--weeks",
            "31",
            "--repeat",
            "1",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "generated 124 airings, 372 commands, 372 acks" in out
    assert "report --week 2025-W30" in out
    assert "12 rows" in out  # the report: 4 wards x 3 receivers
