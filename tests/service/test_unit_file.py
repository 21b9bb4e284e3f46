"""The systemd unit file: accepted by `systemd-analyze verify`, and saying what the docs say."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ipfm_scheduler.cli.exitcodes import RET_CONFIG
from tests.conftest import ROOT

UNIT = ROOT / "config" / "systemd" / "ipfm-scheduler.service"
INSTALLED_BINARY = "/opt/ipfm-scheduler/.venv/bin/ipfm-scheduler"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze is not installed")


def verify(unit: Path) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run(
        [ANALYZE, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )


def service_section() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNIT)
    return parser["Service"]


@needs_analyze
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    """Verified as installed, except that ExecStart points at this checkout's binary (verify
    checks that the binary exists)."""
    binary = Path(sys.executable).with_name("ipfm-scheduler")
    assert binary.exists()
    copy = tmp_path / UNIT.name
    copy.write_text(UNIT.read_text().replace(INSTALLED_BINARY, str(binary)))
    result = verify(copy)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""


@needs_analyze
def test_the_unit_as_shipped_only_lacks_the_installed_binary() -> None:
    result = verify(UNIT)
    problems = [line for line in result.stderr.splitlines() if line.strip()]
    assert (
        problems
        == [
            f"ipfm-scheduler.service: Command {INSTALLED_BINARY} is not executable: "
            "No such file or directory"
        ]
        or Path(INSTALLED_BINARY).exists()
    )


def test_the_unit_is_a_notify_service_with_watchdog_reload_and_no_restart_loop() -> None:
    service = service_section()
    assert service["Type"] == "notify"
    assert service["WatchdogSec"] == "30"
    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"] == str(RET_CONFIG)
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["ExecStart"].startswith(INSTALLED_BINARY)
    assert service["ExecStart"].endswith(" run")
    assert service["User"] == "ipfm"
    assert service["StateDirectory"] == "ipfm-scheduler"
