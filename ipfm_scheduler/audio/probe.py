"""What a programme's audio file is: its checksum, size and duration (ffprobe, through pydub).

Results are cached per (path, size, modification time) within the process, so validating many
wards that air the same programme reads the file once, and a changed file is read again.
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from pathlib import Path

from ipfm_scheduler.audio.files import AudioFile
from ipfm_scheduler.errors import AudioError
from ipfm_scheduler.i18n import _

_CHUNK = 1 << 20
_cache: dict[tuple[str, int, int], AudioFile] = {}
_lock = threading.Lock()


def probe(path: Path) -> AudioFile:
    """Checksum, size and duration of the audio file at ``path``.

    Raises :class:`AudioError` when the file is missing, unreadable, or not audio that ffprobe
    understands.
    """
    try:
        stat = path.stat()
    except FileNotFoundError as exc:
        raise AudioError(_("the audio file {path} does not exist").format(path=path)) from exc
    except OSError as exc:
        raise AudioError(
            _("the audio file {path} cannot be read: {strerror}").format(
                path=path, strerror=exc.strerror
            )
        ) from exc
    if not path.is_file():
        raise AudioError(_("{path} is not a file").format(path=path))
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    found = AudioFile(
        path=path,
        sha256=_sha256(path),
        bytes=stat.st_size,
        duration_s=_duration(path),
        format=_format(path),
    )
    with _lock:
        _cache[key] = found
    return found


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise AudioError(
            _("the audio file {path} cannot be read: {strerror}").format(
                path=path, strerror=exc.strerror
            )
        ) from exc
    return digest.hexdigest()


def _mediainfo(path: Path) -> dict[str, object]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydub warns about audioop and a missing prober
        from pydub.utils import mediainfo

        try:
            info: dict[str, object] = mediainfo(str(path))
        except FileNotFoundError as exc:
            raise AudioError(
                _(
                    "ffprobe is not installed: it is needed to read audio files "
                    "(on Debian/Ubuntu: apt-get install ffmpeg)"
                )
            ) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise AudioError(
                _("ffprobe could not read {path}: {error}").format(path=path, error=exc)
            ) from exc
    return info


def _duration(path: Path) -> float:
    info = _mediainfo(path)
    try:
        duration = float(str(info["duration"]))
    except (KeyError, ValueError) as exc:
        raise AudioError(
            _("{path} is not an audio file that ffprobe can read").format(path=path)
        ) from exc
    if not duration > 0:
        raise AudioError(
            _("{path} holds no sound (its duration is {duration} s)").format(
                path=path, duration=duration
            )
        )
    return duration


def _format(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    return suffix or "mp3"
