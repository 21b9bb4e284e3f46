"""Programme audio: probing files, import with loudness normalisation (EBU R128), the catalogue.

ffmpeg runs in :mod:`ipfm_scheduler.audio.ffmpeg` (ffprobe, and the loudness passes), and
through pydub in :mod:`ipfm_scheduler.audio.decode` (the import's decode check) and
:mod:`ipfm_scheduler.audio.probe` (a programme's length); everything else here speaks in values.
"""

from __future__ import annotations

from ipfm_scheduler.audio.catalogue import (
    Catalogue,
    CatalogueEntry,
    CheckReport,
    FileState,
    audio_url,
    check,
    sha256_of,
)
from ipfm_scheduler.audio.importer import AudioRefused, import_audio

__all__ = [
    "AudioRefused",
    "Catalogue",
    "CatalogueEntry",
    "CheckReport",
    "FileState",
    "audio_url",
    "check",
    "import_audio",
    "sha256_of",
]
