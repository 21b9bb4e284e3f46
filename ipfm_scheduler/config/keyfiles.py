"""The keys folder (``signing.keys_dir``, docs/configuration.md "Keys"): read and written.

::

    KEYS_DIR/commands/KID.key                    the station's command key(s)
    KEYS_DIR/receivers/WARD/RECEIVER/KID.key     each receiver's own key(s)
    .../KID.until                                beside a retired key: the last day it is
                                                 accepted (YYYY-MM-DD, the station's date)

A key file holds 64 lowercase hex digits (256 random bits) and a newline; it is created with
mode 0600 and never overwritten. The secret is those 64 ASCII characters, used as they are
(docs/protocol.md "Signatures"). In a folder, the key without a ``.until`` file signs; if
several have none, the one whose kid sorts last. Kids are ``k-YYYYMMDD-HHMMSS`` (UTC), made
when the key is: they sort in the order the keys were made.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from ipfm_scheduler.config.addresses import KID_RE, MIN_SECRET_BYTES, Unusable
from ipfm_scheduler.config.settings import KeySet, SigningKey
from ipfm_scheduler.core.ids import NAME_RE

KEY_SUFFIX = ".key"
UNTIL_SUFFIX = ".until"
COMMANDS = "commands"
RECEIVERS = "receivers"
MAX_KEY_FILE_BYTES = 1024
_DATE_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


def commands_folder(keys_dir: Path) -> Path:
    return keys_dir / COMMANDS


def receiver_folder(keys_dir: Path, ward: str, receiver: str) -> Path:
    return keys_dir / RECEIVERS / ward / receiver


# ---- reading ---------------------------------------------------------------------------------


def read_keys_dir(keys_dir: Path) -> tuple[KeySet | None, dict[tuple[str, str], KeySet]]:
    """The command keys and every receiver's own keys in ``keys_dir`` (none if it does not
    exist); ``Unusable`` naming the file that can't be used."""
    if not keys_dir.is_dir():
        return None, {}
    commands = read_keyset(commands_folder(keys_dir))
    receivers: dict[tuple[str, str], KeySet] = {}
    root = keys_dir / RECEIVERS
    for ward_dir in _subfolders(root):
        for receiver_dir in _subfolders(ward_dir):
            keys = _keyset_in(receiver_dir)  # a folder: _subfolders saw it
            if keys is not None:
                receivers[(ward_dir.name, receiver_dir.name)] = keys
    return commands, receivers


def read_keyset(folder: Path) -> KeySet | None:
    """The keys in one owner's folder; None when it holds none."""
    if not folder.is_dir():
        return None
    return _keyset_in(folder)


def _keyset_in(folder: Path) -> KeySet | None:
    """:func:`read_keyset` of a folder known to be one: its names listed once (a station of
    100,000 receivers reads 100,000 such folders at each reload), not globbed and stat'ed."""
    try:
        with os.scandir(folder) as entries:
            names = {entry.name for entry in entries}
    except PermissionError:  # as glob did: an unreadable folder holds no key
        names = set()
    current: list[SigningKey] = []
    retired: list[tuple[SigningKey, date]] = []
    for name in sorted(n for n in names if n.endswith(KEY_SUFFIX)):
        path = folder / name
        key = SigningKey(_kid(path), read_key_file(path))
        until = path.with_suffix(UNTIL_SUFFIX)
        if until.name in names and until.exists():
            retired.append((key, read_until(until)))
        else:
            current.append(key)
    if not current and not retired:
        return None
    newest = max(current, key=lambda k: k.kid) if current else None
    older = [(k, _far_future()) for k in current if k is not newest]  # an unfinished rotate
    return KeySet(newest, tuple(retired + older))


def read_key_file(path: Path) -> bytes:
    """The secret in a key file (surrounding whitespace dropped), at least 16 bytes."""
    try:
        if path.stat().st_size > MAX_KEY_FILE_BYTES:
            raise Unusable(f"the key file {path} is larger than {MAX_KEY_FILE_BYTES} bytes")
        secret = path.read_bytes().strip()
    except OSError as exc:
        raise Unusable(f"the key file {path} can't be read ({exc.strerror})") from exc
    if len(secret) < MIN_SECRET_BYTES:
        raise Unusable(f"the key file {path} holds {len(secret)} bytes; a key is at least 16")
    return secret


def read_until(path: Path) -> date:
    """The date in a ``.until`` file (YYYY-MM-DD)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")[:64].strip()
    except OSError as exc:
        raise Unusable(f"{path} can't be read ({exc.strerror})") from exc
    match = _DATE_RE.fullmatch(text)
    try:
        if match is None:
            raise ValueError
        return date(*(int(part) for part in match.groups()))
    except ValueError:
        raise Unusable(f"{path} does not hold a date (YYYY-MM-DD)") from None


def _kid(path: Path) -> str:
    kid = path.name[: -len(KEY_SUFFIX)]
    if KID_RE.fullmatch(kid) is None:
        raise Unusable(f"{path}: the file name is not KID.key (KID: 1 to 64 of A-Za-z0-9-_.:)")
    return kid


def _subfolders(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    with os.scandir(folder) as entries:  # an entry's type without a stat of its own
        found = [Path(e.path) for e in entries if NAME_RE.fullmatch(e.name) and e.is_dir()]
    return sorted(found)


def _far_future() -> date:
    return date.max


# ---- writing ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Made:
    """One key file written (or retired) by ``keys init`` / ``keys rotate``."""

    path: Path
    owner: str  # "commands" or WARD/RECEIVER
    kid: str


def new_kid(now: datetime, taken: Iterable[str] = ()) -> str:
    """``k-YYYYMMDD-HHMMSS`` (UTC) of ``now``, a second later while that is taken."""
    used = set(taken)
    moment = now.astimezone(UTC)
    while True:
        kid = moment.strftime("k-%Y%m%d-%H%M%S")
        if kid not in used:
            return kid
        moment += timedelta(seconds=1)


def write_new_key(folder: Path, now: datetime) -> Made:
    """A new random key (256 bits, as 64 hex digits) in ``folder``, mode 0600; never overwrites."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    taken = [p.name[: -len(KEY_SUFFIX)] for p in folder.glob(f"*{KEY_SUFFIX}")]
    kid = new_kid(now, taken)
    path = folder / f"{kid}{KEY_SUFFIX}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secrets.token_hex(32).encode() + b"\n")
    os.chmod(path, 0o600)  # whatever the umask
    return Made(path, _owner(folder), kid)


def init_keys(keys_dir: Path, receivers: Iterable[tuple[str, str]], now: datetime) -> list[Made]:
    """A command key, and a key for each receiver, where there is none yet."""
    made = []
    folders = [commands_folder(keys_dir)] + [
        receiver_folder(keys_dir, ward, receiver) for ward, receiver in receivers
    ]
    for folder in folders:
        if not any(folder.glob(f"*{KEY_SUFFIX}")):
            made.append(write_new_key(folder, now))
    return made


def rotate(folder: Path, keep_old_until: date, now: datetime) -> tuple[Made, list[Made]]:
    """A new key in ``folder``; every key there that signed until now is retired, still
    accepted until the end of ``keep_old_until``. Returns (the new key, the retired ones)."""
    before = read_keyset(folder)
    if before is None:
        raise Unusable(f"{folder} holds no key to rotate (run `ipfm-scheduler keys init` first)")
    new = write_new_key(folder, now)
    retired = []
    for path in sorted(folder.glob(f"*{KEY_SUFFIX}")):
        until = path.with_suffix(UNTIL_SUFFIX)
        if path != new.path and not until.exists():
            until.write_text(keep_old_until.isoformat() + "\n", encoding="utf-8")
            retired.append(Made(until, new.owner, _kid(path)))
    return new, retired


def _owner(folder: Path) -> str:
    if folder.name == COMMANDS:
        return COMMANDS
    return f"{folder.parent.name}/{folder.name}"
