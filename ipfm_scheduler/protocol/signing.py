"""Command signatures (docs/protocol.md "Signatures"): HMAC-SHA256 over canonical JSON.

``mac`` = lowercase hex of HMAC-SHA256(key, canonical bytes of the command without ``sig``).
:func:`sign` is what the scheduler does (:class:`Template` does the same for the many commands
of one airing); :func:`verify` is what a receiver does (the simulator, and anyone testing a real
receiver's behaviour).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ipfm_scheduler.config.settings import SigningKey
from ipfm_scheduler.errors import ProtocolError, ValueInvalid
from ipfm_scheduler.protocol.wire import canonical, clean_text, decode_object

ALGORITHM = "HMAC-SHA256"
_MAC_RE = re.compile(r"[0-9a-f]{64}")


def mac_of(obj: Mapping[str, Any], secret: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of ``obj``'s canonical bytes, ``sig`` left out."""
    body = {k: v for k, v in obj.items() if k != "sig"}
    return hmac.new(secret, canonical(body), hashlib.sha256).hexdigest()


def sign(obj: Mapping[str, Any], key: SigningKey) -> dict[str, Any]:
    """A copy of ``obj`` carrying ``sig`` (any ``sig`` it had is replaced)."""
    signed = {k: v for k, v in obj.items() if k != "sig"}
    signed["sig"] = {"alg": ALGORITHM, "kid": key.kid, "mac": mac_of(signed, key.secret)}
    return signed


class Verdict(StrEnum):
    """What a receiver concludes about a command's signature."""

    VALID = "valid"
    UNSIGNED = "unsigned"  # no `sig` member
    UNKNOWN_KID = "unknown-kid"  # `sig.kid` names no key this receiver holds
    BAD_SIGNATURE = "bad-signature"  # wrong alg, malformed sig, or the mac does not match
    MALFORMED = "malformed"  # not a JSON object at all


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of :func:`verify`. ``command`` is the decoded object unless MALFORMED."""

    verdict: Verdict
    reason: str
    command: dict[str, Any] | None = None
    kid: str | None = None

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.VALID

    @property
    def ack_detail(self) -> str:
        """The ``detail`` a receiver puts in its ``rejected`` ack for this outcome."""
        return "malformed" if self.verdict is Verdict.MALFORMED else "bad-signature"


def verify(payload: bytes, keys: Mapping[str, bytes]) -> Verification:
    """Check a command's signature against ``keys`` (``kid`` -> shared secret).

    Never raises for bad input: a payload that is not a JSON object is ``MALFORMED``; one without
    ``sig``, with an unknown ``kid`` or a wrong ``mac`` is not ``VALID`` and must be rejected
    with detail ``bad-signature``.
    """
    try:
        obj = decode_object(payload, "command")
    except ProtocolError as exc:
        return Verification(Verdict.MALFORMED, str(exc))
    return check_signature(obj, keys, "command")


def check_signature(  # noqa: PLR0911
    obj: dict[str, Any], keys: Mapping[str, bytes], what: str
) -> Verification:
    """:func:`verify` of an already decoded message (a command, or a version 2 answer)."""
    sig = obj.get("sig")
    if sig is None:
        return Verification(Verdict.UNSIGNED, f"the {what} carries no `sig`", obj)
    if not isinstance(sig, dict) or sig.get("alg") != ALGORITHM:
        return Verification(Verdict.BAD_SIGNATURE, f"`sig` is not an {ALGORITHM} signature", obj)
    kid, mac = sig.get("kid"), sig.get("mac")
    if not isinstance(kid, str) or kid not in keys:
        shown = clean_text(kid, 64) if isinstance(kid, str) else repr(kid)[:64]
        return Verification(Verdict.UNKNOWN_KID, f"no key named {shown!r}", obj)
    if not isinstance(mac, str) or _MAC_RE.fullmatch(mac) is None:
        return Verification(Verdict.BAD_SIGNATURE, "`sig.mac` is not 64 lowercase hex", obj, kid)
    try:
        expected = mac_of(obj, keys[kid])
    except (ValueError, RecursionError):  # e.g. 1e999, which JSON cannot write back
        return Verification(Verdict.BAD_SIGNATURE, f"the {what} can't be canonicalised", obj, kid)
    if not hmac.compare_digest(expected, mac):
        return Verification(Verdict.BAD_SIGNATURE, f"the mac does not match key {kid!r}", obj, kid)
    return Verification(Verdict.VALID, "signature valid", obj, kid)


class Template:
    """The canonical bytes of many messages that differ only in their ``id`` (and, version 2,
    their ``receiver``), each signed on its own: the body is canonicalised once around
    placeholders (and, signed, a placeholder mac), and each message is that text with its values
    and its own HMAC filled in. The result is byte for byte what :func:`canonical` of
    :func:`sign` gives for each (a test checks it); the key's HMAC pads are hashed once, not once
    per message.

    Ids are protocol ids (letters, digits, ``-``; receivers ``a-z 0-9 - _``), which canonical
    JSON writes as themselves.
    """

    def __init__(self, body: Mapping[str, Any], key: SigningKey | None) -> None:
        if body.get("id") != PLACEHOLDER_ID:
            raise ValueInvalid(
                f"a template's body must carry the id {PLACEHOLDER_ID!r}"
            )  # i18n: internal
        self._mac = hmac.new(key.secret, digestmod=hashlib.sha256) if key is not None else None
        unsigned = {k: v for k, v in body.items() if k != "sig"}
        self._body = _pieces(canonical(unsigned))
        if key is None:
            self._signed = self._body
            return
        signed = {**unsigned, "sig": {"alg": ALGORITHM, "kid": key.kid, "mac": _PLACEHOLDER_MAC}}
        self._signed = _pieces(canonical(signed))

    def fill(self, message_id: str, receiver: str | None = None) -> bytes:
        """The message with ``message_id`` (and ``receiver``): valid ids, the caller checks."""
        values = {PLACEHOLDER_ID: f'"{message_id}"'.encode()}
        if receiver is not None:
            values[PLACEHOLDER_RECEIVER] = f'"{receiver}"'.encode()
        if self._mac is None:
            return _join(self._body, values)
        signer = self._mac.copy()
        signer.update(_join(self._body, values))
        values[_PLACEHOLDER_MAC] = b'"' + signer.hexdigest().encode() + b'"'
        return _join(self._signed, values)


#: an id that is valid in the protocol and never occurs in a real message (see ``Template``)
PLACEHOLDER_ID = "IPFMPLACEHOLDERID"
#: the same for a version 2 command's receiver (a valid receiver id)
PLACEHOLDER_RECEIVER = "ipfmplaceholderreceiver"
_PLACEHOLDER_MAC = "ipfmplaceholdermac"
_PLACEHOLDERS = re.compile(
    rb'"(' + b"|".join(re.escape(p.encode()) for p in
                       (PLACEHOLDER_ID, PLACEHOLDER_RECEIVER, _PLACEHOLDER_MAC)) + rb')"'
)  # fmt: skip


def _pieces(data: bytes) -> list[bytes | str]:
    """``data`` split around its placeholders: text (bytes) and placeholder names (str), each
    placeholder at most once."""
    parts = _PLACEHOLDERS.split(data)
    names = [p.decode() for p in parts[1::2]]
    if len(set(names)) != len(names):
        raise ValueInvalid(
            "a message's text contains a placeholder twice: can't be templated"
        )  # i18n: internal
    return [p if i % 2 == 0 else p.decode() for i, p in enumerate(parts)]


def _join(pieces: list[bytes | str], values: Mapping[str, bytes]) -> bytes:
    return b"".join(p if isinstance(p, bytes) else values[p] for p in pieces)


def keyring(*keys: SigningKey | None) -> dict[str, bytes]:
    """``kid`` -> secret for the keys given (``None`` entries are skipped)."""
    return {key.kid: key.secret for key in keys if key is not None}
