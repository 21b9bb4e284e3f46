"""Choosing the language of a command line run, and speaking it in click's help and errors.

:func:`speak` runs before click parses anything: it finds ``--lang`` (before or after the
command's name), ``$IPFM_LANG``, the station file's ``language:`` and the locale
(:func:`ipfm_scheduler.i18n.choose`), then translates the help of every command and option
(written in English in the code, as docstrings and ``help=``) and click's own words (``Usage:``,
``Error: No such option``), whose Vietnamese is in the ``click`` catalogue beside ours.
"""

from __future__ import annotations

import gettext
import importlib
import inspect
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
import yaml

from ipfm_scheduler import i18n

__all__ = [
    "CLICK_DOMAIN",
    "SpeakingCommand",
    "help_texts",
    "lang_choice",
    "lang_option",
    "speak",
    "station_language",
]

F = TypeVar("F", bound=Callable[..., Any])
CLICK_DOMAIN = "click"
_PEEK_LIMIT = 1 << 20  # the station file's own limit; a larger one is the loader's problem
# click's modules that call gettext (each imported `_`/`ngettext` from gettext by name)
_CLICK_MODULES = (
    "click.core",
    "click.decorators",
    "click.exceptions",
    "click.formatting",
    "click.parser",
    "click.termui",
    "click.types",
)


def lang_option(args: Sequence[str]) -> str | None:
    """The value of the last ``--lang X`` / ``--lang=X`` in ``args`` (before a ``--``), if it
    names a language; an unknown value is left for click to refuse."""
    found = _last_value(args, "--lang")
    return found if found in i18n.LANGUAGES else None


def _last_value(args: Sequence[str], option: str) -> str | None:
    """The value of the last ``OPTION X`` / ``OPTION=X`` in ``args`` (before a ``--``)."""
    found: str | None = None
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == option and i + 1 < len(args):
            found = args[i + 1]
        elif arg.startswith(option + "="):
            found = arg.partition("=")[2]
    return found


def station_language(path: Path) -> str | None:
    """The ``language:`` the station file at ``path`` sets, read quietly: anything wrong with the
    file (missing, too large, not YAML) is for the command that loads it to report."""
    try:
        if not path.is_file() or path.stat().st_size > _PEEK_LIMIT:
            return None
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeError, yaml.YAMLError):
        return None
    value = data.get("language") if isinstance(data, dict) else None
    return value if isinstance(value, str) else None


def speak(
    command: click.Command,
    args: Sequence[str],
    environ: Mapping[str, str],
    *,
    station: Path | None = None,
) -> str:
    """Choose the language for this run (see the module's docstring), speak it from now on, in
    ``command``'s help and click's messages too; returns it. ``station`` is the station file to
    ask when ``--config`` is not in ``args`` (``None``: there is none, as for ipfm-receiver)."""
    config = _last_value(args, "--config")
    path = Path(config) if config else station
    lang, _source = i18n.choose(
        lang_option(args), environ, station_language(path) if path else None
    )
    i18n.set_language(lang)
    _speak_click(lang)
    for cmd in _walk(command):
        _translate(cmd)
    return lang


class SpeakingCommand(click.Command):
    """A command (or, mixed in before ``click.Group``, a group) that chooses its language
    (:func:`speak`) before parsing its arguments; the file it asks for ``language:`` is its
    ``--config``, else :meth:`language_file`."""

    def language_file(self) -> Path | None:
        """The file whose ``language:`` counts when ``--config`` is not given."""
        return None

    def main(self, args: Sequence[str] | None = None, *a: Any, **kw: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        speak(self, argv, os.environ, station=self.language_file())
        return super().main(argv, *a, **kw)


def lang_choice(whose: str) -> Callable[[F], F]:
    """The ``--lang`` option; ``whose`` names the file whose ``language:`` is the default."""
    return click.option(
        "--lang",
        type=click.Choice(list(i18n.LANGUAGES)),
        default=None,
        help=f"Vietnamese or English. Default: $IPFM_LANG, else {whose} language:, else the "
        "locale (LANG), else English.",
    )


def _walk(command: click.Command) -> Iterator[click.Command]:
    yield command
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            yield from _walk(sub)


def _original(obj: Any, attr: str) -> str | None:
    """``obj.attr`` as written in the code (kept aside the first time it is translated)."""
    store: dict[str, str | None] = obj.__dict__.setdefault("_ipfm_english", {})
    if attr not in store:
        value = getattr(obj, attr, None)
        store[attr] = inspect.cleandoc(value) if isinstance(value, str) else None
    return store[attr]


def _translate(cmd: click.Command) -> None:
    for attr in ("help", "short_help", "epilog"):
        text = _original(cmd, attr)
        if text is not None:
            setattr(cmd, attr, i18n._(text))
    for param in cmd.params:
        text = _original(param, "help")
        if text is not None:
            param.help = i18n._(text)


def help_texts(command: click.Command) -> Iterator[tuple[str, str]]:
    """Every help text of ``command`` and its subcommands, as written in the code, with where it
    is (``validate --strict``): what ``scripts/i18n.py`` adds to the catalogue."""
    for cmd in _walk(command):
        for attr in ("help", "short_help", "epilog"):
            text = _original(cmd, attr)
            if text:
                yield text, f"{cmd.name} ({attr})"
        for param in cmd.params:
            text = _original(param, "help")
            if text:
                yield text, f"{cmd.name} {param.opts[0] if param.opts else param.name}"


_click_catalogues: dict[str, gettext.NullTranslations] = {}


def _speak_click(lang: str) -> None:
    """Make click's own messages speak ``lang``: its modules bound gettext's functions by name,
    so each is given the ``click`` catalogue's (English is gettext's null catalogue)."""
    if lang not in _click_catalogues:
        _click_catalogues[lang] = (
            gettext.NullTranslations()
            if lang == "en"
            else gettext.translation(
                CLICK_DOMAIN, localedir=str(i18n.LOCALE_DIR), languages=[lang], fallback=True
            )
        )
    catalogue = _click_catalogues[lang]
    for name in _CLICK_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:  # pragma: no cover - a click without that module
            continue
        if hasattr(module, "_"):
            module._ = catalogue.gettext  # type: ignore[attr-defined]
        if hasattr(module, "ngettext"):
            module.ngettext = catalogue.ngettext  # type: ignore[attr-defined]
