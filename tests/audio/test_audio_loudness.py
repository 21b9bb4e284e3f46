"""The normalisation plan (pure) and the ffmpeg wrapper's failure modes."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ipfm_scheduler.audio import ffmpeg as wrapper
from ipfm_scheduler.audio import loudness
from ipfm_scheduler.audio.ffmpeg import Loudness
from ipfm_scheduler.audio.loudness import Target
from ipfm_scheduler.errors import AudioError, ValueInvalid

TARGET = Target(loudness_lufs=-16.0, true_peak_db=-1.5, bitrate_kbps=64, sample_rate=44100)


def measured(i: float, tp: float, lra: float = 3.0, thresh: float = -30.0) -> Loudness:
    return Loudness(i, tp, lra, thresh)


@pytest.mark.parametrize(
    ("i", "tp", "silent"),
    [
        (-math.inf, -math.inf, True),  # digital silence
        (-75.0, -40.0, True),  # under the EBU R128 absolute gate
        (-55.0, -62.0, True),  # peaks below -60 dBFS: only noise to amplify
        (-40.0, -30.0, False),  # quiet, but a recording
        (math.nan, -10.0, True),
    ],
)
def test_silence_is_measured_not_guessed(i: float, tp: float, silent: bool) -> None:
    assert loudness.is_silent(measured(i, tp)) is silent


def test_a_plain_gain_is_enough_when_peaks_stay_under_the_ceiling() -> None:
    """-30 LUFS with peaks at -20: +14 dB puts peaks at -6, under -1.5: no limiter."""
    assert loudness.peaks_fit(measured(-30.0, -20.0), TARGET)
    assert not loudness.peaks_fit(measured(-20.0, -1.0), TARGET)  # +4 dB: peaks at +3


def test_the_limiter_sits_in_front_of_loudnorm_only_when_needed() -> None:
    """No gain: just the mono downmix. A gain: volume, then a limiter 1 dB under the
    ceiling with its automatic level-up turned off."""
    assert loudness.front_filters(None, TARGET) == "aformat=channel_layouts=mono"
    chain = loudness.front_filters(5.0, TARGET)
    assert chain.startswith("aformat=channel_layouts=mono,volume=5.00dB,alimiter=limit=0.7499")
    assert "level=false" in chain


def test_the_second_pass_gets_the_measured_values_and_linear_mode() -> None:
    """loudnorm gets the first pass's values; a range of 0 is passed as 0.01 (0 would mean
    'not measured' and forbid linear mode); a wide range is kept, not squeezed."""
    steady = loudness.apply_filters("F", TARGET, measured(-30.0, -20.0, lra=0.0, thresh=-40.0))
    assert "measured_I=-30.00:measured_TP=-20.00:measured_LRA=0.01:measured_thresh=-40.00" in (
        steady
    )
    assert "linear=true" in steady
    assert steady.endswith("aresample=44100")
    wide = loudness.apply_filters("F", TARGET, measured(-30.0, -20.0, lra=17.2))
    assert ":LRA=18.0:" in wide


def test_targets_outside_what_loudnorm_and_mp3_allow_are_refused() -> None:
    with pytest.raises(ValueInvalid, match="loudness target"):
        Target(-3.0, -1.5, 64, 44100)
    with pytest.raises(ValueInvalid, match="true-peak"):
        Target(-16.0, 1.0, 64, 44100)
    with pytest.raises(ValueInvalid, match="sample rate"):
        Target(-16.0, -1.5, 64, 96000)


def test_the_mp3_carries_no_tags_or_encoder_version() -> None:
    """Byte-identical output: metadata dropped, bit-exact flags set."""
    args = loudness.mp3_args(TARGET)
    assert args[args.index("-map_metadata") :][:2] == ["-map_metadata", "-1"]
    assert "+bitexact" in args
    assert args[args.index("-b:a") + 1] == "64k"


def test_a_missing_ffmpeg_is_named_with_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(wrapper, "FFPROBE", "ffprobe-not-installed-here")
    with pytest.raises(AudioError, match=r"ffprobe-not-installed-here is not installed .* ffmpeg"):
        wrapper.probe(tmp_path / "x.wav")


@pytest.mark.ffmpeg
def test_an_ffmpeg_run_that_takes_too_long_is_stopped(ffmpeg: str) -> None:
    """The wrapper kills ffmpeg at the timeout and says so."""
    endless = [ffmpeg, "-nostdin", "-re", "-f", "lavfi", "-i", "anullsrc", "-f", "null", "-"]
    with pytest.raises(AudioError, match=r"took longer than 0.3 s on test input and was stopped"):
        wrapper.run(endless, timeout_s=0.3, subject="test input")
