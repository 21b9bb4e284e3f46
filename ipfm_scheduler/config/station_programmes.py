"""The station file's ``programmes`` section: each programme, with its recording checked (a
file of the audio folder, an MP3, intact if `audio add` stored it) and probed for its length.

:mod:`station_file` reads the rest of the station file, and hands this the section.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from ipfm_scheduler.audio.catalogue import STORED_NAME
from ipfm_scheduler.audio.files import AudioFile
from ipfm_scheduler.config.reader import Fields, FileReader, child, quote
from ipfm_scheduler.config.settings import DeclaredProgramme
from ipfm_scheduler.core.model import Programme
from ipfm_scheduler.errors import AudioError, ValueInvalid
from ipfm_scheduler.i18n import _, date_text

Prober = Callable[[Path], AudioFile]


@dataclass
class ProgrammeParts:
    """What could be read of the programmes: every id declared (valid or not), each one's
    title and audio as written, and the valid programmes with their probed recordings."""

    declared: frozenset[str]
    audio_dir: Path | None
    prober: Prober
    named: dict[str, DeclaredProgramme] = field(default_factory=dict)
    programmes: dict[str, Programme] = field(default_factory=dict)
    audio: dict[str, AudioFile] = field(default_factory=dict)


def read_programmes(
    r: FileReader, entries: Any, audio_dir: Path | None, prober: Prober
) -> ProgrammeParts | None:
    """The ``programmes`` section's entries (``None`` when it cannot be read as a mapping).

    ``audio_dir`` is the audio folder (``None`` when audio.dir has its own problem)."""
    if not isinstance(entries, dict):
        return None
    parts = ProgrammeParts(frozenset(entries), audio_dir, prober)
    for programme_id, entry in entries.items():
        if isinstance(entry.value, Fields):
            title, audio = entry.value["title"], entry.value["audio"]
            parts.named[programme_id] = DeclaredProgramme(
                title if isinstance(title, str) else "", audio if isinstance(audio, str) else ""
            )
        if isinstance(entry.value, Fields) and entry.value.ok:
            _programme(r, programme_id, entry.value, parts)
        elif isinstance(entry.value, Fields):
            _campaign_order(r, entry.value)  # reported beside the programme's other mistakes
    return parts


def _programme_audio(
    r: FileReader, programme_id: str, fields: Fields, parts: ProgrammeParts
) -> AudioFile | None:
    """The programme's recording, probed; ``None`` (and a problem) when it cannot be read."""
    if parts.audio_dir is None:
        return None  # the audio section's own problem is reported
    name, path = fields["audio"], parts.audio_dir / fields["audio"]
    if Path(name).name != name or name in {".", ".."}:
        r.problem(
            fields.at("audio"),
            child(fields.path, "audio"),
            _(
                "{name} is not a file name: name a file of the audio folder {folder} (audio.dir) "
                "itself, without a folder; files in its sub-folders (such as source/, the "
                "originals) are not served to receivers"
            ).format(name=quote(name), folder=parts.audio_dir),
        )
        return None
    if not path.exists():
        r.problem(
            fields.at("audio"),
            child(fields.path, "audio"),
            _(
                "{name} is not in the audio folder {folder} (audio.dir): put the recording "
                "there, or correct the name"
            ).format(name=quote(name), folder=parts.audio_dir),
        )
        return None
    if path.suffix.lower() != ".mp3":
        r.problem(
            fields.at("audio"),
            child(fields.path, "audio"),
            _(
                "{name} is not an MP3 file: receivers play MP3 and the service serves only .mp3 "
                "files; import the recording with `ipfm-scheduler audio add FILE --programme "
                "{programme}` and name the file it stores"
            ).format(name=quote(name), programme=programme_id),
        )
        return None
    try:
        audio = parts.prober(path)
    except AudioError as exc:
        r.problem(
            fields.at("audio"),
            child(fields.path, "audio"),
            _("{why} (audio.dir)").format(why=exc),
        )
        return None
    return _intact(r, programme_id, fields, audio)


def _intact(r: FileReader, programme_id: str, fields: Fields, audio: AudioFile) -> AudioFile | None:
    """``audio``, unless a file that `audio add` named after its sha256 no longer holds it."""
    name = audio.path.name
    named = STORED_NAME.fullmatch(name)
    if named and named.group(1) != audio.sha256:
        r.problem(
            fields.at("audio"),
            child(fields.path, "audio"),
            _(
                "{name} no longer holds the recording its name says (its sha256 is now "
                "{sha256}…): it changed on disk after it was imported (a disk fault, or an "
                "edit), and receivers would be sent damaged audio; import the recording again "
                "with `ipfm-scheduler audio add FILE --programme {programme}` "
                "(`ipfm-scheduler audio check` lists every changed file)"
            ).format(name=quote(name), sha256=audio.sha256[:12], programme=programme_id),
        )
        return None
    return audio


def _campaign_order(r: FileReader, fields: Fields) -> bool:
    """False (and a problem) when the campaign ends before it starts."""
    start, until = fields["from"], fields["until"]
    if isinstance(start, date) and isinstance(until, date) and until < start:
        r.problem(
            fields.at("until"),
            child(fields.path, "until"),
            _("the campaign ends ({until}) before it starts ({start}, from)").format(
                until=date_text(until), start=date_text(start)
            ),
        )
        return False
    return True


def _programme(r: FileReader, programme_id: str, fields: Fields, parts: ProgrammeParts) -> None:
    audio = _programme_audio(r, programme_id, fields, parts)
    start, until = fields["from"], fields["until"]
    if not _campaign_order(r, fields):
        return
    if audio is None:
        return
    try:
        programme = Programme(
            programme_id,
            fields["title"],
            fields["audio"],
            audio.duration_s,
            fields["min_per_week"],
            start,
            until,
        )
    except ValueInvalid as exc:  # pragma: no cover - every rule is checked above
        r.problem(fields.node, fields.path, str(exc))
        return
    parts.programmes[programme_id] = programme
    parts.audio[programme_id] = audio
