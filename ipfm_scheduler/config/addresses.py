"""Checking the addresses a station file names: database URL, broker URL, HTTP listen address,
and reading the secrets it points at (files or environment variables, never the file itself).

Each function returns its value, or raises :class:`Unusable` with a message in plain words that
the station reader turns into a problem at the right line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ipfm_scheduler.config.reader import quote

DATABASE_ENV = "IPFM_DATABASE_URL"
DATABASE_FORMS = "sqlite:///PATH or postgresql+psycopg://USER@HOST/DATABASE"
TOPIC_RE = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")
CLIENT_ID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
KID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
MIN_SECRET_BYTES = 16


class Unusable(ValueError):
    """A value that cannot be used; the message says why, in plain words."""


def database_url(raw: str, base: Path) -> str:
    """A SQLAlchemy URL; a relative SQLite path is made absolute against ``base``.

    ``postgresql://`` and ``postgres://`` mean the psycopg 3 driver this program ships with.
    """
    text = raw.strip()
    if text.startswith("sqlite:"):
        return _sqlite_url(text, base)
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if text.startswith(prefix):
            rest = text[len(prefix) :]
            if not rest or (rest.startswith("/") and "host=" not in rest):
                raise Unusable(f"{quote(text)} names no database server ({DATABASE_FORMS})")
            return "postgresql+psycopg://" + rest
    raise Unusable(f"{quote(text)} is not a database URL this program can use ({DATABASE_FORMS})")


def _sqlite_url(text: str, base: Path) -> str:
    if text in ("sqlite://", "sqlite:///:memory:"):
        return text
    if not text.startswith("sqlite:///"):
        raise Unusable(f"{quote(text)} is not an SQLite URL (write sqlite:///PATH)")
    path, _, query = text[len("sqlite:///") :].partition("?")
    if not path:
        raise Unusable(f"{quote(text)} names no database file (write sqlite:///PATH)")
    if not path.startswith("/"):
        path = str((base / path).resolve())
    return f"sqlite:///{path}" + (f"?{query}" if query else "")


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool
    username: str | None


def broker_address(url: str) -> BrokerAddress:
    """``mqtt://host[:1883]`` or ``mqtts://host[:8883]``; a password in the URL is refused."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("mqtt", "mqtts"):
        raise Unusable(
            f"{quote(url)} is not a broker address (write mqtt://HOST:1883, or mqtts://HOST:8883 "
            "for TLS)"
        )
    if parts.password:
        raise Unusable(
            "the address holds a password: put the password in a file named by "
            "mqtt.password_file (or a variable named by mqtt.password_env), never in this file"
        )
    try:
        port = parts.port
    except ValueError as exc:
        raise Unusable(f"{quote(url)} has a port that is not a number from 1 to 65535") from exc
    if not parts.hostname:
        raise Unusable(f"{quote(url)} names no host (write mqtt://HOST:1883)")
    tls = parts.scheme == "mqtts"
    return BrokerAddress(parts.hostname, port or (8883 if tls else 1883), tls, parts.username)


def listen_address(text: str) -> tuple[str, int]:
    """``127.0.0.1:8079``, ``0.0.0.0:8079`` or ``[::1]:8079``."""
    match = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):([0-9]{1,5})", text.strip())
    if match is None or not 1 <= int(match.group(2)) <= 65535:
        raise Unusable(
            f"{quote(text)} is not an address to listen on "
            "(write HOST:PORT, such as 127.0.0.1:8079)"
        )
    return match.group(1).strip("[]"), int(match.group(2))


def check_topic_prefix(text: str) -> str:
    if not TOPIC_RE.fullmatch(text):
        raise Unusable(
            f"{quote(text)} is not a topic prefix: use letters, digits, '-', '_' and '.', parts "
            "separated by '/', no wildcards (+, #) and no '/' at either end"
        )
    return text


def check_pattern(text: str, pattern: re.Pattern[str], what: str) -> str:
    if not pattern.fullmatch(text):
        raise Unusable(f"{quote(text)} is not a valid {what} (1 to 64 of A-Z a-z 0-9 - _ . :)")
    return text


def read_secret_file(path: Path) -> bytes:
    """The secret in ``path``, without surrounding whitespace (a trailing newline is usual)."""
    try:
        secret = path.read_bytes().strip()
    except FileNotFoundError as exc:
        raise Unusable(f"the file {path} does not exist") from exc
    except OSError as exc:
        raise Unusable(f"the file {path} cannot be read: {exc.strerror}") from exc
    if not secret:
        raise Unusable(f"the file {path} is empty")
    return secret


def read_secret_env(name: str, environ: Mapping[str, str]) -> bytes:
    value = environ.get(name)
    if value is None:
        raise Unusable(f"the environment variable {name} is not set")
    secret = value.strip().encode()
    if not secret:
        raise Unusable(f"the environment variable {name} is empty")
    return secret
