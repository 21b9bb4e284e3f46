"""Programme audio: import, loudness normalisation (EBU R128), the catalogue.

ffmpeg runs only in :mod:`ipfm_scheduler.audio.ffmpeg`; everything else here speaks in values.
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
