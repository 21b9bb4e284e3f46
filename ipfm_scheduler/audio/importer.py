"""``import_audio``: a recording from the media centre becomes a catalogued, normalised MP3.

Checks run cheapest first (the file itself, then what ffprobe reads from its header, then a
full decode through pydub, small and stopped just past the longest window, then loudnorm's
measuring pass), and nothing is written to the audio directory until every check has passed:
the MP3 is encoded to a temporary file there, renamed to ``<sha256>.mp3`` when it is complete,
and the catalogue is updated last. A refusal leaves the directory exactly as it was.
"""

from __future__ import annotations

import logging
import os
import tempfile
from datetime import datetime
from pathlib import Path

from ipfm_scheduler.audio import catalogue, decode, ffmpeg, loudness
from ipfm_scheduler.audio.catalogue import Catalogue, CatalogueEntry, FileState, ImportKey
from ipfm_scheduler.audio.decode import Decoded, DecodeFailed
from ipfm_scheduler.audio.ffmpeg import FfmpegFailed, Pass, Probe
from ipfm_scheduler.audio.files import AudioSettings
from ipfm_scheduler.audio.loudness import Normalised, Target
from ipfm_scheduler.core.ids import check_name
from ipfm_scheduler.errors import AudioError, ValueInvalid
from ipfm_scheduler.i18n import _

log = logging.getLogger(__name__)

#: a decode that yields less than the header declares, by more than this, is a truncated file
TRUNCATED_SLACK_S = 0.5
TRUNCATED_SLACK_RATIO = 0.02
#: each ffmpeg run may take this long plus the recording's own length (ffmpeg runs far faster)
TIMEOUT_BASE_S = 60.0
#: the decode check stops this far past the longest window (a longer recording is refused)
DECODE_BEYOND_S = 1.0
#: at or below these levels (dBFS, from the decode check) a recording is silent
PEAK_FLOOR_DBFS = loudness.PEAK_FLOOR_DBFS
RMS_FLOOR_DBFS = -70.0


class AudioRefused(AudioError):
    """A recording that cannot be imported; the message says why, in plain words."""

    def __init__(self, source: Path, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(_("cannot import {source}: {reason}").format(source=source, reason=reason))


def target_of(settings: AudioSettings) -> Target:
    """The normalisation target the station's audio settings ask for."""
    try:
        return Target(
            settings.loudness_lufs,
            settings.true_peak_db,
            settings.bitrate_kbps,
            settings.sample_rate,
        )
    except ValueInvalid as exc:
        raise AudioError(_("the audio settings are not usable: {error}").format(error=exc)) from exc


def duration_text(seconds: float) -> str:
    """``754.0`` -> ``12:34``; ``3900`` -> ``1:05:00``."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def size_text(count: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


def _check_file(source: Path, max_bytes: int) -> int:
    """The file exists, is a regular file, is not empty and not too large: its size."""
    try:
        info = source.stat()
    except FileNotFoundError:
        raise AudioRefused(source, _("there is no such file")) from None
    except OSError as exc:
        raise AudioRefused(
            source, _("it cannot be read ({strerror})").format(strerror=exc.strerror)
        ) from exc
    if not source.is_file():
        raise AudioRefused(source, _("it is not a file (a directory or a device?)"))
    if info.st_size == 0:
        raise AudioRefused(source, _("the file is empty (0 bytes)"))
    if info.st_size > max_bytes:
        raise AudioRefused(
            source,
            _("it is {size}, larger than the {limit} limit (audio.max_input_bytes)").format(
                size=size_text(info.st_size), limit=size_text(max_bytes)
            ),
        )
    return info.st_size


def _too_long(source: Path, duration_s: float, max_duration_s: float) -> AudioRefused:
    return AudioRefused(
        source,
        _(
            "it lasts {length} ({duration_s} s), longer than the longest window "
            "({window}, {max_duration_s} s): it could never air in full"
        ).format(
            length=duration_text(duration_s),
            duration_s=f"{duration_s:.1f}",
            window=duration_text(max_duration_s),
            max_duration_s=f"{max_duration_s:.0f}",
        ),
    )


def _not_audio(source: Path, exc: FfmpegFailed) -> AudioRefused:
    return AudioRefused(
        source,
        _("it is not an audio file ffmpeg can read ({tool} says: {detail})").format(
            tool=exc.tool, detail=exc.detail
        ),
    )


def _probe(source: Path, max_duration_s: float) -> Probe:
    try:
        found = ffmpeg.probe(source)
    except FfmpegFailed as exc:
        raise _not_audio(source, exc) from exc
    if found.duration_s is not None and found.duration_s > max_duration_s:
        raise _too_long(source, found.duration_s, max_duration_s)
    return found


def _decode(source: Path, max_duration_s: float, timeout_s: float) -> Decoded:
    """pydub's full decode (mono, 8 kHz), stopped just past the longest window."""
    try:
        return decode.decode(
            source, limit_s=max_duration_s + DECODE_BEYOND_S, cpu_limit_s=timeout_s
        )
    except DecodeFailed as exc:
        raise _damaged(source, exc.detail) from exc


def _damaged(source: Path, first_error: str, count: int = 1) -> AudioRefused:
    errors = (
        _("a decoding error")
        if count == 1
        else _("{count} decoding errors, the first").format(count=count)
    )
    return AudioRefused(
        source,
        _("it is damaged: ffmpeg reported {errors}: {first_error}").format(
            errors=errors, first_error=first_error
        ),
    )


def _check_decoded(source: Path, probe: Probe, decoded: Decoded, max_duration_s: float) -> None:
    """The full decode: truncation, length and silence (damage stopped the decode)."""
    declared = probe.duration_s
    if declared is not None and declared - decoded.duration_s > max(
        TRUNCATED_SLACK_S, TRUNCATED_SLACK_RATIO * declared
    ):
        raise AudioRefused(
            source,
            _(
                "it looks truncated: its header says {declared} s, but only {duration_s} s of "
                "audio could be decoded"
            ).format(declared=f"{declared:.1f}", duration_s=f"{decoded.duration_s:.1f}"),
        )
    if decoded.duration_s > max_duration_s:
        raise AudioRefused(
            source,
            _(
                "it lasts longer than the longest window ({length}, {max_duration_s} s; "
                "decoding stopped there): it could never air in full"
            ).format(length=duration_text(max_duration_s), max_duration_s=f"{max_duration_s:.0f}"),
        )
    if decoded.peak_dbfs <= PEAK_FLOOR_DBFS or decoded.rms_dbfs <= RMS_FLOOR_DBFS:
        raise AudioRefused(
            source,
            _(
                "it is silent: its loudest sample is at {peak_dbfs} dBFS, its RMS level "
                "{rms_dbfs} dBFS (a recording needs peaks above {peak_floor} dBFS and an RMS "
                "level above {rms_floor} dBFS)"
            ).format(
                peak_dbfs=f"{decoded.peak_dbfs:.1f}",
                rms_dbfs=f"{decoded.rms_dbfs:.1f}",
                peak_floor=f"{PEAK_FLOOR_DBFS:.0f}",
                rms_floor=f"{RMS_FLOOR_DBFS:.0f}",
            ),
        )


def _check_measured(source: Path, first: Pass) -> None:
    """What loudnorm's measuring pass adds: errors pydub's decode did not stop on, and
    loudness (EBU R128, gated) too low to normalise."""
    if first.errors:
        raise _damaged(source, first.errors[0], len(first.errors))
    if loudness.is_silent(first.measured):
        m = first.measured
        raise AudioRefused(
            source,
            _(
                "it is silent: integrated loudness {integrated_lufs} LUFS, peak {true_peak_dbtp} "
                "dBFS (a recording needs at least {silent_below} LUFS and peaks above "
                "{peak_floor} dBFS)"
            ).format(
                integrated_lufs=f"{m.integrated_lufs:.1f}",
                true_peak_dbtp=f"{m.true_peak_dbtp:.1f}",
                silent_below=f"{loudness.SILENT_BELOW_LUFS:.0f}",
                peak_floor=f"{PEAK_FLOOR_DBFS:.0f}",
            ),
        )


def _check_result(source: Path, done: Normalised, target: Target) -> None:
    miss = done.result.integrated_lufs - target.loudness_lufs
    if not abs(miss) <= loudness.TOLERANCE_LU:
        raise AudioRefused(
            source,
            _(
                "after normalisation it measures {integrated_lufs} LUFS, more than {tolerance} "
                "LU from the target {loudness_lufs} LUFS (the recording's dynamics defeat "
                "loudnorm; try a less dynamic master)"
            ).format(
                integrated_lufs=f"{done.result.integrated_lufs:.1f}",
                tolerance=f"{loudness.TOLERANCE_LU:.0f}",
                loudness_lufs=f"{target.loudness_lufs:.1f}",
            ),
        )


def import_audio(
    source: Path,
    *,
    programme: str,
    title: str,
    settings: AudioSettings,
    max_duration_s: float,
    now: datetime,
) -> CatalogueEntry:
    """Import ``source`` for ``programme`` into ``settings.dir``; return its catalogue entry.

    Importing the same bytes again for the same programme (and target) returns the existing
    entry and writes nothing. Raises :class:`AudioRefused` (an :class:`AudioError`) with a
    one-line reason for a missing, empty, oversized, unreadable, damaged, truncated, silent or
    too long recording; the audio directory is then left as it was.
    """
    check_name(programme, "programme id")
    target = target_of(settings)
    source_bytes = _check_file(source, settings.max_input_bytes)
    t = target
    key = ImportKey(
        programme, catalogue.sha256_of(source), t.loudness_lufs, t.true_peak_db,
        t.bitrate_kbps, t.sample_rate,
    )  # fmt: skip
    existing = _already_imported(settings.dir, key)
    if existing is not None:
        log.info(_("%s is already catalogued for %s as %s"), source, programme, existing.file)
        return existing
    probe, first, timeout_s = _inspect(source, target, max_duration_s)
    settings.dir.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=settings.dir, prefix=catalogue.TEMP_PREFIX, suffix=".mp3")
    os.close(fd)
    temp = Path(temp_name)
    try:
        done = loudness.normalise(source, temp, target, first=first, timeout_s=timeout_s)
        _check_result(source, done, target)
        entry = _entry(key, temp, done, title=title, now=now, source=(source, source_bytes, probe))
        _store(temp, entry, settings.dir)
    finally:
        temp.unlink(missing_ok=True)
    log.info(_("imported %s for programme %s as %s"), source, programme, entry.file)
    return entry


def _inspect(source: Path, target: Target, max_duration_s: float) -> tuple[Probe, Pass, float]:
    """Header (ffprobe), then the decode check (pydub), then loudnorm's measuring pass:
    what the file is, how it measures, the ffmpeg timeout."""
    probe = _probe(source, max_duration_s)
    timeout_s = TIMEOUT_BASE_S + (probe.duration_s or max_duration_s)
    _check_decoded(source, probe, _decode(source, max_duration_s, timeout_s), max_duration_s)
    try:
        first = loudness.measure(source, target, timeout_s=timeout_s)
    except FfmpegFailed as exc:
        raise _not_audio(source, exc) from exc
    _check_measured(source, first)
    return probe, first, timeout_s


def _entry(
    key: ImportKey,
    stored: Path,
    done: Normalised,
    *,
    title: str,
    now: datetime,
    source: tuple[Path, int, Probe],
) -> CatalogueEntry:
    """The catalogue entry of a finished, measured MP3."""
    path, size, probe = source
    duration = ffmpeg.probe(stored).duration_s
    if duration is None:
        raise AudioError(
            _("ffprobe cannot tell the duration of the converted {name}").format(name=path.name)
        )
    gain = done.limiter_gain_db
    return CatalogueEntry(
        programme=key.programme,
        title=title,
        sha256=catalogue.sha256_of(stored),
        bytes=stored.stat().st_size,
        duration_s=round(duration, 3),
        loudness_lufs=done.result.integrated_lufs,
        true_peak_dbtp=done.result.true_peak_dbtp,
        loudness_range_lu=done.result.lra_lu,
        target_lufs=key.target_lufs,
        target_true_peak_db=key.target_true_peak_db,
        bitrate_kbps=key.bitrate_kbps,
        sample_rate=key.sample_rate,
        normalisation=done.normalization,
        limiter_gain_db=None if gain is None else round(gain, 2),
        source_name=path.name,
        source_sha256=key.source_sha256,
        source_bytes=size,
        source_format=f"{probe.format_name}/{probe.codec}",
        added_at=now,
    )


def _already_imported(audio_dir: Path, key: ImportKey) -> CatalogueEntry | None:
    """The entry of an earlier import of the same bytes, if its stored file is intact."""
    if not (audio_dir / catalogue.FILE_NAME).exists():
        return None
    entry = Catalogue.load(audio_dir).find_import(key)
    if entry is None or catalogue.check_file(audio_dir, entry).state is not FileState.OK:
        return None
    return entry


def _store(temp: Path, entry: CatalogueEntry, audio_dir: Path) -> None:
    """Rename the finished MP3 into place, then record it (undoing the rename on failure)."""
    final = audio_dir / entry.file
    existed = final.exists()
    os.replace(temp, final)
    try:
        catalogue.update(audio_dir, lambda c: c.with_entry(entry))
    except BaseException:
        if not existed:
            final.unlink(missing_ok=True)
        raise
