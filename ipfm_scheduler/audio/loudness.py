"""Loudness normalisation to EBU R128: how a recording is brought to the station's target.

The recipe, through ffmpeg's ``loudnorm`` filter:

1. measure the untouched recording (downmixed to mono, as receivers will play it);
2. if a plain gain to the target would push its peaks over the true-peak ceiling, put a
   look-ahead limiter in front (gain, then peaks held below the ceiling) and measure again,
   until a plain gain fits (at most :data:`LIMIT_ROUNDS` times);
3. apply ``loudnorm`` with the measured values and ``linear=true``: a single gain for the whole
   recording, so speech keeps its natural dynamics. ``loudnorm`` itself falls back to its
   dynamic mode where a linear gain is impossible; which one ran is recorded;
4. measure the written MP3 independently with ``ebur128`` and record that.

Step 2 exists because ``loudnorm``'s dynamic mode undershoots on speech with high peaks (the
shipped espeak-ng sample ends 1.3 LU short of -16 LUFS without it).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

from ipfm_scheduler.audio import ffmpeg
from ipfm_scheduler.audio.ffmpeg import Loudness, Pass
from ipfm_scheduler.errors import ValueInvalid
from ipfm_scheduler.i18n import _

#: the loudness range loudnorm aims for; a recording with a wider range keeps it (linear gain)
LRA_TARGET_LU = 11.0
LRA_MAX_LU = 50.0  # loudnorm's upper bound
#: the limiter holds sample peaks this far below the true-peak ceiling (inter-sample peaks and
#: MP3 encoding add up to about this much)
LIMITER_MARGIN_DB = 1.0
LIMIT_ROUNDS = 3
MAX_GAIN_DB = 40.0
#: below these, a recording is silent: nothing to normalise, only noise to amplify
SILENT_BELOW_LUFS = -70.0  # the absolute gate of EBU R128
PEAK_FLOOR_DBFS = -60.0
#: how far the result may sit from the target
TOLERANCE_LU = 1.0
#: a result further than this from the target is encoded once more, aiming higher or lower
RETRY_ABOVE_LU = 0.2
MAX_RETRY_SHIFT_LU = 3.0


@dataclass(frozen=True, slots=True)
class Target:
    """What a normalised recording must sound like, and the MP3 it is written as."""

    loudness_lufs: float
    true_peak_db: float
    bitrate_kbps: int
    sample_rate: int

    def __post_init__(self) -> None:
        if not -70.0 <= self.loudness_lufs <= -5.0:
            raise ValueInvalid(
                _("loudness target {value} LUFS is not -70 to -5").format(value=self.loudness_lufs)
            )
        if not -9.0 <= self.true_peak_db <= 0.0:
            raise ValueInvalid(
                _("true-peak ceiling {value} dB is not -9 to 0").format(value=self.true_peak_db)
            )
        if not 8 <= self.bitrate_kbps <= 320:
            raise ValueInvalid(
                _("bitrate {value} kb/s is not 8 to 320").format(value=self.bitrate_kbps)
            )
        if self.sample_rate not in {8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000}:
            raise ValueInvalid(
                _("sample rate {value} Hz is not one MP3 supports").format(value=self.sample_rate)
            )


@dataclass(frozen=True, slots=True)
class Normalised:
    """What :func:`normalise` did and what came out."""

    result: Loudness  # the written MP3, measured by ebur128
    normalization: str  # "linear" or "dynamic" (loudnorm's own word)
    limiter_gain_db: float | None  # the gain put in front of the limiter, when one was needed


def is_silent(measured: Loudness) -> bool:
    """True for a recording with nothing (or next to nothing) to hear."""
    loud_enough = measured.integrated_lufs >= SILENT_BELOW_LUFS
    peaks = measured.true_peak_dbtp > PEAK_FLOOR_DBFS
    return not (loud_enough and peaks)  # also true for NaN


def gain_to(measured: Loudness, target: Target) -> float:
    return target.loudness_lufs - measured.integrated_lufs


def peaks_fit(measured: Loudness, target: Target) -> bool:
    """True if a plain gain to the target keeps the true peak under the ceiling."""
    return measured.true_peak_dbtp + gain_to(measured, target) <= target.true_peak_db


def front_filters(limiter_gain_db: float | None, target: Target) -> str:
    """Downmix to mono; with a gain, also amplify and hold peaks under the ceiling."""
    chain = ["aformat=channel_layouts=mono"]
    if limiter_gain_db is not None:
        ceiling = 10 ** ((target.true_peak_db - LIMITER_MARGIN_DB) / 20)
        chain.append(f"volume={limiter_gain_db:.2f}dB")
        chain.append(f"alimiter=limit={ceiling:.4f}:attack=5:release=50:level=false")
    return ",".join(chain)


def _loudnorm(target: Target, lra: float) -> str:
    return f"loudnorm=I={target.loudness_lufs:.1f}:TP={target.true_peak_db:.1f}:LRA={lra:.1f}"


def measure_filters(front: str, target: Target) -> str:
    return f"{front},{_loudnorm(target, LRA_TARGET_LU)}:print_format=json"


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def apply_filters(front: str, target: Target, measured: Loudness) -> str:
    """The second ``loudnorm`` pass, fed with the first pass's measurement.

    ``loudnorm`` reads a measured range of 0 as "not given" and then refuses linear mode, so a
    recording too short or too steady to have a range is passed as 0.01 LU.
    """
    lra_target = _clamp(math.ceil(measured.lra_lu), LRA_TARGET_LU, LRA_MAX_LU)
    values = (
        f"measured_I={_clamp(measured.integrated_lufs, -99.0, -0.01):.2f}"
        f":measured_TP={_clamp(measured.true_peak_dbtp, -99.0, 99.0):.2f}"
        f":measured_LRA={_clamp(measured.lra_lu, 0.01, 99.0):.2f}"
        f":measured_thresh={_clamp(measured.threshold_lufs, -99.0, -0.01):.2f}"
    )
    return (
        f"{front},{_loudnorm(target, lra_target)}:{values}:linear=true:print_format=json,"
        f"aresample={target.sample_rate}"
    )


def mp3_args(target: Target) -> list[str]:
    """Encode options: mono MP3 at the target rate, no tags, byte-identical on every run."""
    return [
        *("-ac", "1", "-ar", str(target.sample_rate)),
        *("-c:a", "libmp3lame", "-b:a", f"{target.bitrate_kbps}k"),
        *("-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact"),
        *("-f", "mp3"),
    ]


def _limiter_gain(
    source: Path, target: Target, first: Pass, timeout_s: float
) -> tuple[float | None, Pass]:
    """The gain to put in front of a limiter (None: peaks fit, no limiter), and the
    measurement of what loudnorm will then be fed."""
    if peaks_fit(first.measured, target):
        return None, first
    gain = _clamp(gain_to(first.measured, target), 0.0, MAX_GAIN_DB)
    measured = first
    for round_ in range(1, LIMIT_ROUNDS + 1):
        filters = measure_filters(front_filters(gain, target), target)
        measured = ffmpeg.loudnorm_pass(source, filters=filters, timeout_s=timeout_s)
        if peaks_fit(measured.measured, target) or gain >= MAX_GAIN_DB or round_ == LIMIT_ROUNDS:
            break
        gain = _clamp(gain + gain_to(measured.measured, target), 0.0, MAX_GAIN_DB)
    return gain, measured


def measure(source: Path, target: Target, *, timeout_s: float) -> Pass:
    """First pass: the untouched recording, downmixed to mono (also finds damage)."""
    front = front_filters(None, target)
    return ffmpeg.loudnorm_pass(source, filters=measure_filters(front, target), timeout_s=timeout_s)


def _encode(
    source: Path,
    output: Path,
    target: Target,
    *,
    gain: float | None,
    fed: Loudness,
    timeout_s: float,
) -> Normalised:
    applied = ffmpeg.loudnorm_pass(
        source,
        filters=apply_filters(front_filters(gain, target), target, fed),
        timeout_s=timeout_s,
        output=output,
        encode=mp3_args(target),
    )
    return Normalised(
        result=ffmpeg.ebur128(output, timeout_s=timeout_s),
        normalization=applied.normalization,
        limiter_gain_db=gain,
    )


def _attempt(
    source: Path, output: Path, aimed: Target, *, first: Pass, timeout_s: float
) -> Normalised:
    """Limiter (where needed), then loudnorm aiming at ``aimed``, written to ``output``."""
    gain, fed = _limiter_gain(source, aimed, first, timeout_s)
    return _encode(source, output, aimed, gain=gain, fed=fed.measured, timeout_s=timeout_s)


def normalise(
    source: Path, output: Path, target: Target, *, first: Pass, timeout_s: float
) -> Normalised:
    """Write ``source`` to ``output`` as an MP3 at the target loudness; measure the result.

    The MP3 encoder (constant bitrate) itself takes a few tenths of an LU off; when the result
    misses the target by more than :data:`RETRY_ABOVE_LU`, the encode runs once more aiming
    that much higher, and the closer of the two is kept.
    """
    done = _attempt(source, output, target, first=first, timeout_s=timeout_s)
    miss = target.loudness_lufs - done.result.integrated_lufs
    if not (math.isfinite(miss) and RETRY_ABOVE_LU < abs(miss) <= MAX_RETRY_SHIFT_LU):
        return done
    retry_path = output.with_name(output.name + ".retry")
    try:
        aimed = replace(target, loudness_lufs=_clamp(target.loudness_lufs + miss, -70.0, -5.0))
        retry = _attempt(source, retry_path, aimed, first=first, timeout_s=timeout_s)
        if abs(target.loudness_lufs - retry.result.integrated_lufs) < abs(miss):
            os.replace(retry_path, output)
            return retry
        return done
    finally:
        retry_path.unlink(missing_ok=True)
