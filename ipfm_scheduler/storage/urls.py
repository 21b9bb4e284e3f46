"""Naming a database: its URL as SQLAlchemy reads it, as people are shown it, and its file.

Nothing here opens a database (:mod:`db` does), so both :mod:`db` and :mod:`migrate` use it.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from ipfm_scheduler.config.addresses import password_span, redacted
from ipfm_scheduler.errors import StorageError
from ipfm_scheduler.i18n import _

MIN_HIDDEN_CHARS = 4  # a shorter password is masked in URLs, not searched for in driver messages
EXPECTED = "sqlite:///path/to/ipfm.db or postgresql+psycopg://user@host/dbname"
#: SQLAlchemy's true values of a URL's ``uri`` option (``sqlalchemy.util.asbool``)
TRUE_WORDS = frozenset({"true", "yes", "on", "y", "t", "1"})


def parse_url(url: str | URL) -> URL:
    """The URL as SQLAlchemy reads it, with ``postgresql://`` meaning psycopg 3."""
    if isinstance(url, str):
        span = password_span(url)
        if span is not None and "@" in url[span[0] : span[1]]:
            raise StorageError(
                _(
                    "database {url}: the password holds an '@', which ends the user part of a "
                    "URL: write each '@' of the password as %40"
                ).format(url=shown(url))
            )
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StorageError(
            _("{url} is not a database URL (expected {expected})").format(
                url=repr(shown(url)), expected=EXPECTED
            )
        ) from exc
    except ValueError as exc:  # SQLAlchemy's int() of a port such as "notaport"
        raise StorageError(
            _("{url} is not a database URL: its port is not a number (expected {expected})").format(
                url=repr(shown(url)), expected=EXPECTED
            )
        ) from exc
    backend, _plus, driver = parsed.drivername.partition("+")
    if backend in ("postgresql", "postgres") and driver in ("", "psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite" and driver in ("", "pysqlite"):
        return parsed
    raise StorageError(
        _("database {driver} is not supported (expected {expected})").format(
            driver=repr(parsed.drivername), expected=EXPECTED
        )
    )


def shown(url: str | URL) -> str:
    """The URL for messages and logs, without its password (in the user part or the query)."""
    plain = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return redacted(plain)
    database = parsed.database or ""
    if parsed.get_backend_name() == "sqlite" and database.startswith("file:"):
        return f"sqlite:///{database.removeprefix('file:')}"  # as given, not as opened read-only
    return redacted(parsed.render_as_string(hide_password=False))


def sqlite_file(url: str | URL) -> Path | None:
    """The file SQLite opens for ``url``, as SQLAlchemy's pysqlite driver hands it over (None for
    PostgreSQL and for in-memory or temporary databases). A relative path is relative to the
    working directory, as SQLite reads it.

    * ``sqlite:///rel.db`` -> ``rel.db``; ``sqlite:////abs.db`` -> ``/abs.db``;
    * ``sqlite:///file:path?uri=true`` is an SQLite URI: ``path`` (``file:///abs``,
      ``file://localhost/abs`` and %-escapes as SQLite reads them); ``file::memory:`` or
      ``mode=memory`` are in memory;
    * ``sqlite:///file:path`` without ``uri=true`` is a file named ``file:path``;
    * ``sqlite://``, ``sqlite:///`` and ``sqlite:///:memory:`` are in memory.
    """
    parsed = parse_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:"):
        return None
    if not _is_uri(parsed) or not database.startswith("file:"):
        return Path(database)
    if parsed.query.get("mode") == "memory":
        return None
    return _uri_path(database.removeprefix("file:"))


def _is_uri(parsed: URL) -> bool:
    value = parsed.query.get("uri")
    return isinstance(value, str) and value.strip().lower() in TRUE_WORDS


def _uri_path(rest: str) -> Path | None:
    """The file of an SQLite URI after ``file:`` (https://sqlite.org/uri.html)."""
    rest = rest.split("#", 1)[0].split("?", 1)[0]
    if rest.startswith("//"):  # an authority: empty or "localhost" (SQLite refuses others)
        authority, slash, path = rest[2:].partition("/")
        if authority not in ("", "localhost"):
            return None
        rest = slash + path
    path = unquote(rest)
    if path in ("", ":memory:"):
        return None
    return Path(path)


def describe(exc: SQLAlchemyError, url: str | URL) -> str:
    """A one-line message for a database failure."""
    original = getattr(exc, "orig", None) or exc
    first = str(original).strip().splitlines()[0] if str(original).strip() else type(exc).__name__
    return f"database {shown(url)}: {_without_secrets(first, url)}"


def _without_secrets(message: str, url: str | URL) -> str:
    """``message`` with the URL's password masked, should the driver have quoted it."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return message
    secrets = [parsed.password, *(v for k, v in parsed.query.items() if "pass" in k.lower())]
    for secret in secrets:
        for text in [secret] if isinstance(secret, str) else secret or ():
            if len(text) >= MIN_HIDDEN_CHARS:
                message = message.replace(text, "***")
    return message
