"""import_audio with the real ffmpeg: formats, loudness, refusals, idempotence."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ipfm_scheduler.audio.catalogue import TEMP_PREFIX, Catalogue, CatalogueEntry
from ipfm_scheduler.audio.importer import AudioRefused, import_audio
from ipfm_scheduler.config.settings import AudioSettings

pytestmark = pytest.mark.ffmpeg
DAY = 23 * 3600.0
NOW = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)
SAMPLE = Path(__file__).resolve().parents[2] / "audio" / "source" / "kh179.mp3"
Measure = Callable[[Path], tuple[float, float]]


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file in a directory with its bytes: to prove nothing changed."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def do_import(source: Path, settings: AudioSettings, **overrides: object) -> CatalogueEntry:
    kwargs: dict[str, object] = {
        "programme": "kh179",
        "title": "Kế hoạch 179",
        "settings": settings,
        "max_duration_s": DAY,
        "now": NOW,
    }
    kwargs.update(overrides)
    return import_audio(source, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("ext", ["wav", "mp3", "m4a", "ogg", "flac"])
def test_each_format_becomes_a_mono_mp3_at_the_target_loudness(
    ext: str,
    media: Path,
    settings: AudioSettings,
    loudness_of: Measure,
    probe_stream: Callable[[Path], dict[str, str]],
) -> None:
    """A WAV/MP3/M4A/OGG/FLAC input is stored as <sha256>.mp3: mono MP3 at the configured
    bitrate and rate, its loudness (ebur128, measured here) within 1 LU of the target."""
    entry = do_import(media / f"speech.{ext}", settings)

    stored = settings.dir / f"{entry.sha256}.mp3"
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == entry.sha256
    assert entry.bytes == stored.stat().st_size
    info = probe_stream(stored)
    assert info["codec_name"] == "mp3"
    assert info["channels"] == "1"
    assert info["sample_rate"] == str(settings.sample_rate)
    assert int(info["bit_rate"]) == settings.bitrate_kbps * 1000
    integrated, peak = loudness_of(stored)
    assert abs(integrated - settings.loudness_lufs) <= 1.0
    assert abs(entry.loudness_lufs - integrated) <= 0.15  # the catalogue records the truth
    assert peak <= settings.true_peak_db + 0.5
    assert 3.9 <= entry.duration_s <= 4.2
    assert entry.source_name == f"speech.{ext}"
    assert entry.added_at == NOW
    assert [e.sha256 for e in Catalogue.load(settings.dir).entries] == [entry.sha256]


@pytest.mark.parametrize(
    ("name", "limited"),
    [("quiet.wav", False), ("hot.wav", True)],
)
def test_quiet_and_peaky_recordings_reach_the_target(
    name: str, limited: bool, media: Path, settings: AudioSettings, loudness_of: Measure
) -> None:
    """A quiet recording is raised by a plain gain; one whose peaks would clip goes through
    the limiter first; both end within 1 LU of the target, peaks under the ceiling."""
    entry = do_import(media / name, settings)

    integrated, peak = loudness_of(settings.dir / entry.file)
    assert abs(integrated - settings.loudness_lufs) <= 1.0
    assert peak <= settings.true_peak_db + 0.5
    assert (entry.limiter_gain_db is not None) is limited
    assert entry.normalisation == "linear"


def test_the_shipped_speech_sample_reaches_the_target(
    settings: AudioSettings,
    loudness_of: Measure,
    make_audio: Callable[..., None],
    tmp_path: Path,
) -> None:
    """Real speech (12 s of the espeak-ng kh179 recording, as WAV) ends within 1 LU."""
    cut = tmp_path / "kh179-part.wav"
    make_audio("-t", "12", "-i", str(SAMPLE), "-c:a", "pcm_s16le", str(cut))

    entry = do_import(cut, settings)

    integrated, _ = loudness_of(settings.dir / entry.file)
    assert abs(integrated - settings.loudness_lufs) <= 1.0


@pytest.fixture(scope="module")
def stocked(media: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An audio directory that already holds one import (to prove refusals keep it)."""
    audio_dir = tmp_path_factory.mktemp("stocked") / "audio"
    audio_dir.mkdir()
    do_import(media / "speech.flac", AudioSettings(dir=audio_dir))
    return audio_dir


Setup = Callable[[Path, Path], tuple[Path, dict[str, object]]]
REFUSALS: list[tuple[str, Setup, str]] = [
    ("missing", lambda m, t: (m / "nowhere.wav", {}), "there is no such file"),
    ("empty", lambda m, t: (m / "empty.wav", {}), "the file is empty (0 bytes)"),
    ("directory", lambda m, t: (m, {}), "it is not a file"),
    (
        "too large",
        lambda m, t: (m / "speech.wav", {"max_input_bytes": 10_000}),
        "larger than the 10.0 kB limit (audio.max_input_bytes)",
    ),
    ("text", lambda m, t: (m / "notes.mp3", {}), "is not an audio file ffmpeg can read"),
    ("picture", lambda m, t: (m / "picture.png", {}), "it holds no audio stream"),
    ("truncated", lambda m, t: (m / "truncated.mp3", {}), "it looks truncated: its header says"),
    ("damaged", lambda m, t: (m / "damaged.flac", {}), "it is damaged: ffmpeg reported"),
    ("silent", lambda m, t: (m / "silence.wav", {}), "it is silent: its loudest sample is at -inf"),
    ("whisper", lambda m, t: (m / "whisper.wav", {}), "peaks above -60 dBFS"),
    (
        "rumble",
        lambda m, t: (m / "rumble.wav", {}),
        "it is silent: integrated loudness -inf LUFS, peak -56.0 dBFS",
    ),
    (
        "too long",
        lambda m, t: (m / "speech.wav", {"max_duration_s": 3.0}),
        "it lasts 0:04 (4.0 s), longer than the longest window (0:03, 3 s)",
    ),
]


@pytest.mark.parametrize(
    ("setup", "expected"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_a_refused_file_leaves_the_audio_dir_untouched(
    setup: Setup, expected: str, media: Path, stocked: Path, tmp_path: Path
) -> None:
    """Each refusal says why in one line naming the file, and writes nothing at all."""
    audio_dir = tmp_path / "audio"
    shutil.copytree(stocked, audio_dir)
    before = snapshot(audio_dir)
    source, changes = setup(media, tmp_path)
    max_duration = changes.pop("max_duration_s", DAY)
    settings = dataclasses.replace(AudioSettings(dir=audio_dir), **changes)  # type: ignore[arg-type]

    with pytest.raises(AudioRefused) as refused:
        do_import(source, settings, max_duration_s=max_duration)

    message = str(refused.value)
    assert expected in message
    assert message.startswith(f"cannot import {source}: ")
    assert "\n" not in message
    assert snapshot(audio_dir) == before


def test_a_refusal_in_a_new_directory_creates_nothing(media: Path, tmp_path: Path) -> None:
    """A file refused before conversion does not even create the audio directory."""
    settings = AudioSettings(dir=tmp_path / "new-audio")
    with pytest.raises(AudioRefused):
        do_import(media / "silence.wav", settings)
    assert not settings.dir.exists()


def test_importing_the_same_bytes_twice_changes_nothing(
    media: Path, settings: AudioSettings
) -> None:
    """The second import returns the first entry (same added_at) and writes nothing."""
    first = do_import(media / "speech.ogg", settings)
    before = snapshot(settings.dir)
    copy = settings.dir.parent / "renamed.ogg"
    shutil.copy(media / "speech.ogg", copy)

    again = do_import(copy, settings, now=NOW + timedelta(days=1), title="other title")

    assert again == first
    assert snapshot(settings.dir) == before


def test_the_same_recording_for_another_programme_gets_its_own_entry(
    media: Path, settings: AudioSettings
) -> None:
    """One file may serve two programmes: two entries, one stored MP3."""
    a = do_import(media / "speech.ogg", settings)
    b = do_import(media / "speech.ogg", settings, programme="kh179-nhac-lai")
    entries = Catalogue.load(settings.dir).entries
    assert [e.programme for e in entries] == ["kh179", "kh179-nhac-lai"]
    assert a.sha256 == b.sha256
    assert len(list(settings.dir.glob("*.mp3"))) == 1


def test_a_lost_file_is_restored_by_importing_again(media: Path, settings: AudioSettings) -> None:
    """If the stored MP3 was deleted, importing the source again writes it back."""
    entry = do_import(media / "speech.ogg", settings)
    (settings.dir / entry.file).unlink()

    again = do_import(media / "speech.ogg", settings, now=NOW + timedelta(hours=1))

    assert (settings.dir / again.file).is_file()
    assert len(Catalogue.load(settings.dir).entries) == 1


def test_conversion_is_byte_identical_across_runs(media: Path, tmp_path: Path) -> None:
    """No encoder tag or timestamp ends up in the MP3: the same input, the same sha256."""
    one = do_import(media / "speech.m4a", AudioSettings(dir=tmp_path / "one"))
    two = do_import(media / "speech.m4a", AudioSettings(dir=tmp_path / "two"))
    assert one.sha256 == two.sha256


def test_the_catalogue_records_what_auditors_need(media: Path, settings: AudioSettings) -> None:
    """catalogue.json holds programme, title, source, duration, bytes, sha256, loudness,
    bitrate, sample rate and when it was added; no temporary file is left behind."""
    entry = do_import(media / "speech.wav", settings)
    document = json.loads((settings.dir / "catalogue.json").read_text(encoding="utf-8"))

    [record] = document["entries"]
    assert document["version"] == 1
    assert record["file"] == f"{entry.sha256}.mp3"
    assert record["programme"] == "kh179"
    assert record["title"] == "Kế hoạch 179"
    assert record["source_name"] == "speech.wav"
    assert record["source_format"] == "wav/pcm_s16le"
    assert record["added_at"] == "2026-11-30T05:00:00+00:00"
    for key in ("duration_s", "bytes", "sha256", "loudness_lufs", "true_peak_dbtp"):
        assert record[key] == getattr(entry, key)
    assert (record["bitrate_kbps"], record["sample_rate"]) == (64, 44100)
    assert not [p for p in settings.dir.iterdir() if p.name.startswith(TEMP_PREFIX)]
