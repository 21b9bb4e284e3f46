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

import hashlib
import os
import re
import secrets
import struct
import sys
import time
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


def read_keys_dir(
    keys_dir: Path, cache: KeyCache | None = None
) -> tuple[KeySet | None, dict[tuple[str, str], KeySet]]:
    """The command keys and every receiver's own keys in ``keys_dir`` (none if it does not
    exist); ``Unusable`` naming the file that can't be used. With ``cache`` (the service's, from
    one reload to the next), a receiver's folder whose own stat and its files' are all as when
    it was last read is not read again (:class:`KeyCache` says what that trusts)."""
    if not keys_dir.is_dir():
        return None, {}
    commands = read_keyset(commands_folder(keys_dir))
    receivers: dict[tuple[str, str], KeySet] = {}
    root = os.path.join(keys_dir, RECEIVERS)
    if cache is not None:
        cache.start()
    for ward_name in _subfolders(root):
        ward_dir = f"{root}/{ward_name}"
        ward = sys.intern(ward_name)  # one string for every load: the cache keeps it
        if cache is not None:
            cache.ward(ward)
        for name in _subfolders(ward_dir):
            folder, receiver = f"{ward_dir}/{name}", sys.intern(name)  # a folder: listed as one
            keys = _keyset_in(folder, None) if cache is None else cache.keyset(folder, receiver)
            if keys is not None:
                receivers[(ward, receiver)] = keys
    if cache is not None:
        cache.done()  # a folder gone is forgotten: the cache holds what the folder holds
    return commands, receivers


def read_keyset(folder: Path) -> KeySet | None:
    """The keys in one owner's folder; None when it holds none."""
    if not folder.is_dir():
        return None
    return _keyset_in(str(folder), None)


def _keyset_in(folder: str, stats: list[tuple[str, bytes]] | None) -> KeySet | None:
    """:func:`read_keyset` of a folder known to be one: its names listed once (a station of
    100,000 receivers reads 100,000 such folders at each reload), not globbed and stat'ed.
    ``stats``: the signature of each file read is added to it, taken before it is read."""
    try:
        with os.scandir(folder) as entries:
            names = {entry.name for entry in entries}
    except PermissionError:  # as glob did: an unreadable folder holds no key
        names = set()
    current: list[SigningKey] = []
    retired: list[tuple[SigningKey, date]] = []
    for name in sorted(n for n in names if n.endswith(KEY_SUFFIX)):
        path = os.path.join(folder, name)
        key = SigningKey(_kid(name, path), _read_secret(path, name, stats))
        until = name[: -len(KEY_SUFFIX)] + UNTIL_SUFFIX
        until_path = os.path.join(folder, until)
        if until in names and os.path.exists(until_path):
            if stats is not None:
                stats.append((until, _signature(os.stat(until_path))))
            retired.append((key, read_until(Path(until_path))))
        else:
            current.append(key)
    if not current and not retired:
        return None
    newest = max(current, key=lambda k: k.kid) if current else None
    older = [(k, _far_future()) for k in current if k is not newest]  # an unfinished rotate
    return KeySet(newest, tuple(retired + older))


def read_key_file(path: Path) -> bytes:
    """The secret in a key file (surrounding whitespace dropped), at least 16 bytes."""
    return _read_secret(str(path), path.name, None)


def _read_secret(path: str, name: str, stats: list[tuple[str, bytes]] | None) -> bytes:
    try:
        with open(path, "rb") as handle:
            if stats is not None:  # the file read, before it is read
                stats.append((name, _signature(os.fstat(handle.fileno()))))
            secret = handle.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise Unusable(f"the key file {path} can't be read ({exc.strerror})") from exc
    if len(secret) > MAX_KEY_FILE_BYTES:
        raise Unusable(f"the key file {path} is larger than {MAX_KEY_FILE_BYTES} bytes")
    secret = secret.strip()
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


def _kid(name: str, path: str | Path) -> str:
    kid = name[: -len(KEY_SUFFIX)]
    if KID_RE.fullmatch(kid) is None:
        raise Unusable(f"{path}: the file name is not KID.key (KID: 1 to 64 of A-Za-z0-9-_.:)")
    return kid


def _subfolders(folder: str) -> list[str]:
    """The names of ``folder``'s subfolders (named as a ward or receiver may be), sorted."""
    if not os.path.isdir(folder):
        return []
    with os.scandir(folder) as entries:  # an entry's type without a stat of its own
        return sorted(e.name for e in entries if NAME_RE.fullmatch(e.name) and e.is_dir())


# ---- the service's cache, from one reload to the next -----------------------------------------

_STAT = struct.Struct("<5q")  # device, inode, size, mtime and ctime in ns: a file's signature


def _signature(st: os.stat_result) -> bytes:
    return _STAT.pack(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


#: a receiver's folder as last read: its keys, the keyed hash of its own stat and of each file
#: read in it (with their names), and those names when not only its current key's
_Seen = tuple[KeySet | None, bytes, tuple[str, ...] | None]


class KeyCache:
    """The receivers' keys as the last reload read them, so that the next one reads again only
    the folders that changed (100,000 receivers: 100,000 folders and files).

    A folder's keys are taken from the cache only if a ``stat`` of the folder and of every file
    read in it (key and ``.until``) gives the same device, inode, size, mtime and **ctime** (in
    ns) as when it was read; the signature is taken before the reading (``fstat`` of the file
    opened), so a change during the reading is read again next time. What this trusts: that the
    kernel sets a file's ctime to the present at every change of its bytes, and a folder's at
    every file added, removed or renamed in it; ctime can't be set back by ``touch`` or
    ``utime`` (only by setting the system clock, i.e. by root), so a key swapped for another of
    the same size with its mtime put back is still seen. A file changed twice within one tick
    of the filesystem's clock could keep the same ctime: a folder or file whose ctime is less
    than ``racy_s`` (2 s) before the reading began is never taken from the cache (read again
    at the next reload). The keys folder must be on a filesystem that keeps ctime (any local
    Linux one; not FAT). The signatures are kept as a 128-bit BLAKE2b keyed with a secret drawn
    at start (about 150 bytes a receiver in all, docs/service.md): no one who does not know the
    secret can make two signatures meet.
    """

    def __init__(self, racy_s: float = 2.0) -> None:
        self.racy_ns = int(racy_s * 1e9)
        self._secret = os.urandom(16)
        self._seen: dict[str, dict[str, _Seen]] = {}  # ward -> receiver -> what was read
        self._kept: dict[str, dict[str, _Seen]] = {}
        self._before: dict[str, _Seen] = {}
        self._after: dict[str, _Seen] = {}
        self._since = 0
        self.read = 0  # folders read by the last reading (for the log, benchmarks and tests)
        self.reused = 0

    def __len__(self) -> int:
        return sum(len(receivers) for receivers in self._seen.values())

    def start(self) -> None:
        self.read = self.reused = 0
        self._kept = {}
        self._since = time.time_ns() - self.racy_ns

    def ward(self, name: str) -> None:
        """The next folders are this ward's."""
        self._before = self._seen.get(name, {})
        self._after = self._kept[name] = {}

    def keyset(self, folder: str, name: str) -> KeySet | None:
        """The keys in the ``folder`` of the receiver ``name`` (of the ward last named)."""
        seen = self._before.get(name)
        if seen is not None:
            keys, digest, names = seen
            if self._now(folder, _current(keys) if names is None else names) == digest:
                self._after[name] = seen
                self.reused += 1
                return keys
        self.read += 1
        try:
            before = _signature(os.stat(folder))
        except OSError:  # gone since it was listed: read as without a cache
            return _keyset_in(folder, None)
        stats: list[tuple[str, bytes]] = []
        keys = _keyset_in(folder, stats)
        if all(_STAT.unpack(sig)[4] < self._since for sig in [before, *(s for _, s in stats)]):
            names = tuple(n for n, _ in stats)
            digest = self._hash(before, names, [s for _, s in stats])
            self._after[name] = (keys, digest, None if names == _current(keys) else names)
        return keys

    def done(self) -> None:
        """Forget every folder but those of this reading."""
        self._seen, self._kept = self._kept, {}
        self._before = self._after = {}

    def _now(self, folder: str, names: tuple[str, ...]) -> bytes | None:
        try:
            before = _signature(os.stat(folder))
            stats = [_signature(os.stat(f"{folder}/{name}")) for name in names]
        except OSError:
            return None
        return self._hash(before, names, stats)

    def _hash(self, folder: bytes, names: tuple[str, ...], stats: list[bytes]) -> bytes:
        text = folder + b"".join(stats) + b"/".join(os.fsencode(n) for n in names)  # no "/" in one
        return hashlib.blake2b(text, digest_size=16, key=self._secret).digest()


def _current(keys: KeySet | None) -> tuple[str, ...]:
    """The files read for a folder that holds only a current key: that key's."""
    if keys is None or keys.current is None or keys.retired:
        return ()
    return (keys.current.kid + KEY_SUFFIX,)


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
            retired.append(Made(until, new.owner, _kid(path.name, path)))
    return new, retired


def _owner(folder: Path) -> str:
    if folder.name == COMMANDS:
        return COMMANDS
    return f"{folder.parent.name}/{folder.name}"
