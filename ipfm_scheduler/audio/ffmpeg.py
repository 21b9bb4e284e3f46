"""ffmpeg and ffprobe run directly: subprocesses with a timeout, output parsed.

Everything else in the project talks about audio in terms of :class:`Probe`, :class:`Loudness`
and :class:`Pass`; only this module (and pydub, in :mod:`ipfm_scheduler.audio.decode` and
:mod:`ipfm_scheduler.audio.probe`) knows ffmpeg's command line and the shape of its logs. The
loudness passes stream through ffmpeg at full quality without holding the recording in memory,
so a long recording costs time, not RAM.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ipfm_scheduler.errors import AudioError
from ipfm_scheduler.i18n import _

FFMPEG = "ffmpeg"
FFPROBE = "ffprobe"
PROBE_TIMEOUT_S = 30.0

_LOUDNORM_JSON = re.compile(r"\{[^{}]*\"input_i\"[^{}]*\}", re.DOTALL)
_ERROR_LINE = re.compile(r"^(?:\[[^\]]+\] )?\[(?:error|fatal|panic)\] (.*)$", re.MULTILINE)
_OUT_TIME = re.compile(r"^out_time_us=(\d+)$", re.MULTILINE)
_SUMMARY_VALUE = r"{key}:\s+(-?(?:\d+(?:\.\d+)?|inf))\s+{unit}"


class FfmpegFailed(AudioError):
    """ffmpeg or ffprobe could not read or write a file. ``detail`` is its own last word."""

    def __init__(self, tool: str, subject: str, detail: str) -> None:
        self.tool = tool
        self.subject = subject
        self.detail = detail
        super().__init__(f"{tool} failed on {subject}: {detail}")


@dataclass(frozen=True, slots=True)
class Probe:
    """What ffprobe says a file holds (its first audio stream)."""

    format_name: str
    codec: str
    duration_s: float | None  # as the file declares it; None when it does not say
    channels: int
    sample_rate: int


@dataclass(frozen=True, slots=True)
class Loudness:
    """An EBU R128 measurement. Values are ``-inf`` for digital silence."""

    integrated_lufs: float
    true_peak_dbtp: float
    lra_lu: float
    threshold_lufs: float


@dataclass(frozen=True, slots=True)
class Pass:
    """One decoding pass through ``loudnorm``: its measurement of the input, what it did."""

    measured: Loudness  # the input of the loudnorm filter, as loudnorm measured it
    normalization: str  # "linear" or "dynamic"
    decoded_s: float  # how much audio was actually decoded
    errors: tuple[str, ...]  # decoding errors ffmpeg reported (a damaged file)


def run(args: Sequence[str], *, timeout_s: float, subject: str) -> subprocess.CompletedProcess[str]:
    """Run ffmpeg/ffprobe with ``args``; a missing tool or a timeout becomes an AudioError."""
    tool = args[0]
    try:
        return subprocess.run(
            list(args),
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout_s,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError as exc:
        raise AudioError(
            _("{tool} is not installed (or not on PATH); install the Debian package ffmpeg").format(
                tool=tool
            )
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise AudioError(
            _("{tool} took longer than {seconds} s on {subject} and was stopped").format(
                tool=tool, seconds=f"{timeout_s:g}", subject=subject
            )
        ) from exc


def _last_words(stderr: str, path: Path | None = None) -> str:
    """ffmpeg's last line of complaint, without the file name it starts with."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    last = lines[-1] if lines else "no message"
    return last.removeprefix(f"{path}: ") if path is not None else last


def probe(path: Path, *, timeout_s: float = PROBE_TIMEOUT_S) -> Probe:
    """Read a file's container and first audio stream, without decoding it."""
    result = run(
        [
            FFPROBE,
            "-v",
            "error",
            "-show_entries",
            "format=format_name,duration:stream=codec_type,codec_name,channels,sample_rate,duration",
            "-of",
            "json",
            str(path),
        ],
        timeout_s=timeout_s,
        subject=path.name,
    )
    if result.returncode != 0:
        raise FfmpegFailed(FFPROBE, path.name, _last_words(result.stderr, path))
    info = json.loads(result.stdout or "{}")
    audio = [s for s in info.get("streams", []) if s.get("codec_type") == "audio"]
    if not audio:
        raise FfmpegFailed(FFPROBE, path.name, "it holds no audio stream")
    stream, fmt = audio[0], info.get("format", {})
    return Probe(
        format_name=str(fmt.get("format_name", "?")),
        codec=str(stream.get("codec_name", "?")),
        duration_s=_number(stream.get("duration")) or _number(fmt.get("duration")),
        channels=int(stream.get("channels") or 0),
        sample_rate=int(stream.get("sample_rate") or 0),
    )


def _number(value: object) -> float | None:
    try:
        number = float(str(value))
    except ValueError:
        return None
    return number if math.isfinite(number) and number > 0 else None


def _float(text: str) -> float:
    """ffmpeg's numbers, where ``-inf``/``inf`` stand for silence."""
    return float(text.strip())


def loudnorm_pass(
    source: Path,
    *,
    filters: str,
    timeout_s: float,
    output: Path | None = None,
    encode: Sequence[str] = (),
) -> Pass:
    """Decode ``source``'s first audio stream through ``filters`` (which must end in a
    ``loudnorm`` with ``print_format=json``). With ``output``, encode to it with ``encode``;
    without, only measure."""
    target = [*encode, "-y", str(output)] if output is not None else ["-f", "null", "-"]
    args = [FFMPEG, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+info"]
    args += ["-progress", "pipe:1", "-i", str(source), "-map", "0:a:0", "-af", filters]
    result = run([*args, *target], timeout_s=timeout_s, subject=source.name)
    errors = tuple(m.group(1).strip() for m in _ERROR_LINE.finditer(result.stderr))
    if result.returncode != 0:
        detail = errors[-1] if errors else _last_words(result.stderr)
        raise FfmpegFailed(FFMPEG, source.name, detail.removeprefix(f"{source}: "))
    found = _LOUDNORM_JSON.search(result.stderr)
    if found is None:
        raise FfmpegFailed(FFMPEG, source.name, "loudnorm printed no measurement")
    stats = json.loads(found.group(0))
    times = _OUT_TIME.findall(result.stdout)
    return Pass(
        measured=Loudness(
            integrated_lufs=_float(stats["input_i"]),
            true_peak_dbtp=_float(stats["input_tp"]),
            lra_lu=_float(stats["input_lra"]),
            threshold_lufs=_float(stats["input_thresh"]),
        ),
        normalization=str(stats.get("normalization_type", "?")),
        decoded_s=int(times[-1]) / 1e6 if times else 0.0,
        errors=errors,
    )


def ebur128(path: Path, *, timeout_s: float) -> Loudness:
    """Measure a file with ffmpeg's ``ebur128`` filter (integrated, true peak, range)."""
    args = [FFMPEG, "-hide_banner", "-nostdin", "-nostats", "-i", str(path), "-map", "0:a:0"]
    args += ["-af", "ebur128=peak=true:framelog=verbose", "-f", "null", "-"]
    result = run(args, timeout_s=timeout_s, subject=path.name)
    summary = result.stderr.rpartition("Summary:")[2]
    if result.returncode != 0 or not summary:
        raise FfmpegFailed(FFMPEG, path.name, _last_words(result.stderr, path))

    def value(key: str, unit: str) -> float:
        found = re.search(_SUMMARY_VALUE.format(key=key, unit=unit), summary)
        if found is None:
            raise FfmpegFailed(FFMPEG, path.name, f"ebur128 printed no {key} value")
        return _float(found.group(1))

    integrated = value("I", "LUFS")
    return Loudness(
        integrated_lufs=integrated,
        true_peak_dbtp=value("Peak", "dBFS"),
        lra_lu=value("LRA", "LU"),
        threshold_lufs=value("Threshold", "LUFS"),
    )
