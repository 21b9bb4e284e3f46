"""What the audio code and the station file both speak of: a stored recording, and where
recordings live with the format an import produces.

The station file's loader (:mod:`ipfm_scheduler.config`) builds these; the audio code makes and
reads the files. They are defined here, beside the audio code, so that it imports nothing of
the configuration (:mod:`ipfm_scheduler.config.settings` names them among the station's values).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class AudioSettings:
    """Where programme audio lives and how receivers download it."""

    dir: Path
    base_url: str = "http://127.0.0.1:8079/audio"
    # what `ipfm-scheduler audio add` produces (the format receivers play)
    loudness_lufs: float = -16.0  # integrated loudness target, EBU R128
    true_peak_db: float = -1.5
    bitrate_kbps: int = 64
    sample_rate: int = 44100
    max_input_bytes: int = 500 * 1024 * 1024  # larger files are refused


@dataclass(frozen=True, slots=True)
class AudioFile:
    """A programme's recording on disk, as receivers will fetch it."""

    path: Path
    sha256: str
    bytes: int
    duration_s: float
    format: str = "mp3"
