"""The clerk's own words: days and dates as ward staff in Cẩm Phả write them.

Besides the canonical ``mon`` … ``sun`` and ``YYYY-MM-DD``, a ward file may name a day in
Vietnamese (``T2`` … ``T7``, ``CN``, ``thứ hai``, ``Thứ 2``, ``chủ nhật``: with or without
diacritics, in any case) and a date in the Vietnamese order ``dd/mm/yyyy``. This module reads
those forms, and gives the JSON Schema patterns that let an editor accept them too.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from ipfm_scheduler.i18n import _

#: Vietnamese day names (thứ hai = Monday … thứ bảy = Saturday), without their accents
_NUMBERS = {
    "2": 0, "hai": 0, "3": 1, "ba": 1, "4": 2, "tu": 2, "bon": 2, "5": 3, "nam": 3,
    "6": 4, "sau": 4, "7": 5, "bay": 5,
}  # fmt: skip
_SUNDAY = ("chu nhat", "cn", "chunhat")
#: the same words as written with their accents, for the schema's pattern
_WRITTEN = ("2", "3", "4", "5", "6", "7", "hai", "ba", "tư", "bốn", "năm", "sáu", "bảy")

DMY_RE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
#: dd/mm/yyyy for the schema (the reader also checks that the day exists)
DMY_PATTERN = r"^\s*\d{1,2}/\d{1,2}/\d{4}\s*$"


def unaccented(text: str) -> str:
    """``"Thứ Hai, Đông"`` -> ``"Thu Hai, Dong"``: Vietnamese written without its accents."""
    plain = unicodedata.normalize("NFKD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in plain if not unicodedata.combining(c))


def vietnamese_day(text: str) -> int | None:
    """The day a Vietnamese day name means (0 = mon): thứ hai, thứ 2, T2 … chủ nhật, CN."""
    plain = " ".join(unaccented(text).lower().split())  # "Thứ  Hai" -> "thu hai"
    if plain in _SUNDAY:
        return 6
    match = re.fullmatch(r"(?:thu|th|t) ?(\w+)", plain)
    return _NUMBERS.get(match.group(1)) if match else None


class NoSuchDay(ValueError):
    """A dd/mm/yyyy date that the calendar does not have (31/02/2027)."""


def day_month_year(text: str) -> date | None:
    """``"05/12/2026"`` -> 2026-12-05; ``None`` if ``text`` is not written dd/mm/yyyy.

    Raises :class:`NoSuchDay` (with the reason in words) for a day that does not exist.
    """
    found = DMY_RE.fullmatch(text.strip())
    if found is None:
        return None
    day, month, year = (int(g) for g in found.groups())
    if not 1 <= month <= 12:
        raise NoSuchDay(
            _("there is no month {month} (dd/mm/yyyy: the month is in the middle)").format(
                month=month
            )
        )
    try:
        return date(year, month, day)
    except ValueError:
        last = _last_day(year, month)
        raise NoSuchDay(
            _("month {month} has {last} days, not {day}").format(
                month=f"{month:02d}/{year}", last=last, day=day
            )
        ) from None


def _last_day(year: int, month: int) -> int:
    following = date(year + month // 12, month % 12 + 1, 1)
    return (following - date(year, month, 1)).days


def _any_case(word: str) -> str:
    """A regular expression for ``word`` in any case, with or without its accents."""
    parts = []
    for char in word:
        if char == " ":
            parts.append(r"\s*")
            continue
        forms = {char.lower(), char.upper(), unaccented(char).lower(), unaccented(char).upper()}
        parts.append(f"[{''.join(sorted(forms))}]" if len(forms) > 1 else re.escape(char))
    return "".join(parts)


def _day_pattern() -> str:
    prefix = "|".join(_any_case(p) for p in ("thứ", "th", "t"))
    number = "|".join(_any_case(w) for w in _WRITTEN)
    sunday = "|".join(_any_case(w) for w in ("chủ nhật", "cn"))
    return rf"^\s*(?:(?:{prefix})\s*(?:{number})|{sunday})\s*$"


#: Vietnamese day names for the schema, as the reader accepts them
DAY_PATTERN = _day_pattern()
