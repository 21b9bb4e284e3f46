"""`validate`'s summary agrees with itself: wards that could not be checked against the station
are not called valid."""

from __future__ import annotations

import json
import shutil
from typing import TYPE_CHECKING

import pytest

from ipfm_scheduler.cli import main

if TYPE_CHECKING:
    from tests.config.conftest import Station

pytestmark = pytest.mark.usefixtures("ffmpeg")  # validate probes the audio with ffprobe


def validate(station: Station, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as done:
        main(["--config", str(station.path), "validate", *args])
    return int(done.value.code or 0), capsys.readouterr().out


def test_a_missing_audio_folder_leaves_the_wards_unchecked_not_valid(
    station: Station, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 14: "Weekly counts: no valid ward plans a programme yet." and "Valid wards (16 of
    16)" were printed together for a station file whose audio.dir was missing."""
    shutil.rmtree(station.folder.parent / "audio")
    code, out = validate(station, capsys)
    assert code == 3
    assert "ipfm.yaml:17:8: audio.dir: the folder" in out
    assert (
        "Weekly counts: not available until the station file's programme kh179 can be read "
        "(see the problems above)."
    ) in out
    assert "Wards read, not checked against the station (16 of 16): cam-binh, " in out
    assert "Valid wards" not in out
    assert "no valid ward plans a programme yet" not in out
    code, out = validate(station, capsys, "--format", "json")
    assert code == 3
    assert json.loads(out)["wards_checked"] is False


def test_a_usable_station_calls_its_wards_valid(
    station: Station, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = validate(station, capsys)
    assert code == 0, out
    assert "Valid wards (16 of 16): cam-binh, " in out
    assert "not checked" not in out
    code, out = validate(station, capsys, "--format", "json")
    assert json.loads(out)["wards_checked"] is True
