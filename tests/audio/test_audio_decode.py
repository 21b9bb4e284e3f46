"""The decode check through pydub (with the real ffmpeg behind it), and its place in the import."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ipfm_scheduler.audio import decode, ffmpeg
from ipfm_scheduler.audio.decode import DECODE_RATE_HZ, DecodeFailed
from ipfm_scheduler.audio.importer import AudioRefused, import_audio
from ipfm_scheduler.config.settings import AudioSettings
from ipfm_scheduler.errors import AudioError

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)


@pytest.mark.ffmpeg
@pytest.mark.parametrize("ext", ["wav", "mp3", "m4a", "ogg", "flac"])
def test_every_format_is_decoded_small_by_ffmpeg(ext: str, media: Path) -> None:
    """Stereo 44.1 kHz sources come back mono at 8 kHz: the WAV too, so pydub did not read
    it whole in Python but handed it to ffmpeg with the downmixing filter."""
    found = decode.decode(media / f"speech.{ext}", limit_s=60.0, cpu_limit_s=30.0)
    assert (found.channels, found.sample_rate) == (1, DECODE_RATE_HZ)
    assert 3.95 <= found.duration_s <= 4.1
    assert -13.0 < found.peak_dbfs < -8.0  # the test speech peaks near -10.5 dBFS
    assert -18.0 < found.rms_dbfs < -13.0


@pytest.mark.ffmpeg
def test_the_decode_stops_at_the_limit(media: Path) -> None:
    """At most ``limit_s`` seconds are decoded (memory stays bounded by the longest window)."""
    found = decode.decode(media / "speech.flac", limit_s=1.5, cpu_limit_s=30.0)
    assert found.duration_s == pytest.approx(1.5, abs=0.01)


@pytest.mark.ffmpeg
def test_silence_measures_minus_infinity(media: Path) -> None:
    found = decode.decode(media / "silence.wav", limit_s=60.0, cpu_limit_s=30.0)
    assert found.peak_dbfs == found.rms_dbfs == float("-inf")
    assert found.duration_s == pytest.approx(4.0, abs=0.01)


@pytest.mark.ffmpeg
def test_a_decoding_error_is_one_line_in_ffmpegs_words(media: Path) -> None:
    """A FLAC cut in half stops ffmpeg (-xerror): the detail is its error, not its whole log."""
    with pytest.raises(DecodeFailed) as failed:
        decode.decode(media / "damaged.flac", limit_s=60.0, cpu_limit_s=30.0)
    assert failed.value.detail == "invalid residual"
    assert str(failed.value) == "ffmpeg could not decode damaged.flac: invalid residual"


@pytest.mark.ffmpeg
def test_a_missing_ffmpeg_is_named(media: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pydub import AudioSegment

    monkeypatch.setattr(AudioSegment, "converter", "/nonexistent/ffmpeg")
    with pytest.raises(AudioError, match=r"^ffmpeg is not installed \(or not on PATH\)"):
        decode.decode(media / "speech.mp3", limit_s=60.0, cpu_limit_s=30.0)


def test_ffmpegs_processor_time_limit_becomes_a_timeout_message() -> None:
    """-timelimit ends ffmpeg with SIGXCPU; pydub reports exit code 255 and the whole log."""
    log = (
        "Decoding failed. ffmpeg returned error code: 255\n\nOutput from ffmpeg/avlib:\n\n"
        "[info] size=12652kB time=00:06:44.85\n[info] Exiting normally, received signal 24.\n"
    )
    error = decode._failure("long.ogg", log, 61.2)
    assert not isinstance(error, DecodeFailed)
    assert str(error) == (
        "ffmpeg took longer than 62 s of processor time on long.ogg and was stopped"
    )


def test_the_first_real_error_is_kept_and_the_summary_dropped() -> None:
    log = (
        "Decoding failed. ffmpeg returned error code: 1\n\n"
        "[flac @ 0x55] [error] invalid residual\n[flac @ 0x55] [error] decode_frame() failed\n"
        "[error] Error while decoding stream #0:0: Invalid data found when processing input\n"
    )
    error = decode._failure("x.flac", log, 60)
    assert isinstance(error, DecodeFailed)
    assert error.detail == "invalid residual"


def test_the_options_are_all_global_so_ffmpeg_applies_them_after_the_output() -> None:
    """pydub appends ``parameters`` after ffmpeg's output file, where per-output options
    (-ac, -ar, -t) are ignored: only global ones may be used."""
    options = decode.parameters(3600.0, 3660.4)
    assert options[:2] == [
        "-filter_complex",
        f"[0:a:0]atrim=end=3600.000,aformat=sample_fmts=s16:sample_rates={DECODE_RATE_HZ}"
        ":channel_layouts=mono",
    ]
    assert options[options.index("-timelimit") + 1] == "3661"
    assert "-xerror" in options
    assert not {"-ac", "-ar", "-t", "-af"} & set(options)


@pytest.mark.ffmpeg
def test_a_recording_without_a_declared_length_is_refused_once_the_decode_passes_the_window(
    media: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the header tells no length, the decode itself finds a recording too long, and
    stops one second past the longest window instead of decoding all of it."""
    real_probe = ffmpeg.probe
    monkeypatch.setattr(
        ffmpeg, "probe", lambda path: dataclasses.replace(real_probe(path), duration_s=None)
    )
    limits: list[float] = []
    real_decode = decode.decode

    def spy(path: Path, *, limit_s: float, cpu_limit_s: float) -> decode.Decoded:
        limits.append(limit_s)
        return real_decode(path, limit_s=limit_s, cpu_limit_s=cpu_limit_s)

    monkeypatch.setattr(decode, "decode", spy)
    settings = AudioSettings(dir=tmp_path / "audio")

    with pytest.raises(AudioRefused) as refused:
        import_audio(
            media / "speech.wav",
            programme="kh179",
            title="t",
            settings=settings,
            max_duration_s=2.0,
            now=NOW,
        )

    assert limits == [3.0]
    assert "it lasts longer than the longest window (0:02, 2 s; decoding stopped there)" in str(
        refused.value
    )
    assert not settings.dir.exists()


def test_pydub_is_imported_only_inside_the_audio_package() -> None:
    """pydub is an adapter: wrapped in ipfm_scheduler/audio/, nowhere else."""
    importing = re.compile(r"^\s*(?:from|import)\s+pydub\b", re.MULTILINE)
    outside = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "ipfm_scheduler").rglob("*.py")
        if importing.search(path.read_text(encoding="utf-8"))
        and (ROOT / "ipfm_scheduler" / "audio") not in path.parents
    ]
    assert outside == []
