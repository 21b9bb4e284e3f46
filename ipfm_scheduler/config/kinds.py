"""The kinds of value the configuration files hold: how each is read from its node's *text*
(never from YAML's implicit typing), what a mistake is called, and its JSON Schema."""

from __future__ import annotations

import re
from datetime import date, time
from typing import Any

import yaml

from ipfm_scheduler.config.local_forms import (
    DAY_PATTERN,
    DMY_PATTERN,
    NoSuchDay,
    day_month_year,
    unaccented,
    vietnamese_day,
)
from ipfm_scheduler.config.nodes import Node, is_null, is_plain
from ipfm_scheduler.config.reader import (
    FileReader,
    Invalid,
    Kind,
    describe,
    quote,
    suggestion,
)
from ipfm_scheduler.core.ids import NAME_RE, NAME_RULE
from ipfm_scheduler.core.weeks import DAY_NAMES
from ipfm_scheduler.i18n import N_, _

TIME_RE = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
INT_RE = re.compile(r"[-+]?[0-9]+")
FLOAT_RE = re.compile(r"[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
TRUE_WORDS = ("true", "yes", "on")
FALSE_WORDS = ("false", "no", "off")
TIME_RULE = "HH:MM, 00:00–23:59"
FIRST_DATE, LAST_DATE = date(2000, 1, 1), date(2099, 12, 31)  # dates a campaign may name


def _word_forms(words: tuple[str, ...]) -> list[str]:
    return [form for w in words for form in (w, w.title(), w.upper())]


def scalar_text(r: FileReader, node: Node, path: str, kind: Kind) -> str | Invalid:
    """The text of a scalar node, or a problem if the node is a list, a mapping or empty
    (saying what ``kind`` expects, in the language spoken now)."""
    if not isinstance(node, yaml.ScalarNode):
        return r.problem(
            node,
            path,
            _("expected {expected}, found {found}").format(
                expected=kind.words, found=describe(node)
            ),
        )
    if is_null(node):
        return r.problem(node, path, _("is empty; expected {expected}").format(expected=kind.words))
    return str(node.value)


def _read_text(r: FileReader, node: Node, path: str) -> str | Invalid:
    text = scalar_text(r, node, path, TEXT)
    if isinstance(text, str) and not text.strip():
        return r.problem(node, path, _("is empty; expected {expected}").format(expected=TEXT.words))
    return text.strip() if isinstance(text, str) else text


TEXT = Kind(N_("a text"), _read_text, {"type": ["string", "number", "boolean"], "pattern": r"\S"})


def slug(text: str) -> str:
    """``"Cẩm Trung"`` -> ``"cam-trung"``: how a name could be written as an id."""
    return re.sub(r"[^a-z0-9_-]+", "-", unaccented(text).lower()).strip("-")[:64]


def read_id(r: FileReader, node: Node, path: str) -> str | Invalid:
    text = scalar_text(r, node, path, ID)
    if not isinstance(text, str):
        return text
    if NAME_RE.fullmatch(text):
        return text
    if len(text) > 64:
        return r.problem(
            node,
            path,
            _("{text} is too long for an id ({length} characters, at most 64)").format(
                text=quote(text), length=len(text)
            ),
        )
    hint = slug(text)
    advice = (
        _(" (such as {example})").format(example=quote(hint))
        if hint and NAME_RE.fullmatch(hint)
        else ""
    )
    return r.problem(
        node,
        path,
        _("{text} is not a valid id: use {rule}{advice}").format(
            text=quote(text), rule=_(NAME_RULE), advice=advice
        ),
    )


ID = Kind(
    N_("an id ({rule})"),
    read_id,
    {
        "anyOf": [
            {"type": "string", "pattern": f"^{NAME_RE.pattern}$"},
            {"type": "integer", "minimum": 0},
        ]
    },
    fill={"rule": NAME_RULE},
)


def _read_time(r: FileReader, node: Node, path: str) -> time | Invalid:
    text = scalar_text(r, node, path, TIME)
    if not isinstance(text, str):
        return text
    match = TIME_RE.fullmatch(text.strip())
    if match:
        return time(int(match.group(1)), int(match.group(2)))
    hint = ""
    if re.fullmatch(r"\d{1,2}:\d{2}:\d{2}", text):
        hint = _("; seconds are not used: write hours and minutes only")
    elif re.fullmatch(r"\d{1,2}[.,h]\d{2}", text):
        hint = _("; write it with a colon, like {example}").format(
            example=f"{text[:-3]}:{text[-2:]}"
        )
    elif found := re.fullmatch(r"(\d{1,2}):(\d)", text.strip()):
        hint = _("; write the minutes with two digits, like {example}").format(
            example=f"{found[1]}:0{found[2]}"
        )
    elif found := re.fullmatch(r"(\d{1,2}):\d{2}", text.strip()):
        hint = _("; hours go from 00 to 23 (midnight is 00:00)")
    return r.problem(
        node,
        path,
        _("{text} is not a time of day ({rule}){hint}").format(
            text=quote(text), rule=TIME_RULE, hint=hint
        ),
    )


TIME = Kind(
    N_("a time of day ({rule})"),
    _read_time,
    {"type": "string", "pattern": f"^{TIME_RE.pattern}$"},
    fill={"rule": TIME_RULE},
)


DATE_RULE = N_("YYYY-MM-DD or dd/mm/yyyy")


def _read_date(r: FileReader, node: Node, path: str) -> date | Invalid:
    text = scalar_text(r, node, path, DATE)
    if not isinstance(text, str):
        return text
    day = _calendar_day(r, node, path, text)
    if not isinstance(day, date):
        return day
    if FIRST_DATE <= day <= LAST_DATE:
        return day
    return r.problem(
        node,
        path,
        _(
            "{text} is outside the years {first}-{last} that these files may name (an "
            "open-ended campaign has no `until`, or `until:` left empty)"
        ).format(text=quote(text), first=FIRST_DATE.year, last=LAST_DATE.year),
    )


def _calendar_day(r: FileReader, node: Node, path: str, text: str) -> date | Invalid:
    """The day ``text`` names, written YYYY-MM-DD or (noted) dd/mm/yyyy."""
    if DATE_RE.fullmatch(text.strip()):
        try:
            return date.fromisoformat(text.strip())
        except ValueError:
            pass
    else:
        try:
            day = day_month_year(text)
        except NoSuchDay as exc:
            return r.problem(
                node, path, _("{text} is not a date: {why}").format(text=quote(text), why=exc)
            )
        if day is not None:
            r.note(
                node,
                path,
                _("{text} read as {day} (dd/mm/yyyy)").format(text=quote(text), day=day),
            )
            return day
    hint = ""
    if found := re.fullmatch(r"(\d{1,2})[.-](\d{1,2})[.-](\d{4})", text.strip()):
        dd, mm, yyyy = found.groups()  # the Vietnamese order: day, month, year
        hint = _("; write {iso}, or {dmy} with slashes").format(
            iso=f"{yyyy}-{int(mm):02d}-{int(dd):02d}", dmy=f"{int(dd):02d}/{int(mm):02d}/{yyyy}"
        )
    return r.problem(
        node,
        path,
        _("{text} is not a date ({rule}, such as 2027-02-06){hint}").format(
            text=quote(text), rule=_(DATE_RULE), hint=hint
        ),
    )


DATE = Kind(
    N_("a date ({rule})"),
    _read_date,
    {
        "anyOf": [
            {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$", "format": "date"},
            {"type": "string", "pattern": DMY_PATTERN},
        ]
    },
    fill={"rule": DATE_RULE},
)


DAY_RULE = N_("mon … sun, or T2 … T7, CN")


def _read_day(r: FileReader, node: Node, path: str) -> int | Invalid:
    text = scalar_text(r, node, path, DAY)
    if not isinstance(text, str):
        return text
    if text in DAY_NAMES:
        return DAY_NAMES.index(text)
    day = vietnamese_day(text)
    if day is not None:
        r.note(node, path, _("{text} read as {day}").format(text=quote(text), day=DAY_NAMES[day]))
        return day
    return r.problem(
        node,
        path,
        _("{text} is not a day: write {days} (or T2 … T7, CN){hint}").format(
            text=quote(text), days=", ".join(DAY_NAMES), hint=_day_hint(text)
        ),
    )


def _day_hint(text: str) -> str:
    words = re.split(r"[\s;/]+", text.strip())
    shown = [w.lower() if w.lower() in DAY_NAMES else w for w in words]
    if len(words) > 1 and all(w in DAY_NAMES or vietnamese_day(w) is not None for w in shown):
        return _(" (separate the days with commas: {days})").format(days=f"[{', '.join(shown)}]")
    return suggestion(text.lower()[:3], DAY_NAMES)


DAY = Kind(
    N_("a day ({rule})"),
    _read_day,
    {"anyOf": [{"enum": list(DAY_NAMES)}, {"type": "string", "pattern": DAY_PATTERN}]},
    fill={"rule": DAY_RULE},
)


def _read_bool(r: FileReader, node: Node, path: str) -> bool | Invalid:
    text = scalar_text(r, node, path, BOOL)
    if not isinstance(text, str):
        return text
    word = text.strip().lower()
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS
    return r.problem(
        node, path, _("{text} is not true or false (yes/no also work)").format(text=quote(text))
    )


BOOL = Kind(
    N_("true or false"),
    _read_bool,
    {"anyOf": [{"type": "boolean"}, {"enum": _word_forms(TRUE_WORDS + FALSE_WORDS)}]},
)


def _read_language(r: FileReader, node: Node, path: str) -> str | Invalid:
    text = scalar_text(r, node, path, LANGUAGE)
    if not isinstance(text, str):
        return text
    if text.strip().lower() in ("vi", "en"):
        return text.strip().lower()
    return r.problem(
        node,
        path,
        _("{text} is not a language: write vi (Vietnamese) or en").format(text=quote(text)),
    )


LANGUAGE = Kind(N_("vi or en"), _read_language, {"enum": ["vi", "en", "VI", "EN"]})


#: what a number is, in words: by (whole number?, lower bound?, upper bound?)
_NUMBER_WORDS = {
    (True, True, True): N_("a whole number from {lo} to {hi}"),
    (True, True, False): N_("a whole number, {lo} or more"),
    (False, True, True): N_("a number from {lo} to {hi}"),
    (False, True, False): N_("a number, {lo} or more"),
}


def number(lo: float | None = None, hi: float | None = None, *, whole: bool = True) -> Kind:
    """An integer (or, with ``whole=False``, a decimal) within ``lo`` .. ``hi``."""
    bounded = (whole, lo is not None, hi is not None and lo is not None)
    plain = N_("a whole number") if whole else N_("a number")
    pattern = INT_RE if whole else FLOAT_RE

    def read(r: FileReader, node: Node, path: str) -> float | int | Invalid:
        text = scalar_text(r, node, path, kind)
        if not isinstance(text, str):
            return text
        if not pattern.fullmatch(text):
            return r.problem(
                node,
                path,
                _("{text} is not {expected}").format(text=quote(text), expected=kind.words),
            )
        if not is_plain(node):
            return r.problem(
                node,
                path,
                _("{text} is in quotes: write the number without quotes").format(text=quote(text)),
            )
        value: float | int = int(text) if whole else float(text)
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            return r.problem(
                node,
                path,
                _("{text} is out of range: expected {expected}").format(
                    text=text, expected=kind.words
                ),
            )
        return value

    schema: dict[str, Any] = {"type": "integer" if whole else "number"}
    if lo is not None:
        schema["minimum"] = lo
    if hi is not None:
        schema["maximum"] = hi
    kind = Kind(_NUMBER_WORDS.get(bounded, plain), read, schema, fill={"lo": lo, "hi": hi})
    return kind
