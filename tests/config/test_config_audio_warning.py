"""`validate` warns (exit 0 all the same) when a programme's audio is not a catalogued,
normalised recording; the sample station airs a catalogued one and gets no warning."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ipfm_scheduler.cli import main
from tests.config.conftest import KH179_AUDIO, KH179_FILE

if TYPE_CHECKING:
    from tests.config.conftest import Station

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.usefixtures("ffmpeg")  # the real prober reads the audio


@dataclass
class Run:
    code: int
    out: str
    err: str


def validate(capsys: pytest.CaptureFixture[str], station: Path, *more: str) -> Run:
    with pytest.raises(SystemExit) as done:
        main(["--config", str(station), "validate", *more])
    captured = capsys.readouterr()
    return Run(int(done.value.code or 0), captured.out, captured.err)


def test_the_sample_airs_normalised_audio_and_gets_no_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = validate(capsys, ROOT / "config" / "ipfm.yaml", "--format", "json")
    assert result.code == 0
    assert json.loads(result.out)["warnings"] == []


def test_audio_that_was_never_imported_is_a_warning_not_a_problem(
    capsys: pytest.CaptureFixture[str], station: Station
) -> None:
    """The original recording, copied into audio.dir and named by the station file: valid,
    with one warning line that says what to do."""
    audio_dir = station.folder.parent / "audio"
    shutil.copy(audio_dir / "source" / "kh179.mp3", audio_dir / "kh179.mp3")
    station.edit_station(KH179_AUDIO, "    audio: kh179.mp3")

    result = validate(capsys, station.path)
    as_json = validate(capsys, station.path, "--format", "json")

    expected = (
        "programme kh179: audio kh179.mp3: it is not in the audio catalogue, so its loudness "
        "was never normalised; import the recording with `ipfm-scheduler audio add FILE "
        "--programme kh179` and set audio: to the file it names"
    )
    assert result.code == as_json.code == 0, result.out
    assert f"\nwarning: {expected}\n" in result.out
    assert "OK: the configuration is valid" in result.out
    assert json.loads(as_json.out)["warnings"] == [expected]


def test_a_catalogued_file_whose_bytes_changed_is_refused_not_aired(
    capsys: pytest.CaptureFixture[str], station: Station
) -> None:
    """A file `audio add` named after its sha256 that no longer hashes to its name is damaged:
    aired, the receivers would be sent (and accept) the damaged bytes, so the configuration is
    refused (it was a warning, and `run` aired it)."""
    stored = station.folder.parent / "audio" / KH179_FILE
    data = bytearray(stored.read_bytes())
    data[5000] ^= 0xFF  # a failing disk
    stored.write_bytes(bytes(data))

    result = validate(capsys, station.path)

    assert result.code == 3
    assert (
        f'programmes.kh179.audio: "{KH179_FILE}" no longer holds the recording its name says '
        "(its sha256 is now "
    ) in result.out
    assert "import the recording again with `ipfm-scheduler audio add FILE --programme kh179`" in (
        result.out
    )
