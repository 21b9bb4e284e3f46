"""pydub, the decoder of the import's decode check (ffmpeg behind it).

A recording is decoded in full once, small: mono, 8 kHz, 16-bit (32-bit for float sources):
16 kB per second of audio (58 MB an hour) whatever the source's rate or channels, of which
pydub holds a few copies at once (measured: 107 MB peak for 30 minutes of a 318 MB WAV, 190 MB
for 30 minutes of Opus). The import calls this only after ffprobe has read a length that
fits a window, and the decode stops just past the longest window in any case. What comes
back is what the import needs to refuse a file: how much audio could be decoded, its loudest
sample and its RMS level. Decoding errors stop ffmpeg (``-xerror``) and come back as
:class:`DecodeFailed` with ffmpeg's own words.

pydub puts its ``parameters`` after ffmpeg's output, where ffmpeg ignores per-output options
(``-ac``, ``-ar``, ``-t``); global options still apply there. So the downmix, the resampling
and the length limit are one ``-filter_complex`` (global; its unlabelled output goes to
pydub's output), and ``-timelimit`` (global) stops an ffmpeg that runs too long. pydub reads
a file whose name ends in ``.wav`` itself, whole, in Python; the decode therefore goes through
a symbolic link with another name, so every format goes through ffmpeg and its limits.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from ipfm_scheduler.errors import AudioError
from ipfm_scheduler.i18n import _

#: the decode check's format: enough for damage, length and level, small in memory
DECODE_RATE_HZ = 8000
#: file name endings pydub would not hand to ffmpeg (it reads them itself)
_PYDUB_OWN = {".wav", ".raw", ".pcm"}
_LEVELLED = re.compile(r"^(?:\[[^\]]+\] )?\[(?:error|fatal|panic)\] (.*)$", re.MULTILINE)
_CPU_LIMIT = "received signal 24"  # SIGXCPU: -timelimit ran out


@dataclass(frozen=True, slots=True)
class Decoded:
    """What a full decode found. Levels are dBFS, ``-inf`` for digital silence."""

    duration_s: float
    peak_dbfs: float
    rms_dbfs: float
    channels: int
    sample_rate: int


class DecodeFailed(AudioError):
    """ffmpeg (through pydub) could not decode the whole file. ``detail`` is its first error."""

    def __init__(self, subject: str, detail: str) -> None:
        self.subject = subject
        self.detail = detail
        super().__init__(
            _("ffmpeg could not decode {subject}: {detail}").format(subject=subject, detail=detail)
        )


def parameters(limit_s: float, cpu_limit_s: float) -> list[str]:
    """ffmpeg options (all global, so that they apply where pydub puts them)."""
    chain = (
        f"[0:a:0]atrim=end={limit_s:.3f},"
        f"aformat=sample_fmts=s16:sample_rates={DECODE_RATE_HZ}:channel_layouts=mono"
    )
    return [
        *("-filter_complex", chain),
        "-xerror",  # the first decoding error stops ffmpeg: a damaged file fails
        *("-timelimit", str(max(1, math.ceil(cpu_limit_s)))),
        *("-hide_banner", "-nostats", "-loglevel", "level+info"),
    ]


def decode(path: Path, *, limit_s: float, cpu_limit_s: float) -> Decoded:
    """Decode ``path``'s first audio stream, at most ``limit_s`` seconds of it.

    Raises :class:`DecodeFailed` when ffmpeg reports a decoding error or decodes nothing,
    :class:`AudioError` when ffmpeg is missing or ran longer than ``cpu_limit_s`` (processor
    time).
    """
    with tempfile.TemporaryDirectory(prefix="ipfm-decode-") as folder:
        suffix = path.suffix if path.suffix.lower() not in _PYDUB_OWN else ""
        link = Path(folder) / f"recording{suffix}"
        os.symlink(path.resolve(), link)
        return _from_file(link, path.name, parameters(limit_s, cpu_limit_s), cpu_limit_s)


def _from_file(link: Path, subject: str, options: list[str], cpu_limit_s: float) -> Decoded:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydub warns about audioop and a missing converter
        from pydub import AudioSegment
        from pydub.exceptions import CouldntDecodeError

        try:
            segment = AudioSegment.from_file(str(link), parameters=options)
        except FileNotFoundError as exc:
            raise AudioError(
                _("ffmpeg is not installed (or not on PATH); install the Debian package ffmpeg")
            ) from exc
        except CouldntDecodeError as exc:
            raise _failure(subject, str(exc), cpu_limit_s) from exc
        except (KeyError, IndexError, ValueError) as exc:  # pydub reading ffprobe's answer
            raise DecodeFailed(
                subject, _("pydub cannot read ffprobe's description ({error})").format(error=exc)
            ) from exc
        return Decoded(
            duration_s=len(segment) / 1000.0,
            peak_dbfs=float(segment.max_dBFS),
            rms_dbfs=float(segment.dBFS),
            channels=int(segment.channels),
            sample_rate=int(segment.frame_rate),
        )


def _failure(subject: str, message: str, cpu_limit_s: float) -> AudioError:
    """pydub's CouldntDecodeError (ffmpeg's exit code and whole log) in one line."""
    if _CPU_LIMIT in message:
        return AudioError(
            _(
                "ffmpeg took longer than {seconds} s of processor time on {subject} and was stopped"
            ).format(seconds=math.ceil(cpu_limit_s), subject=subject)
        )
    errors = [m.group(1).strip() for m in _LEVELLED.finditer(message)]
    real = [e for e in errors if not e.startswith("Error while decoding stream")]
    if real or errors:
        return DecodeFailed(subject, (real or errors)[0])
    return DecodeFailed(subject, _("it yields no audio"))
