"""The receiver core and protocol version 2: a command for another box is refused
(`wrong-target`), the box signs what it says with its own key, and a rotated command key is
accepted until the end of its date (the box's date), then refused."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta

from ipfm_scheduler.config.settings import SigningKey
from ipfm_scheduler.protocol import (
    Ack,
    ReceiverState,
    ReceiverStatus,
    StopCommand,
    Trust,
    read_ack,
    read_status,
)
from ipfm_scheduler.receiver.core import ReceiverCore
from ipfm_scheduler.receiver.store import MemoryStore
from tests.receiver.test_core import KEY, T0, TZ, arrive, play, statuses, wire

OWN = SigningKey("k-own", b"this box's own key, 32 bytes ok!")


def box(receiver: str = "loa-01", **kw: object) -> ReceiverCore:
    return ReceiverCore(
        "cam-trung", receiver, keys={KEY.kid: KEY.secret}, store=MemoryStore(), tz=TZ,
        own_key=OWN, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def for_(receiver: str, ward: str = "cam-trung", cid: str = "c1") -> bytes:
    return wire(play(cid, ward=ward, receiver=receiver), KEY)


def test_a_command_for_another_receiver_is_rejected_wrong_target_and_not_played() -> None:
    core = box("loa-01")
    for payload in (for_("loa-03"), for_("loa-01", ward="cam-binh")):
        out = arrive(core, payload, T0)
        assert statuses(out) == [("c1", "rejected", "wrong-target")]
        assert (out.fetch, out.play) == ([], None)
    # not remembered: a command with that id meant for this box still plays
    assert statuses(arrive(core, for_("loa-01"), T0))[-1] == ("c1", "playing", None)


def test_a_stop_for_another_receiver_stops_nothing() -> None:
    core = box("loa-01")
    arrive(core, for_("loa-01"), T0)
    stop = StopCommand("s1", "*", T0, "cam-trung", "loa-02")
    out = core.on_command(wire(stop, KEY), T0 + timedelta(seconds=5))  # type: ignore[arg-type]
    assert statuses(out) == [("s1", "rejected", "wrong-target")]
    assert out.stop is None
    assert core.playing == "c1"


def test_the_target_is_checked_after_the_signature() -> None:
    core = box("loa-01")
    forged = wire(play(ward="cam-trung", receiver="loa-03"), SigningKey("k1", b"forged"))
    assert statuses(core.on_command(forged, T0)) == [("c1", "rejected", "bad-signature")]


def test_the_box_signs_its_acks_and_statuses_with_its_own_key() -> None:
    core = box("loa-01")
    out = arrive(core, for_("loa-01"), T0)
    trust = Trust({OWN.kid: OWN.secret})
    for ack in out.acks:
        payload = core.encode_ack(ack)
        assert json.loads(payload)["sig"]["kid"] == "k-own"
        assert read_ack(payload, "cam-trung", "loa-01", trust) == (ack, True)
    status = ReceiverStatus(ReceiverState.ONLINE, T0, "fw", 80, "c1")
    assert read_status(core.encode_status(status), "cam-trung", "loa-01", trust)[1]


def test_without_its_own_key_the_box_speaks_version_1() -> None:
    core = ReceiverCore("cam-trung", "loa-01", keys={}, store=MemoryStore(), tz=TZ)
    ack = Ack("c1", "received", T0)  # type: ignore[arg-type]
    body = json.loads(core.encode_ack(ack))
    assert body["v"] == 1
    assert "sig" not in body


def test_a_rotated_command_key_is_accepted_until_the_end_of_its_date() -> None:
    old = SigningKey("k-old", b"the old command key, 32 bytes ok")
    last = date(2026, 11, 30)  # T0 is 2026-11-30 06:00 in Hanoi
    core = ReceiverCore(
        "cam-trung", "loa-01", keys={KEY.kid: KEY.secret, old.kid: old.secret},
        store=MemoryStore(), tz=TZ, until={old.kid: last},
    )  # fmt: skip
    evening = T0 + timedelta(hours=17)  # 23:00 local, 30 November
    on_the_day = arrive(core, wire(play("c1", start=evening), old), evening)
    assert statuses(on_the_day)[-1] == ("c1", "playing", None)
    the_day_after = T0 + timedelta(hours=18)  # 00:00 local, 1 December
    late = play("c2", start=the_day_after)
    assert statuses(core.on_command(wire(late, old), the_day_after)) == [
        ("c2", "rejected", "bad-signature")
    ]
    new = arrive(core, wire(replace(late, id="c3"), KEY), the_day_after)
    assert ("c3", "received", None) in statuses(new)
