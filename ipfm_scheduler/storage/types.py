"""Column types shared by the tables: timestamps that stay timezone-aware UTC on every database.

SQLite has no timestamp type: SQLAlchemy stores text without a zone, and gives back naive
datetimes. PostgreSQL's ``timestamptz`` gives back aware ones in the session's zone. ``UtcDateTime``
makes both behave the same way: it accepts only aware UTC datetimes (a naive or non-UTC value is a
bug in the caller and raises), stores UTC, and always returns aware UTC datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from ipfm_scheduler.errors import ValueInvalid


def to_utc(value: datetime, what: str = "a time") -> datetime:
    """``value`` as an aware UTC datetime; a naive ``value`` raises :class:`ValueInvalid`."""
    if not isinstance(value, datetime):
        raise ValueInvalid(
            f"{what} must be a datetime, not {type(value).__name__}"
        )  # i18n: internal
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueInvalid(
            f"{what} ({value.isoformat()}) has no time zone; pass an aware datetime"
        )  # i18n: internal
    return value.astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """An instant, stored as UTC: ``TIMESTAMP WITH TIME ZONE`` on PostgreSQL, text on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueInvalid(
                f"a stored time must be an aware UTC datetime, not {value!r}"
            )  # i18n: internal
        if value.utcoffset() != timedelta(0):
            raise ValueInvalid(
                f"a stored time must be in UTC, not {value.isoformat()}"
            )  # i18n: internal
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):  # pragma: no cover - drivers give datetimes
            raise ValueInvalid(
                f"the database returned {value!r} where a time was expected"
            )  # i18n: internal
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def safe_text(value: str | None) -> str | None:
    """Text from a receiver, made storable on every database: PostgreSQL refuses NUL characters
    and neither database takes lone surrogates (both can arrive through JSON escapes)."""
    if value is None:
        return None
    text = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return text.replace("\x00", "\\x00")
