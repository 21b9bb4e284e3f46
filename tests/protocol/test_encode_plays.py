"""One airing's commands (``encode_plays``) are ``encode_command`` of each, byte for byte."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from zoneinfo import ZoneInfo

from ipfm_scheduler import protocol
from ipfm_scheduler.config.settings import SigningKey
from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.protocol.signing import Template

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
SHA = "ab" * 32
URL = f"http://127.0.0.1:8079/audio/{SHA}.mp3"


def command(volume: int) -> protocol.PlayCommand:
    start = protocol.wire.parse_time("2026-11-23T06:00:00+07:00", "at", "test")
    return protocol.PlayCommand(
        protocol.PLACEHOLDER_ID, "kh179", "Kế hoạch 179", protocol.AudioRef(URL, SHA, 4096, 600.0),
        volume, Priority.NORMAL, start, start + timedelta(minutes=30),
        start - timedelta(minutes=2),
    )  # fmt: skip


def test_each_command_of_an_airing_is_encode_command_of_it_signed_on_its_own() -> None:
    key = SigningKey("cam-trung-2026", b"secret")
    for base, signing in ((command(80), key), (command(80), key), (command(70), None)):
        made = protocol.encode_plays(base, TZ, signing, 3)
        assert len({command_id for command_id, _ in made}) == 3
        for command_id, payload in made:
            assert payload == protocol.encode_command(replace(base, id=command_id), TZ, signing)
            assert uuid.UUID(command_id).version == 7
            verdict = protocol.verify(payload, protocol.keyring(key)).verdict
            assert verdict is (protocol.Verdict.VALID if signing else protocol.Verdict.UNSIGNED)


def test_a_template_refuses_a_body_without_the_placeholder_id() -> None:
    import pytest

    from ipfm_scheduler.errors import ValueInvalid

    with pytest.raises(ValueInvalid, match="must carry the id"):
        Template({"id": "c1", "v": 1}, None)
    with pytest.raises(ValueInvalid, match="can't be templated"):
        Template({"id": protocol.PLACEHOLDER_ID, "note": protocol.PLACEHOLDER_ID}, None)
