"""Property tests: hostile input never raises anything but ProtocolError, and every value we can
build survives the wire (encode, then parse or verify) unchanged."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ipfm_scheduler.config.settings import SigningKey
from ipfm_scheduler.core.commands import AckStatus
from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.errors import ProtocolError
from ipfm_scheduler.protocol import (
    Ack,
    AudioRef,
    PlayCommand,
    encode_ack,
    encode_command,
    parse_ack,
    parse_command,
    parse_status,
    parse_topic,
    verify,
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
ACK_FIELDS = ("v", "id", "status", "at", "detail", "played_s")
STATUS_FIELDS = ("v", "state", "at", "fw", "volume", "playing")
VALID_ACK: dict[str, Any] = {
    "v": 1,
    "id": "c-1",
    "status": "completed",
    "at": "2026-11-30T06:00:00Z",
    "played_s": 1,
}
VALID_STATUS: dict[str, Any] = {
    "v": 1,
    "state": "online",
    "at": "2026-11-30T06:00:00Z",
    "volume": 5,
}


def only_protocol_errors(parse: Any, payload: bytes) -> None:
    message = "parsed"
    try:
        parse(payload)
    except ProtocolError as exc:
        message = str(exc)
    assert message
    assert "\n" not in message


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_protocol_errors(payload: bytes) -> None:
    for parse in (parse_ack, parse_status, parse_command):
        only_protocol_errors(parse, payload)
    assert not verify(payload, {"k": b"x"}).ok


@settings(max_examples=300)
@given(st.sampled_from(ACK_FIELDS), json_values)
def test_an_ack_with_any_field_replaced_parses_or_is_a_protocol_error(
    field: str, value: Any
) -> None:
    only_protocol_errors(parse_ack, json.dumps({**VALID_ACK, field: value}).encode())


@settings(max_examples=300)
@given(st.sampled_from(STATUS_FIELDS), json_values)
def test_a_status_with_any_field_replaced_parses_or_is_a_protocol_error(
    field: str, value: Any
) -> None:
    only_protocol_errors(parse_status, json.dumps({**VALID_STATUS, field: value}).encode())


@settings(max_examples=200)
@given(st.dictionaries(st.text(max_size=12), json_values, max_size=12))
def test_any_json_object_is_a_command_or_a_protocol_error(obj: dict[str, Any]) -> None:
    only_protocol_errors(
        parse_command, json.dumps({"v": 1, "id": "c", "type": "play", **obj}).encode()
    )


@given(st.text(max_size=80))
def test_any_topic_text_parses_or_is_a_protocol_error(topic: str) -> None:
    try:
        ref = parse_topic("ipfm", topic)
    except ProtocolError:
        return
    assert ref.topic("ipfm") == topic


command_ids = st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=0))


@given(
    command_ids,
    st.sampled_from(list(AckStatus)),
    moments,
    st.none() | st.text(max_size=50),
    st.none() | st.floats(min_value=0, max_value=1e6),
)
def test_every_ack_we_can_build_parses_back_the_same(
    cid: str, status: AckStatus, at: datetime, detail: str | None, played: float | None
) -> None:
    ack = Ack(cid, status, at, detail, None if played is None else round(played, 3))
    assert parse_ack(encode_ack(ack, ZoneInfo("Asia/Ho_Chi_Minh"))) == ack


@given(
    cid=command_ids,
    title=st.text(max_size=60),
    duration=st.floats(min_value=0.001, max_value=86400),
    volume=st.integers(0, 100),
    priority=st.sampled_from(list(Priority)),
    start=moments,
    zone=st.sampled_from(["UTC", "Asia/Ho_Chi_Minh", "America/New_York"]),
)
def test_every_play_we_can_build_is_canonical_signed_and_parses_back(
    *,
    cid: str,
    title: str,
    duration: float,
    volume: int,
    priority: Priority,
    start: datetime,
    zone: str,
) -> None:
    audio = AudioRef("http://h/a.mp3", "0" * 64, 100, duration)
    command = PlayCommand(
        cid, "kh179", title, audio, volume, priority, start, start + timedelta(minutes=30), start
    )
    payload = encode_command(command, ZoneInfo(zone), SigningKey("k1", b"secret"))
    assert rfc8785.dumps(json.loads(payload)) == payload
    assert verify(payload, {"k1": b"secret"}).ok
    assert parse_command(payload) == command
