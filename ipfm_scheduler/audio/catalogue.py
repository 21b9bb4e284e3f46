"""The audio catalogue: which normalised recordings exist, for which programme, how loud.

Kept as ``catalogue.json`` in the audio directory, next to the files it describes: a small,
human-readable file that travels with the recordings (``git`` shows its changes line by line,
a technician can read it without tools), written atomically (temporary file, ``fsync``,
``os.replace``) under an exclusive lock on the directory, so two imports at once never lose an
entry and a crash never leaves half a catalogue. The database records what was aired; this
file records what can be aired.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from ipfm_scheduler.audio.files import AudioFile
from ipfm_scheduler.core.ids import check_name
from ipfm_scheduler.errors import AudioError, ValueInvalid
from ipfm_scheduler.i18n import _

FILE_NAME = "catalogue.json"
VERSION = 1
SHA256_RE = re.compile(r"[0-9a-f]{64}")
STORED_NAME = re.compile(r"([0-9a-f]{64})\.mp3")  # how a recording is stored: <sha256>.mp3
TEMP_PREFIX = ".ipfm-import-"
_CHUNK = 1024 * 1024


def sha256_of(path: Path) -> str:
    """The sha256 of a file, read in chunks (never the whole file at once)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def audio_url(base_url: str, sha256: str) -> str:
    """Where receivers download a recording (``audio.base_url`` + ``/<sha256>.mp3``)."""
    return f"{base_url.rstrip('/')}/{sha256}.mp3"


@dataclass(frozen=True, slots=True)
class ImportKey:
    """Importing the same source bytes for the same programme and target is one import."""

    programme: str
    source_sha256: str
    target_lufs: float
    target_true_peak_db: float
    bitrate_kbps: int
    sample_rate: int


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """One normalised recording, stored as ``<sha256>.mp3`` in the audio directory."""

    programme: str
    title: str
    sha256: str
    bytes: int
    duration_s: float
    loudness_lufs: float  # measured on the stored file (ebur128)
    true_peak_dbtp: float  # measured on the stored file (ebur128)
    loudness_range_lu: float
    target_lufs: float
    target_true_peak_db: float
    bitrate_kbps: int
    sample_rate: int
    normalisation: str  # loudnorm's mode: "linear" (one gain) or "dynamic"
    limiter_gain_db: float | None  # gain put before a peak limiter, when one was needed
    source_name: str
    source_sha256: str
    source_bytes: int
    source_format: str  # container/codec as ffprobe named them, e.g. "wav/pcm_s16le"
    added_at: datetime
    channels: int = 1
    format: str = "mp3"

    def __post_init__(self) -> None:
        check_name(self.programme, "programme id")
        for name in ("sha256", "source_sha256"):
            if not SHA256_RE.fullmatch(getattr(self, name)):
                raise ValueInvalid(_("{name} must be 64 lowercase hex digits").format(name=name))
        if self.bytes <= 0 or self.source_bytes <= 0:
            raise ValueInvalid(_("{file}: sizes must be positive").format(file=self.file))
        if not self.duration_s > 0:
            raise ValueInvalid(_("{file}: duration must be positive").format(file=self.file))
        if self.added_at.tzinfo is None:
            raise ValueInvalid(
                _("{file}: added_at must carry its UTC offset").format(file=self.file)
            )

    @property
    def file(self) -> str:
        return f"{self.sha256}.mp3"

    def audio_file(self, audio_dir: Path) -> AudioFile:
        """The stored file as the configuration's values describe programme audio."""
        return AudioFile(audio_dir / self.file, self.sha256, self.bytes, self.duration_s)

    @property
    def import_key(self) -> ImportKey:
        """What makes two imports the same: source bytes, programme and target."""
        return ImportKey(
            self.programme,
            self.source_sha256,
            self.target_lufs,
            self.target_true_peak_db,
            self.bitrate_kbps,
            self.sample_rate,
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["added_at"] = self.added_at.isoformat()
        return {"file": self.file, **data}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CatalogueEntry:
        names = {f.name for f in fields(cls)}
        missing = sorted(n for n in names if n not in data and n not in {"channels", "format"})
        if missing:
            raise ValueInvalid(_("missing {names}").format(names=", ".join(missing)))
        values = {k: v for k, v in data.items() if k in names}
        try:
            values["added_at"] = datetime.fromisoformat(str(data["added_at"]))
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise ValueInvalid(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class Catalogue:
    """The entries of one audio directory, oldest first."""

    dir: Path
    entries: tuple[CatalogueEntry, ...] = ()

    @property
    def path(self) -> Path:
        return self.dir / FILE_NAME

    @classmethod
    def load(cls, audio_dir: Path) -> Catalogue:
        """Read ``catalogue.json``; a directory without one has an empty catalogue."""
        path = audio_dir / FILE_NAME
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(audio_dir)
        except OSError as exc:
            raise AudioError(
                _("cannot read the catalogue {path}: {strerror}").format(
                    path=path, strerror=exc.strerror
                )
            ) from exc
        return cls(audio_dir, tuple(_parse(path, text)))

    def find_import(self, key: ImportKey) -> CatalogueEntry | None:
        return next((e for e in self.entries if e.import_key == key), None)

    def for_programme(self, programme: str) -> tuple[CatalogueEntry, ...]:
        return tuple(e for e in self.entries if e.programme == programme)

    def files(self) -> dict[str, Path]:
        """sha256 -> stored file: the recordings the HTTP server may serve."""
        return {e.sha256: self.dir / e.file for e in self.entries}

    def with_entry(self, entry: CatalogueEntry) -> Catalogue:
        """This catalogue with ``entry`` added (replacing a previous import of the same)."""
        kept = tuple(e for e in self.entries if e.import_key != entry.import_key)
        return Catalogue(self.dir, (*kept, entry))

    def save(self) -> None:
        """Write the catalogue atomically: readers see the old file or the new, never half."""
        document = {"version": VERSION, "entries": [e.to_json() for e in self.entries]}
        text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
        write_atomically(self.path, text.encode("utf-8"))


def _parse(path: Path, text: str) -> Iterator[CatalogueEntry]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AudioError(
            _(
                "{path}:{lineno}:{colno}: the catalogue is not valid JSON ({msg}); fix it or "
                "restore it from a backup before importing"
            ).format(path=path, lineno=exc.lineno, colno=exc.colno, msg=exc.msg)
        ) from exc
    if not isinstance(document, dict) or document.get("version") != VERSION:
        raise AudioError(
            _("{path}: not a version {version} catalogue (expected {{'version': 1}})").format(
                path=path, version=VERSION
            )
        )
    entries = document.get("entries")
    if not isinstance(entries, list):
        raise AudioError(_("{path}: 'entries' must be a list").format(path=path))
    for index, raw in enumerate(entries):
        if not isinstance(raw, dict):
            raise AudioError(
                _("{path}: entries[{index}] is not an object").format(path=path, index=index)
            )
        try:
            yield CatalogueEntry.from_json(raw)
        except ValueInvalid as exc:
            raise AudioError(
                _("{path}: entries[{index}]: {error}").format(path=path, index=index, error=exc)
            ) from exc


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def locked(audio_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the audio directory (one catalogue writer at a time)."""
    fd = os.open(audio_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def update(audio_dir: Path, change: Callable[[Catalogue], Catalogue]) -> Catalogue:
    """Load, change and save the catalogue under the directory lock."""
    with locked(audio_dir):
        changed = change(Catalogue.load(audio_dir))
        changed.save()
        return changed


class FileState(StrEnum):
    OK = "ok"
    MISSING = "missing"
    CHANGED = "changed"
    NOT_A_FILE = "not-a-file"  # a directory or a symbolic link: the server will not serve it


@dataclass(frozen=True, slots=True)
class FileCheck:
    entry: CatalogueEntry
    state: FileState
    found_sha256: str | None = None  # for CHANGED: what the file hashes to now
    found_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class CheckReport:
    """``audio check``: each catalogued file re-hashed, and the files nobody catalogued."""

    files: tuple[FileCheck, ...]
    unlisted: tuple[str, ...]  # *.mp3 in the directory that no entry names
    leftovers: tuple[str, ...]  # temporary files of an interrupted import

    @property
    def ok(self) -> bool:
        return all(f.state is FileState.OK for f in self.files)

    def count(self, state: FileState) -> int:
        return sum(1 for f in self.files if f.state is state)


def check_file(audio_dir: Path, entry: CatalogueEntry) -> FileCheck:
    path = audio_dir / entry.file
    if path.is_symlink() or (path.exists() and not path.is_file()):
        return FileCheck(entry, FileState.NOT_A_FILE)
    try:
        found = sha256_of(path)
        size = path.stat().st_size
    except FileNotFoundError:
        return FileCheck(entry, FileState.MISSING)
    except OSError as exc:
        raise AudioError(
            _("cannot read {path}: {strerror}").format(path=path, strerror=exc.strerror)
        ) from exc
    state = FileState.OK if found == entry.sha256 else FileState.CHANGED
    return FileCheck(entry, state, found, size)


def check(catalogue: Catalogue) -> CheckReport:
    """Re-hash every catalogued file; list the ones that are missing or changed."""
    listed = {e.file for e in catalogue.entries}
    names = sorted(p.name for p in _children(catalogue.dir))
    return CheckReport(
        files=tuple(check_file(catalogue.dir, e) for e in _unique(catalogue.entries)),
        unlisted=tuple(n for n in names if n.endswith(".mp3") and n not in listed and n[0] != "."),
        leftovers=tuple(n for n in names if n.startswith(TEMP_PREFIX)),
    )


def _children(directory: Path) -> Iterable[Path]:
    try:
        return list(directory.iterdir())
    except FileNotFoundError:
        return []


def _unique(entries: Iterable[CatalogueEntry]) -> Iterator[CatalogueEntry]:
    seen: set[str] = set()
    for entry in entries:
        if entry.sha256 not in seen:
            seen.add(entry.sha256)
            yield entry
