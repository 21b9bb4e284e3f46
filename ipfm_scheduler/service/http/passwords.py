"""The web pages' password file (``http.users``): one ``name:bcrypt-hash`` a line, as
``ipfm-scheduler http-user add`` writes it. The one module that imports bcrypt.

bcrypt rather than argon2: one small wheel, no tuning of memory, and the hash carries its cost.
A password is at most 72 bytes (bcrypt reads no further; a longer one is refused, never cut).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import bcrypt

from ipfm_scheduler.errors import ValueInvalid
from ipfm_scheduler.i18n import _
from ipfm_scheduler.transport.broker_access import write_private

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_PASSWORD_BYTES = 72
MIN_PASSWORD_CHARS = 8
MAX_FILE_BYTES = 1024 * 1024
ROUNDS = 12
#: checked against when the name is unknown, so that a wrong name costs the same time
_DUMMY = bcrypt.hashpw(b"not a password", bcrypt.gensalt(4))


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise ValueInvalid(
            _("{name!r} is not a user name: letters, digits, '.', '_' or '-', at most 64").format(
                name=name[:80]
            )
        )
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValueInvalid(
            _("the password is too short: at least {count} characters").format(
                count=MIN_PASSWORD_CHARS
            )
        )
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise ValueInvalid(
            _("the password is too long: at most {count} bytes").format(count=MAX_PASSWORD_BYTES)
        )
    return password


def hash_password(password: str, rounds: int = ROUNDS) -> str:
    return bcrypt.hashpw(check_password(password).encode(), bcrypt.gensalt(rounds)).decode()


def verify(users: Mapping[str, str], name: str, password: str) -> bool:
    """``password`` is ``name``'s (an unknown name costs a check all the same)."""
    stored = users.get(name)
    secret = password.encode()
    if len(secret) > MAX_PASSWORD_BYTES:
        return False
    try:
        if stored is None:
            bcrypt.checkpw(secret, _DUMMY)
            return False
        return bcrypt.checkpw(secret, stored.encode())
    except ValueError:  # a hash that is not bcrypt's
        return False


def read_users(path: Path) -> dict[str, str]:
    """name -> hash. Blank lines and ``#`` comments are skipped; a line of another shape is a
    :class:`ValueInvalid` naming the file and line."""
    data = path.read_bytes()
    if len(data) > MAX_FILE_BYTES:
        raise ValueInvalid(_("{file} is larger than 1 MiB").format(file=path))
    users = {}
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        name, sep, hashed = text.partition(":")
        if not sep or not NAME.fullmatch(name) or not hashed.startswith("$2"):
            raise ValueInvalid(
                _("{file}:{line}: not NAME:BCRYPT-HASH").format(file=path, line=number)
            )
        users[name] = hashed
    return users


def add_user(path: Path, name: str, password: str, *, rounds: int = ROUNDS) -> bool:
    """Add ``name`` or change its password; True if it was new. The file is replaced at once
    (a temporary file renamed over it), readable by its owner only."""
    check_name(name)
    users = read_users(path) if path.exists() else {}
    new = name not in users
    users[name] = hash_password(password, rounds)
    write_private(path, "".join(f"{user}:{hashed}\n" for user, hashed in users.items()))
    return new
