"""probe(): checksum, size and duration of a real audio file through ffprobe, cached per
(path, size, mtime); every failure is an AudioError in plain words."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ipfm_scheduler.audio import probe as probe_module
from ipfm_scheduler.audio.probe import clear_cache, probe
from ipfm_scheduler.errors import AudioError

ROOT = Path(__file__).resolve().parents[2]
KH179 = ROOT / "audio" / "source" / "kh179.mp3"


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    clear_cache()


def test_probe_the_sample_recording(ffmpeg: str) -> None:
    found = probe(KH179)
    raw = KH179.read_bytes()
    assert found.sha256 == hashlib.sha256(raw).hexdigest()
    assert found.bytes == len(raw)
    assert 84.0 < found.duration_s < 86.0
    assert found.format == "mp3"
    assert found.path == KH179


def test_probe_a_generated_tone(ffmpeg: str, tmp_path: Path) -> None:
    tone = tmp_path / "tone.wav"
    subprocess.run(
        [
            ffmpeg,
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=2",
            str(tone),
        ],
        check=True,
    )
    found = probe(tone)
    assert found.duration_s == pytest.approx(2.0, abs=0.05)
    assert found.format == "wav"


def test_results_are_cached_until_the_file_changes(
    ffmpeg: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "kh179.mp3"
    shutil.copy(KH179, copy)
    first = probe(copy)
    calls: list[Path] = []
    real = probe_module._mediainfo

    def counting(path: Path) -> dict[str, object]:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(probe_module, "_mediainfo", counting)
    assert probe(copy) is first
    assert calls == []
    with copy.open("ab") as handle:
        handle.write(b"\0" * 10)
    stat = copy.stat()
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    changed = probe(copy)
    assert calls == [copy]
    assert changed.bytes == first.bytes + 10
    assert changed.sha256 != first.sha256


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match=r"the audio file .*nothing\.mp3 does not exist"):
        probe(tmp_path / "nothing.mp3")


def test_a_folder_is_not_audio(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="is not a file"):
        probe(tmp_path)


def test_a_text_file_is_not_audio(ffmpeg: str, tmp_path: Path) -> None:
    text = tmp_path / "notes.mp3"
    text.write_text("không phải âm thanh\n", encoding="utf-8")
    with pytest.raises(AudioError, match=r"notes\.mp3 is not an audio file that ffprobe can read"):
        probe(text)


def test_without_ffprobe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "kh179.mp3"
    shutil.copy(KH179, copy)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AudioError, match=r"ffprobe is not installed.*apt-get install ffmpeg"):
        probe(copy)
