"""Fixtures for the configuration tests: a copy of the sample station in a temp folder, and
a fake audio prober (the real one, with ffprobe, has its own tests)."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from ipfm_scheduler.config.loader import load
from ipfm_scheduler.config.settings import AudioFile, LoadedConfig
from ipfm_scheduler.errors import AudioError
from tests.sample import copy_sample

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "config"
TODAY = date(2026, 11, 27)  # a Friday of 2026-W48
KH179_SECONDS = 85.0
#: the sample's kh179 recording: a file of audio.dir, as `audio add` stored it
KH179_FILE = "d49eace7f4195683fdc0faa737ca5ccdf924dd2fbb1d157afc4ce4738babbbf5.mp3"
KH179_AUDIO = f"    audio: {KH179_FILE}"  # its line in config/ipfm.yaml


def fake_probe(path: Path) -> AudioFile:
    """What ffprobe says about kh179.mp3 (85 s), without ffprobe; a file named after its
    sha256 (as `audio add` stores it) is taken to hold what its name says."""
    if not path.is_file():
        raise AudioError(f"the audio file {path} does not exist")
    named = re.fullmatch(r"[0-9a-f]{64}", path.stem)
    sha256 = path.stem if named else "0" * 64
    return AudioFile(path, sha256, path.stat().st_size, KH179_SECONDS)


#: a small valid ward file: windows 05:30-06:30 every day, 17:00-18:00 on weekdays
MINIMAL_WARD = """\
id: cam-trung
name: Phường Cẩm Trung
receivers:
  - id: loa-01
    location: "Tổ 1, khu 2"
windows:
  - days: [mon, tue, wed, thu, fri, sat, sun]
    from: "05:30"
    to: "06:30"
  - days: [mon, tue, wed, thu, fri]
    from: "17:00"
    to: "18:00"
airings:
  - programme: kh179
    days: [mon, thu]
    at: "06:00"
"""


@dataclass
class Station:
    """A copy of the sample configuration that a test may edit."""

    folder: Path
    MINIMAL = MINIMAL_WARD

    def minimal(self, old: str = "", new: str = "") -> list[str]:
        """Problems after writing cam-trung.yaml as MINIMAL_WARD with ``old`` -> ``new``."""
        assert old in MINIMAL_WARD
        self.write_ward("cam-trung.yaml", MINIMAL_WARD.replace(old, new, 1))
        return self.problems()

    @property
    def path(self) -> Path:
        return self.folder / "ipfm.yaml"

    def ward_path(self, name: str) -> Path:
        return self.folder / "wards" / name

    def write_ward(self, name: str, text: str) -> Path:
        path = self.ward_path(name)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def edit(self, path: Path, old: str, new: str) -> None:
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} is not in {path}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    def edit_station(self, old: str, new: str) -> None:
        self.edit(self.path, old, new)

    def edit_ward(self, ward_id: str, old: str, new: str) -> None:
        self.edit(self.ward_path(f"{ward_id}.yaml"), old, new)

    def options(self, **options: object) -> dict[str, object]:
        """Keyword arguments for load(): the test's reference day, no ffprobe, no environment."""
        return {"today": TODAY, "prober": fake_probe, "environ": {}, **options}

    def load(self, **options: object) -> LoadedConfig:
        return load(self.path, **self.options(**options))  # type: ignore[arg-type]

    def problems(self, **options: object) -> list[str]:
        return [str(p) for p in self.load(**options).problems]


@pytest.fixture
def station(tmp_path: Path) -> Station:
    """The sample station (16 valid wards) copied to a temp folder, with its audio."""
    return Station(copy_sample(tmp_path).parent)


@pytest.fixture
def one_ward(station: Station) -> Station:
    """The sample station with cam-trung's file replaced by MINIMAL_WARD (valid)."""
    station.write_ward("cam-trung.yaml", MINIMAL_WARD)
    return station
