"""Who may read the web pages and ``/metrics``: ``/healthz`` and ``/audio/`` are open to all
(probes, receivers). Without a password file (``http.users``) the rest answers only to the
loopback address; with one, to whoever gives a right name and password (HTTP Basic auth), on
whatever address the server listens.

A client that fails ``MAX_FAILURES`` logins within ``WINDOW_S`` seconds gets 429 until the window
ends, without its passwords being checked (bcrypt is slow on purpose: a guesser must not make it
a way to keep the CPU busy). Failed logins are logged, at most 10 lines a minute.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from ipfm_scheduler.i18n import N_, _
from ipfm_scheduler.lograte import RateLimited, shown
from ipfm_scheduler.service.http.passwords import verify

log = logging.getLogger(__name__)

MAX_FAILURES = 5
WINDOW_S = 60.0
MAX_CLIENTS = 4096  # clients remembered (the oldest forgotten first)
GOOD_FOR_S = 300.0  # a right answer is not checked again for this long (bcrypt costs ~0.2 s)
MAX_HEADER = 1024
REALM = "ipfm-scheduler"


class Admission(Enum):
    OK = 200
    LOGIN = 401  # no or wrong password: ask for one
    FORBIDDEN = 403  # not on the loopback address, and no password file
    TOO_MANY = 429


def loopback(client: str) -> bool:
    try:
        address = ipaddress.ip_address(client.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


@dataclass(slots=True)
class _Tries:
    since: float
    failures: int = 0


class Access:
    """``users``: name -> bcrypt hash, or None (loopback only)."""

    def __init__(self, users: Mapping[str, str] | None) -> None:
        self.users = None if users is None else dict(users)
        self._tries: OrderedDict[str, _Tries] = OrderedDict()
        self._good: dict[bytes, float] = {}
        self._lock = threading.Lock()
        self._logged = RateLimited(log, N_("failed logins"))

    def decide(
        self, client: str, authorization: str | None, *, monotonic: float, now: datetime
    ) -> Admission:
        if self.users is None:
            return Admission.OK if loopback(client) else Admission.FORBIDDEN
        with self._lock:
            tries = self._tries.get(client)
            if tries is not None and monotonic - tries.since >= WINDOW_S:
                del self._tries[client]
                tries = None
            if tries is not None and tries.failures >= MAX_FAILURES:
                return Admission.TOO_MANY
        if authorization is None:
            return Admission.LOGIN
        if self._right(authorization, monotonic):
            return Admission.OK
        self._failed(client, authorization, monotonic, now)
        return Admission.LOGIN

    def _right(self, authorization: str, monotonic: float) -> bool:
        key = hashlib.sha256(authorization.encode("utf-8", "replace")).digest()
        with self._lock:
            until = self._good.get(key)
            if until is not None and until > monotonic:
                return True
        credentials = basic_credentials(authorization)
        if credentials is None or self.users is None:
            return False
        if not verify(self.users, *credentials):
            return False
        with self._lock:
            if len(self._good) >= MAX_CLIENTS:
                self._good.clear()
            self._good[key] = monotonic + GOOD_FOR_S
        return True

    def _failed(self, client: str, authorization: str, monotonic: float, now: datetime) -> None:
        with self._lock:
            tries = self._tries.setdefault(client, _Tries(monotonic))
            tries.failures += 1
            self._tries.move_to_end(client)
            while len(self._tries) > MAX_CLIENTS:
                self._tries.popitem(last=False)
            credentials = basic_credentials(authorization)
            name = shown(credentials[0], 64) if credentials else "?"
            self._logged.warning(
                now,
                _("HTTP: failed login from %s as %r (%d in a row)"),
                client,
                name,
                tries.failures,
            )


def basic_credentials(authorization: str) -> tuple[str, str] | None:
    """(name, password) of a ``Basic`` Authorization header, or None."""
    if len(authorization) > MAX_HEADER:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    name, sep, password = decoded.partition(":")
    return (name, password) if sep else None
