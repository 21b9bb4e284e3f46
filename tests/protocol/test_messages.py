"""Acks and statuses from receivers: valid ones read as values, anything else a ProtocolError
with a plain reason (what was found, what is expected)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ipfm_scheduler.core.commands import AckStatus
from ipfm_scheduler.errors import ProtocolError
from ipfm_scheduler.protocol import (
    MAX_PAYLOAD_BYTES,
    Ack,
    ReceiverState,
    ReceiverStatus,
    encode_ack,
    encode_status,
    parse_ack,
    parse_status,
)

ICT = timezone(timedelta(hours=7))


def ack_bytes(**fields: object) -> bytes:
    obj: dict[str, object] = {
        "v": 1,
        "id": "cmd-1",
        "status": "completed",
        "at": "2026-11-30T06:10:15+07:00",
    }
    obj.update(fields)
    return json.dumps({k: v for k, v in obj.items() if v is not ...}).encode()


def test_a_spec_ack_parses_into_a_value() -> None:
    ack = parse_ack(ack_bytes(detail="optional text", played_s=612.4))
    assert ack == Ack(
        "cmd-1",
        AckStatus.COMPLETED,
        datetime(2026, 11, 30, 6, 10, 15, tzinfo=ICT),
        "optional text",
        612.4,
    )


def test_ack_times_may_be_utc_z_and_fractional() -> None:
    ack = parse_ack(ack_bytes(at="2026-11-29T23:10:15.123456789Z"))
    assert ack.at == datetime(2026, 11, 29, 23, 10, 15, 123456, tzinfo=UTC)


def test_unknown_fields_are_ignored() -> None:
    assert parse_ack(ack_bytes(battery=0.5, extra={"x": [1]})).status is AckStatus.COMPLETED


def test_long_or_multiline_detail_is_cut_to_one_short_line() -> None:
    ack = parse_ack(ack_bytes(detail="line1\nline2\x00" + "x" * 1000))
    assert ack.detail is not None
    assert "\n" not in ack.detail
    assert "\x00" not in ack.detail
    assert len(ack.detail) == 200
    assert ack.detail.endswith("…")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty"),
        (b"x" * (MAX_PAYLOAD_BYTES + 1), "more than 16384"),
        (b"\xff\xfe", "not UTF-8"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object, not a list"),
        (b'{"v": 1, "v": 1}', "appears twice"),
        (
            b'{"v":1,"id":"c","status":"completed","at":"2026-11-30T06:00:00Z","played_s":NaN}',
            "not valid JSON",
        ),
        (ack_bytes(v=...), "`v` is missing"),
        (ack_bytes(v=3), "versions 1 and 2 only"),
        (ack_bytes(v=True), "versions 1 and 2 only"),
        (ack_bytes(v=1.0), "versions 1 and 2 only"),
        (ack_bytes(id="has space"), "is not a command id"),
        (ack_bytes(id=7), "is not a command id"),
        (
            ack_bytes(status="done"),
            "'done' is not one of received, playing, completed, failed, rejected",
        ),
        (ack_bytes(status={"a": 1}), "is not one of"),
        (ack_bytes(at="2026-11-30T06:10:15"), "has no UTC offset"),
        (ack_bytes(at="30/11/2026 06:10"), "is not an RFC 3339 time"),
        (
            ack_bytes(at="2026-02-30T06:10:15Z"),
            "is not a valid time (day is out of range for month)",
        ),
        (ack_bytes(at=1764457815), "must be a time as text"),
        (ack_bytes(at=...), "must be a time as text, not null"),
        (ack_bytes(detail=["x"]), "`detail` must be text"),
        (ack_bytes(played_s=-1), "expected a number >= 0"),
        (ack_bytes(played_s="612"), "`played_s` must be a number"),
        (ack_bytes(played_s=True), "`played_s` must be a number"),
        (
            b'{"v":1,"id":"c","status":"completed","at":"2026-11-30T06:00:00Z","played_s":1e999}',
            ">= 0",
        ),
        (b"[" * 5000 + b"]" * 5000, "not valid JSON"),
    ],
)
def test_bad_acks_are_refused_with_the_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_ack(payload)
    assert reason in str(caught.value)
    assert "\n" not in str(caught.value)


def test_ack_encodes_and_parses_back() -> None:
    ack = Ack(
        "cmd-1", AckStatus.FAILED, datetime(2026, 11, 30, 6, 0, tzinfo=ICT), "preempted", 12.5
    )
    assert parse_ack(encode_ack(ack)) == ack


def test_a_spec_status_parses() -> None:
    payload = (
        b'{"v":1,"state":"online","at":"2026-11-30T05:00:00+07:00","fw":"2.4.1",'
        b'"volume":80,"playing":null}'
    )
    status = parse_status(payload)
    assert status == ReceiverStatus(
        ReceiverState.ONLINE, datetime(2026, 11, 30, 5, 0, tzinfo=ICT), "2.4.1", 80, None
    )
    assert status.online


def test_a_status_without_time_or_extras_is_still_a_status() -> None:
    status = parse_status(b'{"v":1,"state":"offline"}')
    assert status.state is ReceiverState.OFFLINE
    assert status.at is None


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"v":1,"state":"asleep"}', "'asleep' is not online or offline"),
        (b'{"v":1}', "None' is not online or offline"),
        (b'{"v":1,"state":"online","volume":101}', "expected a whole number 0-100"),
        (b'{"v":1,"state":"online","playing":"a b"}', "`playing`"),
        (b'{"v":1,"state":"online","at":"yesterday"}', "RFC 3339"),
        (b'{"v":1,"state":"online","fw":3}', "`fw` must be text"),
        (b'{"state":"online"}', "`v` is missing"),
    ],
)
def test_bad_statuses_are_refused_with_the_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason.replace("(", r"\(")) as caught:
        parse_status(payload)
    assert "\n" not in str(caught.value)


def test_status_encodes_and_parses_back() -> None:
    status = ReceiverStatus(
        ReceiverState.ONLINE, datetime(2026, 11, 30, 5, 0, tzinfo=UTC), "sim", 80, "cmd-9"
    )
    assert parse_status(encode_status(status)) == status
