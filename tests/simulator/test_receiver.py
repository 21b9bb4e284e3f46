"""The simulated receiver's logic, without MQTT and with explicit times: every rule of
docs/protocol.md that a receiver must follow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ipfm_scheduler.config.settings import SigningKey
from ipfm_scheduler.core.commands import AckStatus
from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.protocol import AudioRef, PlayCommand, StopCommand, encode_command
from ipfm_scheduler.simulator import Behaviour, FetchResult, Outcome, SimReceiver, TimeMode
from ipfm_scheduler.simulator.receiver import Wakeup

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
T0 = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)
KEY = SigningKey("k1", b"secret")
AUDIO = AudioRef("http://h/a.mp3", "0" * 64, 1000, 600.0)


def play(cid: str = "c1", start: datetime = T0, **kw: object) -> PlayCommand:
    fields: dict[str, object] = {
        "id": cid, "programme": "kh179", "title": "Kế hoạch 179", "audio": AUDIO, "volume": 80,
        "priority": Priority.NORMAL, "start_at": start, "expires_at": start + timedelta(minutes=30),
        "issued_at": start - timedelta(minutes=2),
    }  # fmt: skip
    fields.update(kw)
    return PlayCommand(**fields)  # type: ignore[arg-type]


def wire(command: PlayCommand | StopCommand, key: SigningKey | None = None) -> bytes:
    return encode_command(command, TZ, key)


def statuses(outcome: Outcome) -> list[tuple[str, str, str | None]]:
    return [(a.id, a.status.value, a.detail) for a in outcome.acks]


def receiver(**kw: object) -> SimReceiver:
    return SimReceiver("cam-trung", "loa-01", Behaviour(**kw))  # type: ignore[arg-type]


def test_instant_play_is_received_played_and_completed_with_played_s() -> None:
    out = receiver().on_command(wire(play()), T0)
    assert statuses(out) == [
        ("c1", "received", None),
        ("c1", "playing", None),
        ("c1", "completed", None),
    ]
    assert out.acks[-1].played_s == 600.0
    assert out.acks[0].at == T0
    assert out.acks[0].at.utcoffset() == timedelta(0)


def test_a_repeated_command_plays_once_and_repeats_the_latest_ack() -> None:
    sim = receiver()
    sim.on_command(wire(play()), T0)
    again = sim.on_command(wire(play()), T0 + timedelta(seconds=30))
    assert again.kind == "duplicate"
    assert statuses(again) == [("c1", "completed", None)]


def test_a_known_id_with_another_body_is_a_replay_and_changes_nothing() -> None:
    sim = receiver()
    sim.on_command(wire(play()), T0)
    assert statuses(sim.on_command(wire(play(volume=100)), T0)) == [("c1", "rejected", "replay")]
    assert statuses(sim.on_command(wire(play()), T0)) == [("c1", "completed", None)]


@pytest.mark.parametrize("key", [None, SigningKey("k1", b"wrong"), SigningKey("other", b"secret")])
def test_with_a_key_unsigned_or_wrongly_signed_commands_are_rejected(
    key: SigningKey | None,
) -> None:
    sim = receiver(keys={"k1": b"secret"})
    assert statuses(sim.on_command(wire(play(), key), T0)) == [("c1", "rejected", "bad-signature")]
    # the forgery is not remembered: the genuine command with the same id still plays
    assert statuses(sim.on_command(wire(play(), KEY), T0))[-1] == ("c1", "completed", None)


def test_a_correctly_signed_command_plays() -> None:
    out = receiver(keys={"k1": b"secret"}).on_command(wire(play(), KEY), T0)
    assert statuses(out)[-1] == ("c1", "completed", None)


def test_past_expires_at_the_play_is_rejected_expired() -> None:
    out = receiver().on_command(wire(play()), T0 + timedelta(minutes=31))
    assert statuses(out) == [("c1", "rejected", "expired")]


def test_malformed_commands_with_an_id_are_rejected_and_without_one_dropped() -> None:
    sim = receiver()
    bad = wire(play()).replace(b'"volume":80', b'"volume":"loud"')
    assert statuses(sim.on_command(bad, T0)) == [("c1", "rejected", "malformed")]
    dropped = sim.on_command(b"\x00garbage", T0)
    assert (dropped.kind, dropped.acks) == ("dropped", [])


@pytest.mark.parametrize(
    ("fetched", "expected"),
    [
        (FetchResult.CHECKSUM, ("c1", "rejected", "checksum")),
        (FetchResult.DOWNLOAD, ("c1", "failed", "download")),
    ],
)
def test_audio_that_does_not_check_out_is_refused(
    fetched: FetchResult, expected: tuple[str, str, str]
) -> None:
    out = receiver(fetch=lambda _audio: fetched).on_command(wire(play()), T0)
    assert statuses(out) == [expected]


def test_fail_rate_one_fails_every_play_with_detail_device() -> None:
    out = receiver(fail_rate=1.0).on_command(wire(play()), T0)
    assert statuses(out) == [("c1", "received", None), ("c1", "failed", "device")]


def test_fail_rate_is_seeded_and_independent_of_order() -> None:
    ids = [f"c{i}" for i in range(1000)]

    def failing(order: list[str], seed: int) -> set[str]:
        sim = receiver(fail_rate=0.3, seed=seed)
        return {
            cid
            for cid in order
            if sim.on_command(wire(play(cid)), T0).acks[-1].status is AckStatus.FAILED
        }

    first = failing(ids, seed=7)
    assert failing(list(reversed(ids)), seed=7) == first
    assert failing(ids, seed=8) != first
    assert 250 <= len(first) <= 350


def test_realtime_play_waits_for_start_at_and_lasts_its_duration() -> None:
    sim = receiver(mode=TimeMode.REALTIME)
    start = T0 + timedelta(minutes=2)
    out = sim.on_command(wire(play(start=start)), T0)
    assert statuses(out) == [("c1", "received", None)]
    assert out.timers == [Wakeup(start, "c1", "start")]
    begun = sim.on_timer(out.timers[0], start)
    assert statuses(begun) == [("c1", "playing", None)]
    assert sim.playing == "c1"
    ended = sim.on_timer(begun.timers[0], start + timedelta(seconds=600))
    assert statuses(ended) == [("c1", "completed", None)]
    assert ended.acks[0].played_s == 600.0
    assert sim.playing is None


def test_an_emergency_preempts_the_play_in_progress() -> None:
    sim = receiver(mode=TimeMode.REALTIME)
    first = sim.on_command(wire(play("normal")), T0)
    out = sim.on_command(
        wire(play("alarm", start=T0 + timedelta(seconds=60), priority=Priority.EMERGENCY)),
        T0 + timedelta(seconds=60),
    )
    assert statuses(out) == [
        ("alarm", "received", None),
        ("normal", "failed", "preempted"),
        ("alarm", "playing", None),
    ]
    assert out.acks[1].played_s == 60.0
    # the pre-empted play's end timer changes nothing any more
    assert sim.on_timer(first.timers[0], T0 + timedelta(seconds=600)).acks == []
    assert sim.playing == "alarm"


def test_a_normal_play_due_while_another_plays_waits_its_turn() -> None:
    sim = receiver(mode=TimeMode.REALTIME)
    first = sim.on_command(wire(play("a")), T0)
    second = sim.on_command(wire(play("b")), T0 + timedelta(seconds=10))
    assert statuses(second) == [("b", "received", None)]
    done = sim.on_timer(first.timers[0], T0 + timedelta(seconds=600))
    assert statuses(done) == [("a", "completed", None), ("b", "playing", None)]


def test_a_waiting_play_that_can_no_longer_start_in_time_is_rejected_expired() -> None:
    sim = receiver(mode=TimeMode.REALTIME)
    first = sim.on_command(wire(play("a")), T0)
    sim.on_command(wire(play("b", expires_at=T0 + timedelta(seconds=300))), T0)
    done = sim.on_timer(first.timers[0], T0 + timedelta(seconds=600))
    assert statuses(done) == [("a", "completed", None), ("b", "rejected", "expired")]


def test_stop_ends_the_play_and_acknowledges_itself() -> None:
    sim = receiver(mode=TimeMode.REALTIME)
    sim.on_command(wire(play("a")), T0)
    out = sim.on_command(wire(StopCommand("s1", "a", T0)), T0 + timedelta(seconds=5))
    assert statuses(out) == [("a", "failed", "stopped"), ("s1", "completed", "stopped 1")]
    assert out.acks[0].played_s == 5.0
    # the stopped play's latest ack is what a resend of it gets
    assert statuses(sim.on_command(wire(play("a")), T0)) == [("a", "failed", "stopped")]


def test_stop_all_cancels_scheduled_plays_too() -> None:
    sim = receiver(mode=TimeMode.REALTIME)
    later = sim.on_command(wire(play("later", start=T0 + timedelta(minutes=5))), T0)
    out = sim.on_command(wire(StopCommand("s1", "*", T0)), T0)
    assert statuses(out) == [("later", "failed", "stopped"), ("s1", "completed", "stopped 1")]
    assert sim.on_timer(later.timers[0], T0 + timedelta(minutes=5)).acks == []


def test_stop_of_something_unknown_says_so() -> None:
    out = receiver().on_command(wire(StopCommand("s1", "nope", T0)), T0)
    assert statuses(out) == [("s1", "completed", "nothing to stop")]
