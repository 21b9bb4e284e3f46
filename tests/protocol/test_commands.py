"""Commands: built exactly as docs/protocol.md shows, signed per "Signatures", and read back."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import rfc8785

from ipfm_scheduler.config.settings import AudioFile, SigningKey
from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.errors import ProtocolError, ValueInvalid
from ipfm_scheduler.protocol import (
    AudioRef,
    PlayCommand,
    StopCommand,
    Verdict,
    canonical,
    encode_command,
    new_command_id,
    parse_command,
    verify,
)

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
SHA = "ab" * 32
KEY = SigningKey("cam-trung-2026", b"s3cret")
START = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)  # 06:00 in Cam Pha

#: the command of the spec's example, as canonical JSON without `sig` (written out by hand)
BODY = (
    '{"audio":{"bytes":4915200,"duration_s":612.4,"format":"mp3",'
    f'"sha256":"{SHA}","url":"http://scheduler.example:8079/audio/{SHA}.mp3"}},'
    '"expires_at":"2026-11-30T06:30:00+07:00","id":"9f1c2a6e-1b9e-4c57-9f0e-3d2b1f1a7c11",'
    '"issued_at":"2026-11-30T05:59:58+07:00","priority":"normal","programme":"kh179",'
    '"start_at":"2026-11-30T06:00:00+07:00","title":"Kế hoạch 179-KH/TU","type":"play",'
    '"v":1,"volume":80}'
)


def play(**changes: object) -> PlayCommand:
    command = PlayCommand(
        id="9f1c2a6e-1b9e-4c57-9f0e-3d2b1f1a7c11",
        programme="kh179",
        title="Kế hoạch 179-KH/TU",
        audio=AudioRef(f"http://scheduler.example:8079/audio/{SHA}.mp3", SHA, 4915200, 612.4),
        volume=80,
        priority=Priority.NORMAL,
        start_at=START,
        expires_at=START + timedelta(minutes=30),
        issued_at=START - timedelta(seconds=2, microseconds=-123456),
    )
    return replace(command, **changes)  # type: ignore[arg-type]


def test_unsigned_play_is_the_canonical_spec_example() -> None:
    """Without a key: no `sig`; times in the station's zone to the second; non-ASCII as itself."""
    assert encode_command(play(), TZ) == BODY.encode("utf-8")


def test_signed_play_carries_an_hmac_computed_over_the_body_without_sig() -> None:
    payload = encode_command(play(), TZ, KEY)
    expected_mac = hmac.new(b"s3cret", BODY.encode("utf-8"), hashlib.sha256).hexdigest()
    expected = BODY.replace(
        '"programme":"kh179",',
        '"programme":"kh179","sig":{"alg":"HMAC-SHA256","kid":"cam-trung-2026",'
        f'"mac":"{expected_mac}"}},',
    )
    assert payload == expected.encode("utf-8")


def test_vietnamese_title_canonicalises_as_itself_and_matches_rfc8785() -> None:
    payload = encode_command(play(title="Người Việt Nam ưu tiên dùng hàng Việt Nam"), TZ, KEY)
    assert "Người Việt Nam ưu tiên dùng hàng Việt Nam".encode() in payload
    assert b"\\u" not in payload
    assert rfc8785.dumps(json.loads(payload)) == payload


@pytest.mark.parametrize(
    ("given", "sent"), [(612.4, "612.4"), (612.0, "612"), (1.23456, "1.235"), (0.1, "0.1")]
)
def test_duration_is_a_short_decimal_that_rfc8785_writes_the_same(given: float, sent: str) -> None:
    payload = encode_command(play(audio=AudioRef("http://a/x.mp3", SHA, 10, given)), TZ)
    assert f'"duration_s":{sent},'.encode() in payload
    assert rfc8785.dumps(json.loads(payload)) == payload


def test_the_same_command_always_encodes_to_the_same_bytes() -> None:
    assert encode_command(play(), TZ, KEY) == encode_command(play(), TZ, KEY)


def test_verify_accepts_the_right_key_and_names_each_fault() -> None:
    payload = encode_command(play(), TZ, KEY)
    assert verify(payload, {"cam-trung-2026": b"s3cret"}).verdict is Verdict.VALID
    assert verify(payload, {"cam-trung-2026": b"other"}).verdict is Verdict.BAD_SIGNATURE
    assert verify(payload, {"k2": b"s3cret"}).verdict is Verdict.UNKNOWN_KID
    assert verify(encode_command(play(), TZ), {"k": b"x"}).verdict is Verdict.UNSIGNED
    assert verify(b"\xff not json", {"k": b"x"}).verdict is Verdict.MALFORMED
    tampered = payload.replace(b'"volume":80', b'"volume":100')
    result = verify(tampered, {"cam-trung-2026": b"s3cret"})
    assert result.verdict is Verdict.BAD_SIGNATURE
    assert result.ack_detail == "bad-signature"


def test_verify_does_not_depend_on_key_order_or_whitespace() -> None:
    """The mac covers the canonical form: a receiver re-serialising the JSON still verifies."""
    payload = encode_command(play(), TZ, KEY)
    reordered = json.dumps(json.loads(payload), indent=2, ensure_ascii=True).encode()
    assert verify(reordered, {"cam-trung-2026": b"s3cret"}).ok


def test_stop_command_round_trips() -> None:
    stop = StopCommand("stop-1", "*", START)
    payload = encode_command(stop, TZ, KEY)
    assert payload.startswith(b'{"id":"stop-1","issued_at":"2026-11-30T06:00:00+07:00",')
    assert parse_command(payload) == stop


def test_play_round_trips_through_parse() -> None:
    parsed = parse_command(encode_command(play(), TZ, KEY))
    assert parsed == play(issued_at=datetime(2026, 11, 29, 22, 59, 58, tzinfo=UTC))


def test_audio_ref_for_a_catalogued_file_points_at_its_hash() -> None:
    file = AudioFile(path=Path(__file__), sha256=SHA, bytes=10, duration_s=3.5)
    ref = AudioRef.for_file(file, "http://127.0.0.1:8079/audio/")
    assert ref.url == f"http://127.0.0.1:8079/audio/{SHA}.mp3"


def test_new_command_ids_are_unique_valid_ids() -> None:
    ids = {new_command_id(datetime(2026, 11, 30, tzinfo=UTC)) for _ in range(100)}
    assert len(ids) == 100
    assert all(len(i) == 36 for i in ids)


@pytest.mark.parametrize(
    "changes",
    [
        {"volume": 101},
        {"volume": -1},
        {"id": "has space"},
        {"programme": "KH179"},
        {"priority": "urgent"},
        {"start_at": datetime(2026, 11, 30, 6, 0)},
        {"expires_at": START - timedelta(seconds=1)},
        {"title": "x" * 501},
    ],
)
def test_invalid_plays_cannot_be_built(changes: dict[str, object]) -> None:
    with pytest.raises(ValueInvalid):
        play(**changes)


@pytest.mark.parametrize(
    "audio",
    [
        ("http://a/x", "AB" * 32, 1, 1.0, "mp3"),
        ("http://a/x", SHA, 0, 1.0, "mp3"),
        ("http://a/x", SHA, 1, 0.0, "mp3"),
        ("http://a/x", SHA, 1, float("nan"), "mp3"),
        ("http://a x", SHA, 1, 1.0, "mp3"),
        ("http://a/x", SHA, 1, 1.0, "MP3"),
    ],
)
def test_invalid_audio_refs_cannot_be_built(audio: tuple[str, str, int, float, str]) -> None:
    with pytest.raises(ValueInvalid):
        AudioRef(*audio)


def _mutated(**changes: object) -> bytes:
    obj = json.loads(encode_command(play(), TZ))
    obj.update(changes)
    return canonical(obj)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (_mutated(v=3), "versions 1 and 2 only"),
        (_mutated(v=2), "`ward` null is not an id"),
        (_mutated(type="pause"), "expected play or stop"),
        (_mutated(volume="loud"), "`volume`"),
        (_mutated(start_at="2026-11-30T06:00:00"), "no UTC offset"),
        (_mutated(audio={"url": "http://a/x"}), "sha256"),
        (_mutated(priority=["x"]), "`priority`"),
        (_mutated(id="x" * 65), "`id`"),
        (b'{"v":1,"v":1}', "appears twice"),
    ],
)
def test_malformed_commands_are_protocol_errors_with_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        parse_command(payload)
