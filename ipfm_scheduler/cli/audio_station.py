"""The station as the audio commands see it: the audio settings, the programmes it declares,
and the longest window of any ward.

The audio commands read only what they need. A station file whose MQTT section or programme
audio has a problem still gives its audio settings and programmes (importing the recording
is how a missing programme file gets fixed); one whose audio section or programmes cannot be
read stops the command with its problems (exit 3), unless ``--audio-dir`` names the directory,
in which case the command works without the station file, with a one-line warning.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import MappingProxyType

from ipfm_scheduler.cli.common import Options
from ipfm_scheduler.config.checks import duration_words
from ipfm_scheduler.config.loader import load
from ipfm_scheduler.config.settings import AudioSettings, DeclaredProgramme, LoadedConfig
from ipfm_scheduler.core.model import Schedule, minutes
from ipfm_scheduler.errors import StationUnusable
from ipfm_scheduler.i18n import _, ngettext

#: a window lies within one day (00:00 to 23:59): no recording longer than this can ever air
LONGEST_POSSIBLE_WINDOW_S = (23 * 60 + 59) * 60.0
Warn = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class AudioStation:
    """What the audio commands need from the station."""

    settings: AudioSettings
    max_duration_s: float  # the longest window of any valid ward
    #: the programmes the station file declares, by id; None: no station file in use (any
    #: programme id goes)
    programmes: Mapping[str, DeclaredProgramme] | None = None
    station_path: Path | None = None  # None when working without the station file
    station_dir: Path | None = None  # the station file's audio.dir (before --audio-dir)

    def __post_init__(self) -> None:
        if self.programmes is not None:
            object.__setattr__(self, "programmes", MappingProxyType(dict(self.programmes)))

    def declared(self, programme: str) -> DeclaredProgramme:
        """The programme as the station file names it ("" title and audio if it does not)."""
        return (self.programmes or {}).get(programme, DeclaredProgramme())


def load_audio_station(
    options: Options, audio_dir: Path | None, *, warn: Warn, windows: bool = True
) -> AudioStation:
    """The audio part of the station file named by ``--config``/``$IPFM_CONFIG``.

    ``audio_dir`` (``--audio-dir``) overrides ``audio.dir``. With ``windows``, the ward files
    are read too, for the longest window; otherwise only the station file is read.
    """
    path = options.station_path()
    loaded = load(path, today=date.today(), secrets=False, wards=windows)
    if loaded.audio is None or loaded.declared is None:
        return _without_station(loaded, path, audio_dir, warn, windows=windows)
    settings = loaded.audio
    if audio_dir is not None:
        settings = dataclasses.replace(settings, dir=audio_dir)
    return AudioStation(
        settings=settings,
        max_duration_s=_longest_window(loaded, warn) if windows else LONGEST_POSSIBLE_WINDOW_S,
        programmes=loaded.declared,
        station_path=path,
        station_dir=loaded.audio.dir,
    )


def _without_station(
    loaded: LoadedConfig, path: Path, audio_dir: Path | None, warn: Warn, *, windows: bool
) -> AudioStation:
    """No usable audio section or programmes: fail, or work in ``--audio-dir`` alone."""
    mine = [p for p in loaded.problems if p.file == path.name] or list(loaded.problems)
    count = len(mine)
    if audio_dir is None:
        raise StationUnusable(
            mine,
            str(path),
            _("the audio settings and the programmes"),
            ngettext(
                "fix it, or give --audio-dir DIR to work without the station file",
                "fix them, or give --audio-dir DIR to work without the station file",
                count,
            ),
        )
    also = (
        _(
            " with the default audio settings, any programme id, and the longest window a ward "
            "can have ({length})"
        ).format(length=duration_words(LONGEST_POSSIBLE_WINDOW_S))
        if windows
        else ""
    )
    warn(
        ngettext(
            "the station file {path} cannot be used ({count} problem; `ipfm-scheduler validate` "
            "lists it): working in {dir}{also}",
            "the station file {path} cannot be used ({count} problems; `ipfm-scheduler validate` "
            "lists them): working in {dir}{also}",
            count,
        ).format(path=path, count=count, dir=audio_dir, also=also)
    )
    return AudioStation(AudioSettings(dir=audio_dir), LONGEST_POSSIBLE_WINDOW_S)


def longest_window_s(schedule: Schedule | None) -> float | None:
    """The length of the longest window of any ward in ``schedule`` (None: no window)."""
    if schedule is None:
        return None
    lengths = [
        (minutes(w.end) - minutes(w.start)) * 60.0
        for ward in schedule.wards.values()
        for w in ward.windows
    ]
    return max(lengths, default=None)


def _longest_window(loaded: LoadedConfig, warn: Warn) -> float:
    found = longest_window_s(loaded.schedule)
    if found is not None:
        return found
    valid = len(loaded.schedule.wards) if loaded.schedule else 0
    files = len(loaded.ward_files)
    if valid:
        why = ngettext(
            "no valid ward has a window ({count} valid ward)",
            "no valid ward has a window ({count} valid wards)",
            valid,
        ).format(count=valid)
    elif files:
        why = ngettext(
            "no ward file is valid ({count} ward file; `ipfm-scheduler validate` says why)",
            "no ward file is valid ({count} ward files; `ipfm-scheduler validate` says why)",
            files,
        ).format(count=files)
    else:
        why = _("there is no ward file")
    warn(
        _(
            "{why}: the recording is checked against the longest window a ward can have ({length})"
        ).format(why=why, length=duration_words(LONGEST_POSSIBLE_WINDOW_S))
    )
    return LONGEST_POSSIBLE_WINDOW_S
