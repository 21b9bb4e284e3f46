"""The language people read: Vietnamese or English, through gettext catalogues.

Every text a person reads is written in English in the code and passed through :func:`_` (or
:func:`ngettext` where it counts something) when it is shown; the Vietnamese is in
``ipfm_scheduler/locale/vi/LC_MESSAGES/ipfm_scheduler.po``, compiled beside it to ``.mo`` so that
an installed package speaks Vietnamese (``scripts/i18n.py`` extracts, updates and compiles the
catalogues with Babel; docs/translation.md says how to add a message).

Text defined before the language is known (module constants) is marked with :func:`N_` and
translated with :func:`_` where it is shown. Machine-readable output (JSON keys, exit codes,
metric names, the protocol) never passes through here.

The language is chosen once per process by :func:`choose`: ``--lang``, else ``$IPFM_LANG``,
else the station file's ``language:``, else the locale (``LC_ALL``, ``LC_MESSAGES``,
``LANG``), else English. Dates and weekdays people read go through :func:`date_text`,
:func:`weekday_name` and :func:`datetime_text`: ``05/12/2026`` and ``Thứ Bảy`` in Vietnamese,
``2026-12-05`` and ``Saturday`` in English.
"""

from __future__ import annotations

import gettext
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path

__all__ = [
    "DOMAIN",
    "LANGUAGES",
    "LOCALE_DIR",
    "NP_",
    "N_",
    "_",
    "choose",
    "date_text",
    "datetime_text",
    "from_locale",
    "language",
    "ngettext",
    "pgettext",
    "set_language",
    "weekday_name",
]

DOMAIN = "ipfm_scheduler"
LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("vi", "en")
LANG_ENV = "IPFM_LANG"


class _Spoken:
    """The language this process speaks, and its catalogue (one per process, set at start)."""

    def __init__(self) -> None:
        self.language = "en"
        self.catalogue: gettext.NullTranslations = gettext.NullTranslations()


_spoken = _Spoken()
_cache: dict[str, gettext.NullTranslations] = {}


def _load(lang: str) -> gettext.NullTranslations:
    if lang not in _cache:
        if lang == "en":
            _cache[lang] = gettext.NullTranslations()
        else:
            _cache[lang] = gettext.translation(
                DOMAIN, localedir=str(LOCALE_DIR), languages=[lang], fallback=True
            )
    return _cache[lang]


def set_language(lang: str) -> None:
    """Speak ``lang`` (``vi`` or ``en``) from now on, in this process."""
    if lang not in LANGUAGES:
        raise ValueError(
            f"unknown language {lang!r}: use one of {', '.join(LANGUAGES)}"
        )  # i18n: internal
    _spoken.language = lang
    _spoken.catalogue = _load(lang)


def language() -> str:
    """The language spoken now: ``vi`` or ``en``."""
    return _spoken.language


def _(message: str) -> str:
    """``message`` (English, as written in the code) in the language spoken now."""
    return _spoken.catalogue.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The form of a counted message for ``n`` (``1 file``, ``2 files``; one form in Vietnamese)."""
    return _spoken.catalogue.ngettext(singular, plural, n)


def pgettext(context: str, message: str) -> str:
    """``message`` as translated in ``context``: for a short word that two places must say
    differently (``ok`` of an audio file, ``ok`` of a weekly count)."""
    return _spoken.catalogue.pgettext(context, message)


def NP_(context: str, message: str) -> str:
    """:func:`N_` with a context; :func:`pgettext` with the same context translates it."""
    return message


def N_(message: str) -> str:
    """Marks ``message`` for translation where it is defined; :func:`_` translates it when shown."""
    return message


def normalise(value: str | None) -> str | None:
    """``vi``/``en`` from what a person or a locale writes (``vi_VN.UTF-8``, ``VI``, ``en-US``);
    ``None`` for anything else (``C``, ``POSIX``, empty)."""
    if not value:
        return None
    head = value.strip().split(".")[0].split("@")[0].replace("-", "_").split("_")[0].lower()
    return head if head in LANGUAGES else None


def from_locale(environ: Mapping[str, str]) -> str | None:
    """The language of the locale: the first of ``LC_ALL``, ``LC_MESSAGES``, ``LANG`` that is set
    decides (as the C library does); ``None`` when it is neither Vietnamese nor English."""
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name)
        if value:
            return normalise(value)
    return None


def choose(
    option: str | None, environ: Mapping[str, str], station_language: str | None
) -> tuple[str, str]:
    """The language to speak and where it came from (``--lang``, ``$IPFM_LANG``, ``language:``,
    ``locale`` or ``default``). ``option`` was checked by the command line; an unknown
    ``$IPFM_LANG`` or ``language:`` is passed over here (the station file's own check reports
    the latter)."""
    if option:
        return option, "--lang"
    env = normalise(environ.get(LANG_ENV))
    if env:
        return env, "$" + LANG_ENV
    station = normalise(station_language)
    if station:
        return station, "language:"
    loc = from_locale(environ)
    if loc:
        return loc, "locale"
    return "en", "default"


_WEEKDAYS_VI = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật")
_WEEKDAYS_VI_SHORT = ("T2", "T3", "T4", "T5", "T6", "T7", "CN")
_WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def weekday_name(day: date | int, *, short: bool = False) -> str:
    """The weekday of ``day`` (a date, or 0 for Monday ... 6 for Sunday) as people name it:
    ``Thứ Hai``/``T2`` in Vietnamese, ``Monday``/``Mon`` in English."""
    index = day if isinstance(day, int) else day.weekday()
    if _spoken.language == "vi":
        return (_WEEKDAYS_VI_SHORT if short else _WEEKDAYS_VI)[index]
    name = _WEEKDAYS_EN[index]
    return name[:3] if short else name


def date_text(day: date) -> str:
    """A date as people read it: ``05/12/2026`` in Vietnamese, ``2026-12-05`` in English."""
    if isinstance(day, datetime):
        day = day.date()
    if _spoken.language == "vi":
        return f"{day.day:02d}/{day.month:02d}/{day.year:04d}"
    return day.isoformat()


def datetime_text(moment: datetime, *, seconds: bool = False, offset: bool = True) -> str:
    """A local time as people read it: ``05/12/2026 06:00 +07:00`` in Vietnamese,
    ``2026-12-05 06:00 +07:00`` in English (``moment`` already in the station's zone)."""
    clock = moment.strftime("%H:%M:%S" if seconds else "%H:%M")
    text = f"{date_text(moment.date())} {clock}"
    if offset and moment.utcoffset() is not None:
        text += " " + moment.strftime("%z")[:3] + ":" + moment.strftime("%z")[3:]
    return text
