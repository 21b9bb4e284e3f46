"""The tables of `report` and `log` as a reader sees them: each column says what it counts, and
the log says when each command was sent and when its state (`completed`: played) was learnt."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.storage.test_storage_cli import recorded_week, run


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "ipfm.db"
    shutil.copyfile(sqlite_template, path)
    recorded_week(f"sqlite:///{path}")
    return f"sqlite:///{path}"


def cells(line: str) -> list[str]:
    """A table line's cells (columns are separated by two spaces or more)."""
    return [c for c in line.strip().split("  ") if c.strip()]


def test_report_labels_airings_and_commands_so_they_cannot_be_confused(sqlite_url: str):
    text = run("report", "--week", "2025-W48", "--database", sqlite_url).text
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("ward "))
    assert [c.strip() for c in cells(header)] == [
        "ward",
        "name",
        "programme",
        "airings planned",
        "commands sent",
        "receivers completed",
        "min/week",
        "verdict",
    ]
    row = next(line for line in lines if line.startswith("cam-trung "))
    assert [c.strip() for c in cells(row)][3:6] == ["1", "2", "1/2"]  # 1 airing, 2 loudspeakers
    assert "commands sent: one per loudspeaker and airing" in text


def test_log_shows_when_each_command_was_sent_and_when_its_state_was_confirmed(sqlite_url: str):
    lines = run("log", "--ward", "cam-trung", "--database", sqlite_url).text.splitlines()
    header = [c.strip() for c in cells(lines[0])]
    assert header == [
        "planned",
        "ward",
        "programme",
        "origin",
        "receiver",
        "sent at",
        "state",
        "state at",
        "detail",
    ]
    completed = [c.strip() for c in cells(next(line for line in lines if "completed" in line))]
    at = dict(zip(header, completed, strict=False))
    assert at["sent at"] == "2025-11-24 05:58"
    assert at["state"] == "completed"
    assert at["state at"] == "2025-11-21 07:00"  # when the factory's answer was recorded
