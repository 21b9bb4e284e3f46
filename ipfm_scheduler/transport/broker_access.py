"""Who may do what on a locked mosquitto broker (docs/deployment.md "A locked broker"):
its users, their passwords in mosquitto's hashed form, and the access list that keeps each
receiver to its own topics.

* The service (one user, the station's ``mqtt.username``, ``ipfm-scheduler`` by default) writes
  every receiver's ``cmd`` and reads every ``ack`` and ``status``; it publishes nothing else
  (no will, no status of its own).
* Each receiver is the user ``WARD.RECEIVER`` (ids hold no ``.``, so the name can't be read two
  ways): it reads its own ``PREFIX/WARD/RECEIVER/cmd`` and writes its own ``.../ack`` and
  ``.../status`` (its retained ``online`` and its last will), nothing else.

Passwords are hashed as mosquitto 2's ``mosquitto_passwd`` does: PBKDF2-HMAC-SHA512, 101
iterations, a 12-byte random salt, written ``$7$101$SALT$HASH`` (standard base64).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ipfm_scheduler.core.ids import check_name
from ipfm_scheduler.errors import ValueInvalid
from ipfm_scheduler.i18n import _
from ipfm_scheduler.protocol.topics import TopicKind, check_prefix, topic_for

SERVICE_USER = "ipfm-scheduler"
#: what mosquitto_passwd 2.0 writes (PW_DEFAULT_ITERATIONS, SALT_LEN in its source)
PBKDF2_ITERATIONS = 101
SALT_BYTES = 12
#: a generated password: 32 characters of A-Z a-z 0-9 - _ (192 random bits)
PASSWORD_BYTES = 24
#: a user name this program writes into mosquitto's files: no ':' (the password file's
#: separator), no space (the access list's), no wildcard
USER_RE = re.compile(r"[A-Za-z0-9_.@-]{1,128}")
PASSWORD_SUFFIX = ".password"
#: the folder (in broker-config's) of the clear passwords, one file per user
USERS_DIR = "users"
MAX_PASSWORD_FILE_BYTES = 1024


def receiver_user(ward: str, receiver: str) -> str:
    """The broker user of ``ward``/``receiver``: ``WARD.RECEIVER``."""
    return f"{check_name(ward, 'ward id')}.{check_name(receiver, 'receiver id')}"


def check_user(name: str) -> str:
    if not isinstance(name, str) or USER_RE.fullmatch(name) is None:
        raise ValueInvalid(
            _(
                "the broker user name {name} can't be written in mosquitto's files: use 1 to "
                "128 characters of A-Z, a-z, 0-9 and -_.@"
            ).format(name=repr(name[:80]))
        )
    return name


@dataclass(frozen=True, slots=True)
class BrokerUser:
    """One user of the broker and the topics it may read (subscribe to) and write."""

    name: str
    about: str  # a comment for the access list: who this is
    reads: tuple[str, ...]
    writes: tuple[str, ...]

    def __post_init__(self) -> None:
        check_user(self.name)


def service_user(prefix: str, name: str = SERVICE_USER) -> BrokerUser:
    """The service: writes every receiver's commands, reads every answer and status."""
    check_prefix(prefix)
    return BrokerUser(
        name,
        "the ipfm-scheduler service",
        reads=(f"{prefix}/+/+/{TopicKind.ACK.value}", f"{prefix}/+/+/{TopicKind.STATUS.value}"),
        writes=(f"{prefix}/+/+/{TopicKind.CMD.value}",),
    )


def receiver_access(prefix: str, ward: str, receiver: str) -> BrokerUser:
    """One receiver: reads its own commands, writes its own answers and status."""
    return BrokerUser(
        receiver_user(ward, receiver),
        f"receiver {receiver} of ward {ward}",
        reads=(topic_for(prefix, ward, receiver, TopicKind.CMD),),
        writes=(
            topic_for(prefix, ward, receiver, TopicKind.ACK),
            topic_for(prefix, ward, receiver, TopicKind.STATUS),
        ),
    )


def access_for(
    prefix: str, receivers: Iterable[tuple[str, str]], service: str = SERVICE_USER
) -> list[BrokerUser]:
    """The service's user, then one per (ward, receiver), in order; ``ValueInvalid`` if the
    service's name is also a receiver's."""
    users = [service_user(prefix, service)]
    users += [receiver_access(prefix, w, r) for w, r in sorted(set(receivers))]
    if any(u.name == service for u in users[1:]):
        raise ValueInvalid(
            _("the service's broker user {name} is also a receiver's name").format(
                name=repr(service)
            )
        )
    return users


# ---- passwords -------------------------------------------------------------------------------


def new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """``password`` as mosquitto 2 stores it: ``$7$101$SALT$HASH`` (PBKDF2-HMAC-SHA512)."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    b64 = base64.b64encode
    return f"$7${PBKDF2_ITERATIONS}${b64(salt).decode()}${b64(digest).decode()}"


def password_matches(password: str, hashed: str) -> bool:
    """Whether ``hashed`` (``$7$ITERATIONS$SALT$HASH``, as mosquitto_passwd writes) is
    ``password``'s hash; False for any other form."""
    parts = hashed.split("$")
    if len(parts) != 5 or parts[:2] != ["", "7"] or not parts[2].isdigit():
        return False
    iterations = int(parts[2])
    if not 1 <= iterations <= 1_000_000:
        return False
    try:
        salt = base64.b64decode(parts[3], validate=True)
        expected = base64.b64decode(parts[4], validate=True)
    except (binascii.Error, ValueError):
        return False
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return hmac.compare_digest(digest, expected)


def read_password_file(text: str) -> dict[str, str]:
    """A mosquitto password file's ``user:hash`` lines (others are skipped)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        name, colon, hashed = line.strip().partition(":")
        if colon and name and not name.startswith("#"):
            found[name] = hashed
    return found


def render_passwords(users: Iterable[BrokerUser], hashes: Mapping[str, str]) -> str:
    return "".join(f"{u.name}:{hashes[u.name]}\n" for u in users)


def render_acl(users: Iterable[BrokerUser], header: str) -> str:
    """mosquitto's ``acl_file``: what each user may read and write (nothing else: an access
    list denies whatever it does not grant)."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    for user in users:
        lines += ["", f"# {user.about}", f"user {user.name}"]
        lines += [f"topic read {t}" for t in user.reads]
        lines += [f"topic write {t}" for t in user.writes]
    return "\n".join(lines) + "\n"


# ---- files -----------------------------------------------------------------------------------


class PasswordStore:
    """The clear passwords, one file per user (``FOLDER/NAME.password``, 0600), kept so that
    ``receiver-config`` and the station file can use them, and so that writing the broker's
    files again keeps every password."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, user: str) -> Path:
        return self.folder / f"{check_user(user)}{PASSWORD_SUFFIX}"

    def get(self, user: str) -> str | None:
        """The user's password; None if there is no file for it (or it is empty)."""
        path = self.path(user)
        try:
            with path.open("rb") as handle:
                raw = handle.read(MAX_PASSWORD_FILE_BYTES + 1)
        except FileNotFoundError:
            return None
        try:
            if len(raw) > MAX_PASSWORD_FILE_BYTES:
                raise UnicodeError
            text = raw.decode("utf-8").strip()
        except UnicodeError:
            raise ValueInvalid(
                _(
                    "{path} is not a password file: one line of text, at most {limit} bytes "
                    "(delete it to have a new password made)"
                ).format(path=path, limit=MAX_PASSWORD_FILE_BYTES)
            ) from None
        return text or None

    def put(self, user: str, password: str) -> Path:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.path(user)
        write_private(path, password + "\n")
        return path

    def users(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(
            p.name.removesuffix(PASSWORD_SUFFIX) for p in self.folder.glob(f"*{PASSWORD_SUFFIX}")
        )


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by its owner only (0600), replacing it whole: a
    reader (mosquitto reloading) sees the old file or the new one, never half of one."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


# ---- mosquitto.conf --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TlsListener:
    """The broker's one listener: TLS on ``port`` (all addresses unless ``bind``)."""

    cafile: Path
    certfile: Path
    keyfile: Path
    port: int = 8883
    bind: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ValueInvalid(
                _("the port {port} is not a port number (1 to 65535)").format(port=self.port)
            )
        for path in (self.cafile, self.certfile, self.keyfile):
            if any(ch in str(path) for ch in "\n\r\0"):
                raise ValueInvalid(
                    _("{path} can't be written in mosquitto.conf").format(path=repr(str(path)[:80]))
                )
        if self.bind is not None and not re.fullmatch(r"[A-Za-z0-9.:_-]{1,253}", self.bind):
            raise ValueInvalid(
                _("{address} is not an address to listen on").format(address=repr(self.bind[:80]))
            )


def render_conf(listener: TlsListener, *, password_file: Path, acl_file: Path, header: str) -> str:
    """The broker's settings: one TLS listener, no anonymous client, the password file and the
    access list (for every listener), and the queue the service needs."""
    where = f"{listener.port} {listener.bind}" if listener.bind else f"{listener.port}"
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    lines += [
        "",
        "# the same rules for every listener, and nobody without a user name and password",
        "per_listener_settings false",
        "allow_anonymous false",
        f"password_file {password_file}",
        f"acl_file {acl_file}",
        "",
        "# TLS only: no plain listener is opened (mosquitto opens 1883 on localhost only when the",
        "# configuration names no listener at all)",
        f"listener {where}",
        f"cafile {listener.cafile}",
        f"certfile {listener.certfile}",
        f"keyfile {listener.keyfile}",
        "",
        "# the service takes every receiver's answers on one connection: a burst larger than",
        "# mosquitto's default queue (1,000) would be dropped (config/mosquitto/ipfm.conf)",
        "max_queued_messages 200000",
    ]
    return "\n".join(lines) + "\n"
