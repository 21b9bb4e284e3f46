"""Loading a station: the station file and every ward file, with every problem at once.

``load`` never raises for what the files contain: it returns a :class:`LoadedConfig` whose
``problems`` list every mistake (file:line:column, key path, what was found and what is
expected) and whose ``schedule`` holds every ward whose file is valid, so a broken ward file
never takes the others down. ``load_valid`` is the same, but raises :class:`ConfigError` unless
everything is valid (the service uses it).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import threading
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from ipfm_scheduler.audio.probe import probe
from ipfm_scheduler.config.checks import check_programmes, check_weekly
from ipfm_scheduler.config.keyfiles import KeyCache
from ipfm_scheduler.config.nodes import compose
from ipfm_scheduler.config.reader import FileReader, quote, suggestion
from ipfm_scheduler.config.settings import (
    DeclaredProgramme,
    LoadedConfig,
    StationConfig,
    WardFile,
)
from ipfm_scheduler.config.source import FileText, read_text, read_tree
from ipfm_scheduler.config.station_file import Prober, StationParts, read_station
from ipfm_scheduler.config.station_shape import ha_settings
from ipfm_scheduler.config.ward_file import read_ward
from ipfm_scheduler.core.model import Programme, Schedule, Ward
from ipfm_scheduler.errors import ConfigError, ConfigProblem
from ipfm_scheduler.i18n import _, language, set_language

WARD_SUFFIXES = (".yaml", ".yml")
PARALLEL_FROM = 1000  # ward files from which they are read on every core (fewer: one process)
MAX_WORKERS = 8

log = logging.getLogger(__name__)


def _shown(path: Path, base: Path) -> str:
    """A file's name as messages show it: relative to the station file's folder."""
    return os.path.relpath(path, base)


def load(
    path: Path,
    *,
    today: date,
    secrets: bool = True,
    environ: Mapping[str, str] | None = None,
    prober: Prober = probe,
    wards: bool = True,
    cache: LoadCache | None = None,
) -> LoadedConfig:
    """Load the station file at ``path`` and its ward files, reporting every problem.

    ``today`` is the reference week for campaigns without a start date. With ``secrets=False``
    the MQTT password and signing keys are not read (for commands that do not need them), and
    the station's ``signing`` is empty. ``environ`` defaults to ``os.environ``; ``prober``
    reads an audio file's duration (tests may pass a fake that needs no ffprobe). With
    ``wards=False`` only the station file is read (no ward file, no check that needs them).
    ``cache``: what the previous load with it read (the service's reloads, :class:`LoadCache`).
    """
    env = os.environ if environ is None else environ
    path = Path(path)
    base = path.resolve().parent
    station_r = FileReader(path.name)
    station_text, root = read_tree(path, station_r)
    parts = StationParts(base, secrets, env, wards_dir=base / "wards")
    if station_text is not None and not station_r.problems:
        keys = cache.keys if cache is not None else None
        parts = read_station(
            station_r, root, base, secrets=secrets, environ=env, prober=prober, keys_cache=keys
        )
    if not wards:
        return _assemble(path, parts, station_r, station_text, None)
    loaded = _load_wards(parts, base, today, cache) if parts.wards_dir else []
    _check_signing_wards(station_r, parts, loaded)
    return _assemble(path, parts, station_r, station_text, loaded)


def load_valid(
    path: Path,
    *,
    today: date,
    secrets: bool = True,
    environ: Mapping[str, str] | None = None,
    prober: Prober = probe,
) -> LoadedConfig:
    """Like :func:`load`, but raises :class:`ConfigError` (with every problem) unless valid."""
    loaded = load(path, today=today, secrets=secrets, environ=environ, prober=prober)
    if not loaded.ok:
        raise ConfigError(loaded.problems)
    return loaded


@dataclass
class _LoadedWard:
    """One ward file after reading and checking. Its YAML nodes are not kept: holding the node
    trees of thousands of files would make the garbage collector crawl."""

    file: Path
    reader: FileReader
    text: FileText | None
    ward: Ward | None = None
    id_at: tuple[int, int] = (0, 0)  # line and column of its id, for duplicate ids

    @property
    def ward_id(self) -> str | None:
        return self.ward.id if self.ward else None


def _ward_paths(folder: Path) -> tuple[list[Path], list[Path]]:
    """(the ward files of ``folder``, its other files): hidden files and editors' backups
    ending in ``~`` are neither."""
    try:
        entries = sorted(
            p for p in folder.iterdir() if not p.name.startswith(".") and not p.name.endswith("~")
        )
    except OSError:
        return [], []
    # every entry named like a ward file is read or reported (a pipe, a device, a link out of
    # the folder: see read_text); of the others, only the files are reported as not read
    wards = [p for p in entries if p.suffix in WARD_SUFFIXES]
    return wards, [p for p in entries if p.suffix not in WARD_SUFFIXES and p.is_file()]


def _not_read(path: Path, base: Path) -> _LoadedWard:
    """A file of the wards folder that is not read: a ward file saved under another name
    (cam-trung.yaml.txt, CAM-TRUNG.YAML) would otherwise drop its ward without a word."""
    name = path.name
    found = re.search(r"\.(yaml|yml)", name, re.IGNORECASE)
    stem = name[: found.start()] if found else path.stem
    reader = FileReader(_shown(path, base))
    reader.problems.append(
        ConfigProblem(
            reader.file,
            0,
            0,
            "",
            _(
                "not read: the name of a ward file ends in .yaml (rename it to {name}, or move "
                "it out of the wards folder if it is not a ward file)"
            ).format(name=f"{stem.lower()}.yaml"),
        )
    )
    return _LoadedWard(path, reader, None)


def _load_wards(
    parts: StationParts, base: Path, today: date, cache: LoadCache | None
) -> list[_LoadedWard]:
    assert parts.wards_dir is not None
    paths, others = _ward_paths(parts.wards_dir)
    job = _WardJob(base, parts.programmes, parts.declared, parts.timezone, today, language())
    loaded = _read_wards(job, paths) if cache is None else cache.read_wards(job, paths)
    # a ward id used twice belongs to the file named after it (cam-trung.yaml, not a copy of
    # it such as "cam-trung - Copy.yaml"), else to the first file
    owners: dict[str, _LoadedWard] = {}
    for ward in sorted(loaded, key=lambda w: w.file.stem != w.ward_id):
        if ward.ward_id is not None:
            owners.setdefault(ward.ward_id, ward)
    for ward in loaded:
        if ward.ward_id is None or owners[ward.ward_id] is ward:
            continue
        line, column = ward.id_at
        ward.reader.problems.append(
            ConfigProblem(
                ward.reader.file,
                line,
                column,
                "id",
                _("the ward id {id} is already used by {file}").format(
                    id=quote(ward.ward_id), file=owners[ward.ward_id].reader.file
                ),
            )
        )
    return loaded + [_not_read(p, base) for p in others]


def _read_wards(job: _WardJob, paths: list[Path]) -> list[_LoadedWard]:
    loaded = _in_processes(job, paths) if len(paths) >= PARALLEL_FROM else None
    return [job(p) for p in paths] if loaded is None else loaded


@dataclass
class LoadCache:
    """What the last load read, for the next (the service's, from one reload to the next): the
    receivers' keys (:class:`KeyCache`: a folder is read again when a stat of it or of its files
    changed) and each ward file as read and checked, checked again only when its bytes (sha256:
    every ward file is still read) or what the station file says that it needs (programmes, time
    zone, the date, the language) changed."""

    keys: KeyCache = field(default_factory=KeyCache)
    job: _WardJob | None = None
    wards: dict[Path, _LoadedWard] = field(default_factory=dict)
    checked = 0  # ward files checked by the last load (the others were as before)

    def read_wards(self, job: _WardJob, paths: list[Path]) -> list[_LoadedWard]:
        memo = self.wards if job == self.job else {}
        found: dict[Path, _LoadedWard] = {}
        for path in paths:
            seen = memo.get(path)
            if seen is not None and seen.text is not None:
                r = FileReader(seen.reader.file)
                text = read_text(path, r, inside=path.parent)  # as the job reads it
                if text is not None and not r.problems and text.sha256 == seen.text.sha256:
                    found[path] = seen
        todo = [p for p in paths if p not in found]
        found.update(zip(todo, _read_wards(job, todo), strict=True))
        self.job, self.checked = job, len(todo)
        self.wards = {p: w for p, w in found.items() if w.text is not None}
        return [_copy(found[p]) for p in paths]  # the caller adds to their problems


def _copy(ward: _LoadedWard) -> _LoadedWard:
    r = FileReader(ward.reader.file, list(ward.reader.problems), list(ward.reader.notes))
    return _LoadedWard(ward.file, r, ward.text, ward.ward, ward.id_at)


@dataclass(frozen=True)
class _WardJob:
    """Reading one ward file and every check that does not need the other wards: what the
    station file says that this needs (picklable: it may run in another process)."""

    base: Path
    programmes: dict[str, Programme]
    declared: frozenset[str] | None
    timezone: ZoneInfo | None
    today: date
    language: str  # the language of the problems (a fresh "spawn" process speaks English)

    def __call__(self, path: Path) -> _LoadedWard:
        if language() != self.language:
            set_language(self.language)
        r = FileReader(_shown(path, self.base))
        text = read_text(path, r, inside=path.parent)
        if text is None:
            return _LoadedWard(path, r, None)
        if r.problems:  # not UTF-8: what the parser would say of the mangled text is noise
            return _LoadedWard(path, r, text)
        root, syntax = compose(text.text, r.file)
        r.problems.extend(syntax)
        if syntax and root is None:
            return _LoadedWard(path, r, text)
        source = read_ward(r, root, path.name)
        check_programmes(r, source, self.programmes, self.declared)
        if not r.problems and self.timezone is not None:
            check_weekly(r, source, self.programmes, self.timezone, self.today)
        id_node = source.fields.at("id") if source.fields else None
        id_at = (id_node.start_mark.line + 1, id_node.start_mark.column + 1) if id_node else (0, 0)
        return _LoadedWard(path, r, text, source.ward, id_at)


def _in_processes(job: _WardJob, paths: list[Path]) -> list[_LoadedWard] | None:
    """``job`` over ``paths`` on every core (a province's thousands of ward files), in order;
    ``None`` where that can't be done (one core, no processes allowed): then one process
    reads them all, as for a small station. Forks of a process without other threads (the
    commands); fresh processes ("spawn") for one that runs threads (the service reloading),
    which are never forked."""
    workers = min(os.cpu_count() or 1, MAX_WORKERS)
    if workers < 2:
        return None
    chunk = max(1, len(paths) // (workers * 4))
    try:
        context = multiprocessing.get_context("fork" if threading.active_count() == 1 else "spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            return list(pool.map(job, paths, chunksize=chunk))
    except (OSError, BrokenProcessPool) as exc:
        log.debug("reading the ward files in one process (%s)", exc)
        return None


def _check_signing_wards(r: FileReader, parts: StationParts, wards: list[_LoadedWard]) -> None:
    known = sorted({w.ward_id for w in wards if w.ward_id})
    for ward_id, entry in parts.signing_wards.items():
        if ward_id not in known:
            r.problem(
                entry.key_node,
                f"signing.wards.{ward_id}",
                _("{id} is not a ward of this station{hint}").format(
                    id=quote(ward_id), hint=suggestion(ward_id, known)
                ),
            )


def _sorted(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    return sorted(problems, key=lambda p: (p.line, p.column))


def _assemble(
    path: Path,
    parts: StationParts,
    station_r: FileReader,
    station_text: FileText | None,
    wards: list[_LoadedWard] | None,
) -> LoadedConfig:
    """``wards`` is ``None`` when the ward files were not read."""
    problems = _sorted(station_r.problems)
    notes = _sorted(station_r.notes)
    ward_files: dict[str, WardFile] = {}
    valid: dict[str, Ward] = {}
    for ward in wards or ():
        problems.extend(_sorted(ward.reader.problems))
        notes.extend(_sorted(ward.reader.notes))
        ok = not ward.reader.problems and ward.ward is not None
        if ok and ward.ward is not None:
            valid[ward.ward.id] = ward.ward
        ward_files[ward.file.name] = WardFile(
            path=ward.file,
            ward_id=ward.ward_id,
            text=ward.text.text if ward.text else "",
            sha256=ward.text.sha256 if ward.text else "",
            valid=ok,
        )
    if wards == [] and parts.wards_dir is not None and parts.wards_dir.is_dir():
        problems.append(
            ConfigProblem(
                station_r.file,
                0,
                0,
                "wards",
                _("the folder {folder} holds no ward files").format(folder=parts.wards_dir),
            )
        )
    schedule = None
    if parts.timezone is not None and parts.declared is not None:
        schedule = Schedule(parts.timezone, parts.programmes, valid)
    station = None
    if not station_r.problems and station_text is not None:
        station = _station(path, parts, station_text)
    declared = None
    if parts.declared is not None:
        declared = {p: parts.named.get(p, DeclaredProgramme()) for p in sorted(parts.declared)}
    return LoadedConfig(
        station, schedule, ward_files, tuple(problems), parts.audio, declared, tuple(notes)
    )


def _station(path: Path, parts: StationParts, text: FileText) -> StationConfig | None:
    if None in (
        parts.timezone,
        parts.database_url,
        parts.mqtt,
        parts.audio,
        parts.http,
        parts.signing,
        parts.dispatch,
        parts.wards_dir,
    ):
        return None
    assert parts.timezone
    assert parts.database_url
    assert parts.mqtt
    assert parts.audio
    assert parts.http
    assert parts.signing
    assert parts.dispatch
    assert parts.wards_dir
    return StationConfig(
        path=path.resolve(),
        timezone=parts.timezone,
        database_url=parts.database_url,
        mqtt=parts.mqtt,
        audio=parts.audio,
        http=parts.http,
        signing=parts.signing,
        dispatch=parts.dispatch,
        programmes=dict(parts.programmes),
        programme_audio=dict(parts.programme_audio),
        wards_dir=parts.wards_dir,
        text=text.text,
        sha256=text.sha256,
        secrets_loaded=parts.secrets,
        ha=ha_settings(parts.fields),
    )
