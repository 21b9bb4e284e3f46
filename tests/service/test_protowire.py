"""The service's wire adapter speaks the protocol package byte for byte."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

from ipfm_scheduler import protocol
from ipfm_scheduler.config.settings import AudioFile, SigningKey
from ipfm_scheduler.core.expand import PlannedAiring
from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.service.protowire import ProtocolWire
from tests.core.factories import programme
from tests.service.helpers import MONDAY, SHA, TZ, local

AUDIO = AudioFile(Path("kh179.mp3"), SHA, 4096, 600.0)
URL = f"http://127.0.0.1:8079/audio/{SHA}.mp3"


def expected(command_id: str, planned: PlannedAiring, key: SigningKey | None) -> bytes:
    ref = protocol.AudioRef(URL, SHA, 4096, 600.0)
    command = protocol.PlayCommand(
        command_id, "kh179", "Kế hoạch 179", ref, planned.volume, Priority.NORMAL,
        planned.start, planned.expires, planned.start - timedelta(minutes=2),
    )  # fmt: skip
    return protocol.encode_command(command, TZ, key)


def test_each_command_of_an_airing_is_encode_command_of_it_signed_on_its_own() -> None:
    wire = ProtocolWire()
    key = SigningKey("cam-trung-2026", b"secret")
    start = local(MONDAY, "06:00")
    planned = PlannedAiring(start, "cam-trung", "kh179", start + timedelta(minutes=30), 80, zone=TZ)
    other = PlannedAiring(start, "cua-ong", "kh179", start + timedelta(minutes=30), 70, zone=TZ)
    for airing, signing in ((planned, key), (planned, key), (other, None), (planned, None)):
        made = wire.plays(
            3, planned=airing, programme=programme(duration_s=600.0),
            audio=AUDIO, audio_url=URL, priority=Priority.NORMAL,
            issued_at=start - timedelta(minutes=2), key=signing,
        )  # fmt: skip
        assert len({command_id for command_id, _ in made}) == 3
        for command_id, payload in made:
            assert payload == expected(command_id, airing, signing)
            assert uuid.UUID(command_id).version == 4
            verdict = protocol.verify(payload, protocol.keyring(key)).verdict
            assert verdict is (protocol.Verdict.VALID if signing else protocol.Verdict.UNSIGNED)
