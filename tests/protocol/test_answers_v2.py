"""Protocol version 2 (docs/protocol.md "Version 2"): answers signed by their receiver's own key
and checked by the scheduler (read_ack, read_status); commands naming their target."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ipfm_scheduler import protocol
from ipfm_scheduler.config.settings import SigningKey
from ipfm_scheduler.core.commands import AckStatus
from ipfm_scheduler.errors import ProtocolError
from ipfm_scheduler.protocol import (
    Ack,
    OwnKey,
    ReceiverState,
    ReceiverStatus,
    Trust,
    encode_ack,
    encode_status,
    read_ack,
    read_status,
)
from tests.protocol.test_encode_plays import command

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
SECRET = b"demo secret, not for use"
KEY = SigningKey("k1", SECRET)
OTHER = SigningKey("k1", b"another box's secret, 32 bytes!!")
CID = "9f1c2a6e-1b9e-4c57-9f0e-3d2b1f1a7c11"
AT = datetime(2026, 11, 30, 6, 10, 15, tzinfo=TZ)
ACK = Ack(CID, AckStatus.COMPLETED, AT, played_s=612.4)
TRUST = Trust({KEY.kid: KEY.secret})


def signed_ack(key: SigningKey = KEY, ward: str = "cam-pha", receiver: str = "loa-01") -> bytes:
    return encode_ack(ACK, TZ, OwnKey(ward, receiver, key))


def test_a_signed_ack_is_version_2_names_its_receiver_and_is_verified() -> None:
    payload = signed_ack()
    body = json.loads(payload)
    assert (body["v"], body["ward"], body["receiver"], body["sig"]["kid"]) == (
        2, "cam-pha", "loa-01", "k1",
    )  # fmt: skip
    ack, verified = read_ack(payload, "cam-pha", "loa-01", TRUST)
    assert verified
    assert ack == ACK


def _vectors() -> list[str]:
    section = DOCS.read_text(encoding="utf-8").partition("\n### Test vectors (version 2)\n")[2]
    section = section.partition("\n## ")[0]
    return re.findall(r"^```json\n(.*?)\n```$", section, re.MULTILINE | re.DOTALL)


def _mac_by_hand(text: str, secret: bytes) -> tuple[str, str]:
    """(the mac written, the mac computed without the project's code)."""
    body = json.loads(text)
    sig = body.pop("sig")
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return sig["mac"], hmac.new(secret, canonical.encode(), hashlib.sha256).hexdigest()


def test_the_docs_vectors_are_what_the_scheduler_and_a_receiver_sign() -> None:
    play, ack = _vectors()
    assert ack.encode() == signed_ack()
    written, computed = _mac_by_hand(ack, SECRET)
    assert written == computed
    command = protocol.parse_command(play.encode())
    assert (command.ward, command.receiver) == ("cam-pha", "loa-01")
    key = SigningKey("cam-pha-2026", SECRET)
    assert protocol.encode_command(command, command.issued_at.tzinfo, key) == play.encode()  # type: ignore[arg-type]
    written, computed = _mac_by_hand(play, SECRET)
    assert written == computed


@pytest.mark.parametrize(
    ("payload", "topic", "trust", "reason"),
    [
        (encode_ack(ACK, TZ), ("cam-pha", "loa-01"), TRUST, "is not signed, but cam-pha/loa-01"),
        (signed_ack(OTHER), ("cam-pha", "loa-01"), TRUST, "the mac does not match key 'k1'"),
        (signed_ack(replace(KEY, kid="k9")), ("cam-pha", "loa-01"), TRUST, "no key named 'k9'"),
        (signed_ack(), ("cam-pha", "loa-03"), TRUST, "speaks for cam-pha/loa-01"),
        (signed_ack(), ("cam-dong", "loa-01"), TRUST, "speaks for cam-pha/loa-01"),
        (signed_ack(), ("cam-pha", "loa-01"), Trust(), "has no key to check it"),
    ],
)
def test_an_answer_that_cant_be_proven_is_refused_with_the_reason(
    payload: bytes, topic: tuple[str, str], trust: Trust, reason: str
) -> None:
    with pytest.raises(ProtocolError, match=re.escape(reason)):
        read_ack(payload, *topic, trust)


def test_an_ack_signed_for_one_command_cant_be_moved_to_another() -> None:
    body = json.loads(signed_ack())
    body["id"] = "another-command"
    with pytest.raises(ProtocolError, match="bad signature"):
        read_ack(protocol.canonical(body), "cam-pha", "loa-01", TRUST)
    body = json.loads(signed_ack())
    body["receiver"] = "loa-03"  # a box's own ack, renamed for its neighbour's topic
    with pytest.raises(ProtocolError, match="bad signature"):
        read_ack(protocol.canonical(body), "cam-pha", "loa-03", TRUST)


def test_unsigned_answers_count_unverified_only_where_no_key_or_the_ward_accepts_them() -> None:
    unsigned = encode_ack(ACK, TZ)
    assert read_ack(unsigned, "cam-pha", "loa-01", Trust()) == (ACK, False)
    accepting = Trust({KEY.kid: KEY.secret}, accept_unsigned=True)
    assert read_ack(unsigned, "cam-pha", "loa-01", accepting) == (ACK, False)
    with pytest.raises(ProtocolError, match="bad signature"):  # a bad signature never counts
        read_ack(signed_ack(OTHER), "cam-pha", "loa-01", accepting)


def test_statuses_are_signed_and_checked_the_same_way() -> None:
    status = ReceiverStatus(ReceiverState.OFFLINE, AT, "fw", None, None)
    signed = encode_status(status, TZ, OwnKey("cam-pha", "loa-01", KEY))
    assert read_status(signed, "cam-pha", "loa-01", TRUST) == (status, True)
    with pytest.raises(ProtocolError, match="is not signed"):
        read_status(encode_status(status, TZ), "cam-pha", "loa-01", TRUST)
    with pytest.raises(ProtocolError, match="speaks for cam-pha/loa-01"):
        read_status(signed, "cam-pha", "loa-02", TRUST)


def test_version_2_commands_name_their_receiver_each_signed_on_its_own() -> None:
    key = SigningKey("cam-2026", b"a command key of 32 bytes, ok!!!")
    base = replace(command(80), ward="cam-pha", receiver=protocol.PLACEHOLDER_RECEIVER)
    receivers = ["loa-01", "loa-02", "loa-03"]
    made = protocol.encode_plays(base, TZ, key, 3, receivers)
    for (cid, payload), receiver in zip(made, receivers, strict=True):
        expected = replace(base, id=cid, receiver=receiver)
        assert payload == protocol.encode_command(expected, TZ, key)
        assert protocol.verify(payload, protocol.keyring(key)).ok
        parsed = protocol.parse_command(payload)
        assert (parsed.ward, parsed.receiver) == ("cam-pha", receiver)
        assert json.loads(payload)["v"] == 2
    unsigned = protocol.encode_plays(base, TZ, None, 1, ["loa-09"])
    assert json.loads(unsigned[0][1])["receiver"] == "loa-09"


def test_a_version_1_command_names_no_target() -> None:
    (cid, payload), = protocol.encode_plays(command(80), TZ, None, 1)  # fmt: skip
    body = json.loads(payload)
    assert body["v"] == 1
    assert "ward" not in body
    assert "receiver" not in body
    assert protocol.parse_command(payload).receiver is None
    assert cid == body["id"]
