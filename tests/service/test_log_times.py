"""Every time a person reads in the logs is local to the station, with its offset: the logging
timestamp of each line (``2026-12-05 11:41:07+07:00``) and the times in the messages."""

from __future__ import annotations

import logging
import os
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ipfm_scheduler import logtime
from ipfm_scheduler.service.daemon import Daemon
from tests.service.test_daemon import Configs

ROOT = Path(__file__).resolve().parents[2]
VN = ZoneInfo("Asia/Ho_Chi_Minh")
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d:\d\d (DEBUG|INFO|WARNING|ERROR) ")


@pytest.fixture(autouse=True)
def machine_zone() -> Iterator[None]:
    logtime.use_zone(None)
    yield
    logtime.use_zone(None)


def formatted(at: datetime) -> str:
    record = logging.LogRecord("ipfm_scheduler.x", logging.WARNING, "f.py", 1, "hello", (), None)
    record.created = at.timestamp()
    return logtime.StationTimeFormatter(logtime.FORMAT).format(record)


def test_a_log_line_starts_with_the_station_time_and_its_offset():
    logtime.use_zone(VN)
    line = formatted(datetime(2026, 12, 5, 4, 41, 7, 905000, tzinfo=UTC))
    assert line == "2026-12-05 11:41:07+07:00 WARNING ipfm_scheduler.x: hello"


def test_before_the_station_is_known_the_machine_zone_is_written_with_its_offset():
    line = formatted(datetime(2026, 12, 5, 4, 41, 7, tzinfo=UTC))
    assert LINE.match(line), line


def test_the_service_logs_in_the_station_zone_once_it_has_read_the_station_file():
    configs = Configs()
    daemon = Daemon(Path("ipfm.yaml"), loader=configs, connector=lambda station: None)  # type: ignore[arg-type,return-value]
    daemon._load()
    zone = configs.good.station.timezone  # type: ignore[union-attr]
    at = datetime(2026, 12, 5, 4, 41, 7, tzinfo=UTC)
    assert formatted(at).startswith(logtime.local_text(at.astimezone(zone), "seconds") + " ")


def test_a_time_in_a_message_carries_its_offset():
    assert logtime.local_text(datetime(2026, 12, 5, 11, 41, tzinfo=VN)) == "2026-12-05 11:41+07:00"


def test_ipfm_scheduler_writes_its_log_lines_with_the_offset(tmp_path: Path):
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [str(ROOT / ".venv/bin/ipfm-scheduler"), "-vv", "db", "upgrade", "--database",
         f"sqlite:///{tmp_path / 'x.db'}"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    event = re.compile(r" (DEBUG|INFO|WARNING|ERROR) [a-z_.]+: ")  # not a message's 2nd line
    lines = [line for line in done.stderr.splitlines() if event.search(line)]
    assert lines, done
    assert all(LINE.match(line) for line in lines), lines
