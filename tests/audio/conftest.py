"""Test recordings, generated with the real ffmpeg at test time (a few seconds each)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from ipfm_scheduler.config.settings import AudioSettings

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "audio" / "source" / "kh179.mp3"  # the espeak-ng original
#: syllable-like: a 220 Hz voice swelling 3 times a second, a 660 Hz overtone at 5 Hz; stereo
SPEECH = (
    "aevalsrc=exprs='{a}*sin(2*PI*220*t)*(0.55+0.45*sin(2*PI*3*t))"
    "+{b}*sin(2*PI*660*t)*(0.5+0.5*sin(2*PI*5*t))|{a}*sin(2*PI*220*t)*(0.55+0.45*sin(2*PI*3*t))'"
    ":s=44100:d=4"
)
#: quiet speech with loud plosive-like bursts: a plain gain would clip, the limiter is needed
HOT = (
    "aevalsrc=exprs='0.08*sin(2*PI*220*t)*(0.55+0.45*sin(2*PI*3*t))"
    "+0.9*lt(mod(t\\,0.7)\\,0.012)*sin(2*PI*180*t)':s=44100:d=4"
)


def run_ffmpeg(ffmpeg: str, *args: str) -> None:
    subprocess.run([ffmpeg, "-hide_banner", "-v", "error", "-y", *args], check=True, timeout=120)


def measure_loudness(ffmpeg: str, path: Path) -> tuple[float, float]:
    """Integrated loudness (LUFS) and true peak (dBTP) by ffmpeg's ebur128, read here
    independently of the code under test."""
    out = subprocess.run(
        [
            ffmpeg,
            "-hide_banner",
            "-nostats",
            "-i",
            str(path),
            "-af",
            "ebur128=peak=true",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stderr.rpartition("Summary:")[2]
    integrated = re.search(r"\bI:\s+(-?[\d.]+) LUFS", out)
    peak = re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", out)
    assert integrated, out
    assert peak, out
    return float(integrated.group(1)), float(peak.group(1))


def stream_info(path: Path) -> dict[str, str]:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "a:0",
            "-show_entries",
            "stream=codec_name,channels,sample_rate,bit_rate",
            "-of",
            "default=nw=1",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return dict(line.split("=", 1) for line in out.split())


@pytest.fixture(scope="session")
def media(ffmpeg: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of inputs: speech in every format, quiet, hot, silent, damaged, not audio."""
    d = tmp_path_factory.mktemp("media")
    run_ffmpeg(ffmpeg, "-f", "lavfi", "-i", SPEECH.format(a=0.3, b=0.1), str(d / "speech.wav"))
    for ext in ("mp3", "m4a", "ogg", "flac"):
        run_ffmpeg(ffmpeg, "-i", str(d / "speech.wav"), str(d / f"speech.{ext}"))
    run_ffmpeg(ffmpeg, "-f", "lavfi", "-i", SPEECH.format(a=0.01, b=0.003), str(d / "quiet.wav"))
    run_ffmpeg(ffmpeg, "-f", "lavfi", "-i", HOT, str(d / "hot.wav"))
    run_ffmpeg(
        ffmpeg, "-f", "lavfi", "-i", "anullsrc=r=44100:cl=stereo", "-t", "4", str(d / "silence.wav")
    )
    run_ffmpeg(
        ffmpeg,
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=4",
        "-af",
        "volume=-60dB",
        str(d / "whisper.wav"),
    )
    # 20 Hz hum peaking at -56 dBFS: loud enough for the decode check's peak and RMS floors,
    # below EBU R128's absolute gate (K-weighting all but ignores 20 Hz)
    run_ffmpeg(
        ffmpeg, "-f", "lavfi", "-i", "sine=f=20:d=4", "-af", "volume=-38dB", str(d / "rumble.wav")
    )
    run_ffmpeg(
        ffmpeg,
        "-f",
        "lavfi",
        "-i",
        "color=c=red:s=32x32:d=1",
        "-frames:v",
        "1",
        str(d / "picture.png"),
    )
    mp3 = (d / "speech.mp3").read_bytes()
    (d / "truncated.mp3").write_bytes(mp3[: len(mp3) // 2])
    flac = (d / "speech.flac").read_bytes()
    (d / "damaged.flac").write_bytes(flac[: len(flac) // 2])
    (d / "notes.mp3").write_text("Kế hoạch 179: this is a text file, not audio\n")
    (d / "empty.wav").write_bytes(b"")
    return d


@pytest.fixture(scope="session")
def loudness_of(ffmpeg: str) -> Callable[[Path], tuple[float, float]]:
    """Measures a file's integrated loudness and true peak (the test's own ebur128 run)."""
    return lambda path: measure_loudness(ffmpeg, path)


@pytest.fixture(scope="session")
def make_audio(ffmpeg: str) -> Callable[..., None]:
    """Runs ffmpeg with the given arguments (to cut or convert test inputs)."""
    return lambda *args: run_ffmpeg(ffmpeg, *args)


@pytest.fixture(scope="session")
def probe_stream() -> Callable[[Path], dict[str, str]]:
    """ffprobe's view of a file's first audio stream (codec, channels, rate, bitrate)."""
    return stream_info


@pytest.fixture
def settings(tmp_path: Path) -> AudioSettings:
    """Default station audio settings, with an audio directory of the test's own."""
    audio_dir = tmp_path / "audio"
    audio_dir.mkdir()
    return AudioSettings(dir=audio_dir)
