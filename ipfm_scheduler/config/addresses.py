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
from ipfm_scheduler.i18n import N_, _

DATABASE_ENV = "IPFM_DATABASE_URL"
DATABASE_FORMS = N_("sqlite:///PATH or postgresql+psycopg://USER@HOST/DATABASE")
TOPIC_RE = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")
CLIENT_ID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
KID_RE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
MIN_SECRET_BYTES = 16
MASK = "***"
#: query parameters that hold a secret: password=, sslpassword=, passwd=, ...
SECRET_PARAMETER_RE = re.compile(r"([?&;][^=&;#?]*pass[^=&;#?]*=)([^&;#]*)", re.IGNORECASE)


class Unusable(ValueError):
    """A value that cannot be used; the message says why, in plain words."""


def password_span(url: str) -> tuple[int, int] | None:
    """Where the password of ``url``'s user part is (start, end), or None when it has none.

    The password runs from the first ':' after the scheme's '//' to the last '@' before the
    host (a password may hold an unescaped '@' or '/'; a user name holds neither ':' nor '/').
    Without '//', the user part is taken to start the text (a mistyped scheme, ``postgres:u:pw@h``).
    """
    start = _authority_start(url)
    at = _user_part_end(url, start)
    colon = url.find(":", start, at)
    if at == -1 or colon == -1 or "/" in url[start:colon]:
        return None
    return colon + 1, at


def _authority_start(url: str) -> int:
    return url.find("//") + 2 if "//" in url else 0


def _user_part_end(url: str, start: int) -> int:
    """The '@' that ends the user part: the last one before the path, query or fragment that
    follows the first '@' (-1: no user part)."""
    first_at = url.find("@", start)
    if first_at == -1:
        return -1
    ends = [i for i in (url.find(mark, first_at) for mark in "/?#") if i != -1]
    return url.rfind("@", start, min(ends, default=len(url)))


def redacted(url: str) -> str:
    """``url`` for messages and logs: its password, in the user part or in the query
    (``password=``, ``sslpassword=``, ...), shown as ``***``. Works on any text, even one that
    is not a valid URL (a mistyped scheme must not print the password either)."""
    text = str(url)
    span = password_span(text)
    if span is not None and span[1] > span[0]:
        text = text[: span[0]] + MASK + text[span[1] :]
    return SECRET_PARAMETER_RE.sub(lambda m: m.group(1) + MASK, text)


def database_url(raw: str, base: Path) -> str:
    """A SQLAlchemy URL; a relative SQLite path is made absolute against ``base``.

    ``postgresql://`` and ``postgres://`` mean the psycopg 3 driver this program ships with.
    Messages show the URL with its password hidden (:func:`redacted`).
    """
    text = raw.strip()
    if text.startswith("sqlite:"):
        return _sqlite_url(text, base)
    shown = quote(redacted(text))
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if text.startswith(prefix):
            rest = text[len(prefix) :]
            if not rest or (rest.startswith("/") and "host=" not in rest):
                raise Unusable(
                    _("{url} names no database server ({forms})").format(
                        url=shown, forms=_(DATABASE_FORMS)
                    )
                )
            _check_server(text, shown)
            return "postgresql+psycopg://" + rest
    raise Unusable(
        _("{url} is not a database URL this program can use ({forms})").format(
            url=shown, forms=_(DATABASE_FORMS)
        )
    )


def _check_server(text: str, shown: str) -> None:
    """Refuse what the driver would misread: an '@' in the password, a port not a number."""
    span = password_span(text)
    if span is not None and "@" in text[span[0] : span[1]]:
        raise Unusable(
            _(
                "{url}: the password holds an '@', which ends the user part of a URL: write each "
                "'@' of the password as %40"
            ).format(url=shown)
        )
    start = _authority_start(text)
    at = _user_part_end(text, start)
    host_start = start if at == -1 else at + 1
    ends = [i for i in (text.find(mark, host_start) for mark in "/?#") if i != -1]
    server = text[host_start : min(ends, default=len(text))]
    if server.startswith("["):  # an IPv6 address: [::1]:5432
        port = server.partition("]")[2].removeprefix(":")
    else:
        port = server.partition(":")[2]
    if port and not (port.isascii() and port.isdigit()):
        raise Unusable(
            _("{url}: the port {port} is not a number (write HOST:5432)").format(
                url=shown, port=port
            )
        )
    if port and not 1 <= int(port) <= 65535:
        raise Unusable(
            _("{url}: the port {port} is not a port number (1 to 65535)").format(
                url=shown, port=port
            )
        )


def _sqlite_url(text: str, base: Path) -> str:
    if text in ("sqlite://", "sqlite:///:memory:"):
        return text
    if not text.startswith("sqlite:///"):
        raise Unusable(
            _("{url} is not an SQLite URL (write sqlite:///PATH)").format(url=quote(redacted(text)))
        )
    path, _sep, query = text[len("sqlite:///") :].partition("?")
    if not path:
        raise Unusable(
            _("{url} names no database file (write sqlite:///PATH)").format(
                url=quote(redacted(text))
            )
        )
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
    shown = quote(redacted(url))  # a mistyped scheme must not show the password either
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:  # an unclosed [IPv6 address
        raise Unusable(
            _("{url} is not a broker address ({why})").format(url=shown, why=exc)
        ) from exc
    if parts.scheme not in ("mqtt", "mqtts"):
        raise Unusable(
            _(
                "{url} is not a broker address (write mqtt://HOST:1883, or mqtts://HOST:8883 for "
                "TLS)"
            ).format(url=shown)
        )
    if parts.password:
        raise Unusable(
            _(
                "the address holds a password: put the password in a file named by "
                "mqtt.password_file (or a variable named by mqtt.password_env), never in this file"
            )
        )
    try:
        port = parts.port
    except ValueError as exc:
        raise Unusable(
            _("{url} has a port that is not a number from 1 to 65535").format(url=shown)
        ) from exc
    if not parts.hostname:
        raise Unusable(_("{url} names no host (write mqtt://HOST:1883)").format(url=shown))
    tls = parts.scheme == "mqtts"
    return BrokerAddress(parts.hostname, port or (8883 if tls else 1883), tls, parts.username)


def listen_address(text: str) -> tuple[str, int]:
    """``127.0.0.1:8079``, ``0.0.0.0:8079`` or ``[::1]:8079``."""
    match = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):([0-9]{1,5})", text.strip())
    if match is None or not 1 <= int(match.group(2)) <= 65535:
        raise Unusable(
            _(
                "{text} is not an address to listen on (write HOST:PORT, such as 127.0.0.1:8079)"
            ).format(text=quote(text))
        )
    return match.group(1).strip("[]"), int(match.group(2))


def check_topic_prefix(text: str) -> str:
    if not TOPIC_RE.fullmatch(text):
        raise Unusable(
            _(
                "{text} is not a topic prefix: use letters, digits, '-', '_' and '.', parts "
                "separated by '/', no wildcards (+, #) and no '/' at either end"
            ).format(text=quote(text))
        )
    return text


def check_pattern(text: str, pattern: re.Pattern[str], what: str) -> str:
    """``text``, if it matches; ``what`` (marked with ``N_``) names it in the message."""
    if not pattern.fullmatch(text):
        raise Unusable(
            _("{text} is not a valid {what} (1 to 64 of A-Z a-z 0-9 - _ . :)").format(
                text=quote(text), what=_(what)
            )
        )
    return text


def read_secret_file(path: Path) -> bytes:
    """The secret in ``path``, without surrounding whitespace (a trailing newline is usual)."""
    try:
        secret = path.read_bytes().strip()
    except FileNotFoundError as exc:
        raise Unusable(_("the file {path} does not exist").format(path=path)) from exc
    except OSError as exc:
        raise Unusable(
            _("the file {path} cannot be read: {why}").format(path=path, why=exc.strerror)
        ) from exc
    if not secret:
        raise Unusable(_("the file {path} is empty").format(path=path))
    return secret


def read_secret_env(name: str, environ: Mapping[str, str]) -> bytes:
    value = environ.get(name)
    if value is None:
        raise Unusable(_("the environment variable {name} is not set").format(name=name))
    secret = value.strip().encode()
    if not secret:
        raise Unusable(_("the environment variable {name} is empty").format(name=name))
    return secret


def audio_base_url(text: str) -> str:
    """Where receivers download programmes from: ``http(s)://HOST:PORT/audio``."""
    if not text.startswith(("http://", "https://")):
        raise Unusable(
            _("{text} is not a web address (write http://HOST:PORT/audio)").format(text=quote(text))
        )
    return text.rstrip("/")
