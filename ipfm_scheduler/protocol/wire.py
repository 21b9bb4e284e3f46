"""The bytes on the wire: canonical JSON, RFC 3339 times, and safe decoding of hostile input.

Everything here is pure (no sockets, no clock). Decoding never raises anything but
:class:`~ipfm_scheduler.errors.ProtocolError`, whose message says in plain words what was wrong.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

from ipfm_scheduler.core.ids import COMMAND_ID_RE, NAME_RE
from ipfm_scheduler.errors import ProtocolError, ValueInvalid

#: the newest protocol version this program speaks (docs/protocol.md "Version 2")
VERSION = 2
#: every version it still speaks and reads (`"v"` of every message)
VERSIONS = (1, 2)
#: a message from a receiver larger than this is refused unread
MAX_PAYLOAD_BYTES = 16 * 1024
#: free text (`detail`, `fw`) longer than this is cut, ending in "…"
MAX_TEXT_CHARS = 200

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))?"
)


def canonical(obj: Mapping[str, Any]) -> bytes:
    """The canonical bytes of ``obj`` (docs/protocol.md "Signatures", RFC 8785 for the
    values this protocol carries): keys sorted at every level, no whitespace, UTF-8 as itself."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def short_decimal(value: float, places: int = 3) -> float | int:
    """``value`` rounded to ``places`` decimals; a whole number becomes an ``int``.

    JSON Canonicalization (RFC 8785) writes 612.0 as ``612`` while Python writes ``612.0``;
    sending whole numbers as integers keeps both serialisations identical.
    """
    rounded = round(float(value), places)
    return int(rounded) if rounded.is_integer() else rounded


def format_time(moment: datetime, tz: tzinfo | None = None) -> str:
    """RFC 3339 to the second with an explicit offset, in ``tz`` (else the moment's own zone)."""
    if moment.tzinfo is None:
        raise ValueInvalid("a naive datetime can't be sent: it has no UTC offset")  # i18n: internal
    local = moment.astimezone(tz) if tz is not None else moment
    return local.isoformat(timespec="seconds")


def parse_time(value: object, field: str, what: str) -> datetime:
    """An aware datetime from an RFC 3339 string with an explicit offset (``Z`` or ``±HH:MM``)."""
    if not isinstance(value, str):
        raise ProtocolError(
            f"{what}: `{field}` must be a time as text, not {_kind(value)}"
        )  # i18n: stored
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise ProtocolError(
            f"{what}: `{field}` {_show(value)} is not an RFC 3339 time "
            "(like 2026-11-30T06:00:00+07:00)"
        )  # i18n: stored
    year, month, day, hour, minute, second, frac, zulu, sign, off_h, off_m = match.groups()
    if zulu is None and sign is None:
        raise ProtocolError(
            f"{what}: `{field}` {_show(value)} has no UTC offset (add Z or +07:00)"
        )  # i18n: stored
    try:
        offset = timedelta(0)
        if sign is not None:
            offset = timedelta(hours=int(off_h), minutes=int(off_m)) * (-1 if sign == "-" else 1)
        micros = int((frac or "0")[:6].ljust(6, "0"))
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micros,
            tzinfo=timezone(offset),
        )  # fmt: skip
    except ValueError as exc:
        raise ProtocolError(
            f"{what}: `{field}` {_show(value)} is not a valid time ({exc})"
        ) from exc  # i18n: stored


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")  # i18n: stored


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"the key {key!r} appears twice")  # i18n: stored
        obj[key] = value
    return obj


def decode_object(payload: bytes, what: str) -> dict[str, Any]:
    """One JSON object from ``payload``: at most 16 KiB, UTF-8, no repeated keys, no NaN."""
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise ProtocolError(f"{what}: the payload is {_kind(payload)}, not bytes")  # i18n: stored
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ProtocolError(
            f"{what}: the payload is {len(payload)} bytes, more than {MAX_PAYLOAD_BYTES} allowed"
        )  # i18n: stored
    if len(payload) == 0:
        raise ProtocolError(f"{what}: the payload is empty")  # i18n: stored
    try:
        text = bytes(payload).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(
            f"{what}: the payload is not UTF-8 text ({exc.reason})"
        ) from exc  # i18n: stored
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(
            f"{what}: the payload is not valid JSON ({_first_line(exc)})"
        ) from exc  # i18n: stored
    if not isinstance(obj, dict):
        raise ProtocolError(
            f"{what}: the payload must be a JSON object, not {_kind(obj)}"
        )  # i18n: stored
    return obj


def check_version(obj: Mapping[str, Any], what: str) -> int:
    """The message's protocol version (1 or 2), or ``ProtocolError``."""
    version = obj.get("v")
    spoken = " and ".join(str(v) for v in VERSIONS)
    if version is None:
        raise ProtocolError(
            f"{what}: `v` is missing (this program speaks versions {spoken})"
        )  # i18n: stored
    if type(version) is not int or version not in VERSIONS:
        raise ProtocolError(
            f"{what}: `v` is {_show(version)}, this program speaks versions {spoken} only"
        )  # i18n: stored
    return version


def name_field(obj: Mapping[str, Any], field: str, what: str) -> str:
    """A ward or receiver id (``a-z 0-9 - _``, 1 to 64) from hostile input."""
    value = obj.get(field)
    if not isinstance(value, str) or NAME_RE.fullmatch(value) is None:
        raise ProtocolError(
            f"{what}: `{field}` {_show(value)} is not an id (1 to 64 characters of a-z, 0-9, -_)"
        )  # i18n: stored
    return value


def command_id(obj: Mapping[str, Any], field: str, what: str) -> str:
    value = obj.get(field)
    if not isinstance(value, str) or COMMAND_ID_RE.fullmatch(value) is None:
        raise ProtocolError(
            f"{what}: `{field}` {_show(value)} is not a command id "
            "(1 to 64 characters of A-Z, a-z, 0-9, -_.:)"
        )  # i18n: stored
    return value


def number(obj: Mapping[str, Any], field: str, what: str) -> float | None:
    """An optional finite number >= 0 (``None`` when absent or null)."""
    value = obj.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError(
            f"{what}: `{field}` must be a number, not {_kind(value)}"
        )  # i18n: stored
    if not math.isfinite(value) or value < 0:
        raise ProtocolError(
            f"{what}: `{field}` is {_show(value)}, expected a number >= 0"
        )  # i18n: stored
    return float(value)


def volume(obj: Mapping[str, Any], field: str, what: str, *, required: bool) -> int | None:
    value = obj.get(field)
    if value is None and not required:
        return None
    if type(value) is not int or not 0 <= value <= 100:
        raise ProtocolError(
            f"{what}: `{field}` is {_show(value)}, expected a whole number 0-100"
        )  # i18n: stored
    return value


def text(obj: Mapping[str, Any], field: str, what: str, limit: int = MAX_TEXT_CHARS) -> str | None:
    """Optional free text, made safe for a one-line log: control characters become spaces,
    and anything past ``limit`` characters is cut."""
    value = obj.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProtocolError(f"{what}: `{field}` must be text, not {_kind(value)}")  # i18n: stored
    return clean_text(value, limit)


def clean_text(value: str, limit: int = MAX_TEXT_CHARS) -> str:
    cleaned = "".join(
        " " if unicodedata.category(ch) in {"Cc", "Cs", "Zl", "Zp"} else ch for ch in value
    ).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "text", bool: "true/false"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


def _show(value: object) -> str:
    """A short, log-safe rendering of a value taken from hostile input."""
    shown = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return clean_text(shown, 60)


def _first_line(exc: BaseException) -> str:
    return clean_text(str(exc).splitlines()[0] if str(exc) else type(exc).__name__, 100)
