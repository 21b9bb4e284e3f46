"""The receiver core with explicit times: every rule of docs/protocol.md a receiver must follow.
The fetch and the player are played by the test (on_fetched, on_played)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ipfm_scheduler.config.settings import SigningKey
from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.protocol import AudioRef, PlayCommand, StopCommand, encode_command
from ipfm_scheduler.receiver.core import FetchResult, Outcome, ReceiverCore, Wakeup
from ipfm_scheduler.receiver.store import MemoryStore, Store

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
T0 = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)
KEY = SigningKey("k1", b"secret")
AUDIO = AudioRef("http://h/a.mp3", "0" * 64, 1000, 600.0)
OTHER_AUDIO = AudioRef("http://h/b.mp3", "1" * 64, 2000, 60.0)


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


def receiver(store: Store | None = None, **keys: bytes) -> ReceiverCore:
    return ReceiverCore("cam-trung", "loa-01", keys=keys, store=store or MemoryStore())


def arrive(
    core: ReceiverCore, payload: bytes, now: datetime, fetched: FetchResult = FetchResult.OK
) -> Outcome:
    """The command, then the answer to the fetch it asked for (as a cache answers at once):
    one outcome with the acks of both, what to play, stop and wake up for."""
    out = core.on_command(payload, now)
    for audio in out.fetch:
        then = core.on_fetched(audio.sha256, fetched, now)
        out.acks += then.acks
        out.wakeups += then.wakeups
        out.play, out.stop = then.play or out.play, then.stop or out.stop
    return out


def test_a_play_due_now_is_fetched_received_played_and_completed_as_the_player_says() -> None:
    core = receiver()
    out = core.on_command(wire(play()), T0)
    assert (out.kind, out.fetch, out.acks) == ("play", [AUDIO], [])
    fetched = core.on_fetched(AUDIO.sha256, FetchResult.OK, T0)
    assert statuses(fetched) == [("c1", "received", None), ("c1", "playing", None)]
    assert (fetched.play, core.playing) == (play(), "c1")
    assert fetched.acks[0].at == T0
    assert fetched.acks[0].at.utcoffset() == timedelta(0)
    done = core.on_played("c1", T0 + timedelta(seconds=599), played_s=598.7)
    assert statuses(done) == [("c1", "completed", None)]
    assert done.acks[0].played_s == 598.7  # what the player measured, not the duration
    assert core.playing is None


def test_a_repeated_command_plays_once_and_repeats_the_latest_ack() -> None:
    core = receiver()
    arrive(core, wire(play()), T0)
    core.on_played("c1", T0, played_s=600.0)
    again = core.on_command(wire(play()), T0 + timedelta(seconds=30))
    assert again.kind == "duplicate"
    assert statuses(again) == [("c1", "completed", None)]
    assert (again.fetch, again.play) == ([], None)


def test_a_repeat_while_the_audio_is_fetched_says_nothing_yet_and_fetches_once() -> None:
    core = receiver()
    core.on_command(wire(play()), T0)
    again = core.on_command(wire(play()), T0)
    assert (again.kind, again.acks, again.fetch) == ("duplicate", [], [])


def test_a_known_id_with_another_body_is_a_replay_and_changes_nothing() -> None:
    core = receiver()
    arrive(core, wire(play()), T0)
    replay = core.on_command(wire(play(volume=100)), T0)
    assert statuses(replay) == [("c1", "rejected", "replay")]
    assert (replay.fetch, replay.play) == ([], None)
    assert statuses(core.on_command(wire(play()), T0)) == [("c1", "playing", None)]


@pytest.mark.parametrize("key", [None, SigningKey("k1", b"wrong"), SigningKey("other", b"secret")])
def test_with_a_key_unsigned_or_wrongly_signed_commands_are_rejected(
    key: SigningKey | None,
) -> None:
    core = receiver(k1=b"secret")
    forged = arrive(core, wire(play(), key), T0)
    assert statuses(forged) == [("c1", "rejected", "bad-signature")]
    assert forged.fetch == []
    # the forgery is not remembered: the genuine command with the same id still plays
    assert statuses(arrive(core, wire(play(), KEY), T0))[-1] == ("c1", "playing", None)


def test_a_correctly_signed_command_plays() -> None:
    out = arrive(receiver(k1=b"secret"), wire(play(), KEY), T0)
    assert statuses(out)[-1] == ("c1", "playing", None)


def test_past_expires_at_the_play_is_rejected_expired_without_a_fetch() -> None:
    out = receiver().on_command(wire(play()), T0 + timedelta(minutes=31))
    assert statuses(out) == [("c1", "rejected", "expired")]
    assert out.fetch == []


def test_malformed_commands_with_an_id_are_rejected_and_without_one_dropped() -> None:
    core = receiver()
    bad = wire(play()).replace(b'"volume":80', b'"volume":"loud"')
    assert statuses(core.on_command(bad, T0)) == [("c1", "rejected", "malformed")]
    dropped = core.on_command(b"\x00garbage", T0)
    assert (dropped.kind, dropped.acks) == ("dropped", [])


@pytest.mark.parametrize(
    ("fetched", "expected"),
    [
        (FetchResult.CHECKSUM, ("c1", "rejected", "checksum")),
        (FetchResult.DOWNLOAD, ("c1", "failed", "download")),
    ],
)
def test_audio_that_does_not_check_out_is_refused_and_nothing_plays(
    fetched: FetchResult, expected: tuple[str, str, str]
) -> None:
    core = receiver()
    out = arrive(core, wire(play()), T0, fetched)
    assert statuses(out) == [expected]
    assert (out.play, out.wakeups, core.playing) == (None, [], None)


def test_a_fetch_that_ends_after_expires_at_is_rejected_expired() -> None:
    core = receiver()
    core.on_command(wire(play()), T0)
    late = core.on_fetched(AUDIO.sha256, FetchResult.OK, T0 + timedelta(minutes=31))
    assert statuses(late) == [("c1", "rejected", "expired")]
    assert late.play is None


def test_plays_of_the_same_audio_share_one_fetch() -> None:
    core = receiver()
    first = core.on_command(wire(play("a", T0 + timedelta(minutes=5))), T0)
    second = core.on_command(wire(play("b", T0 + timedelta(minutes=40))), T0)
    other = core.on_command(wire(play("c", audio=OTHER_AUDIO)), T0)
    assert (first.fetch, second.fetch, other.fetch) == ([AUDIO], [], [OTHER_AUDIO])
    both = core.on_fetched(AUDIO.sha256, FetchResult.OK, T0)
    assert statuses(both) == [("a", "received", None), ("b", "received", None)]
    assert [w.command_id for w in both.wakeups] == ["a", "b"]


def test_the_player_failing_is_failed_with_its_reason_and_the_next_play_starts() -> None:
    core = receiver()
    arrive(core, wire(play("a")), T0)
    arrive(core, wire(play("b")), T0)
    out = core.on_played("a", T0 + timedelta(seconds=1), played_s=0.0, failure="device")
    assert statuses(out) == [("a", "failed", "device"), ("b", "playing", None)]
    assert out.play == play("b")


def test_a_play_waits_for_start_at_and_ends_when_the_player_says() -> None:
    core = receiver()
    start = T0 + timedelta(minutes=2)
    out = arrive(core, wire(play(start=start)), T0)
    assert statuses(out) == [("c1", "received", None)]
    assert (out.wakeups, out.play) == ([Wakeup(start, "c1", "start")], None)
    begun = core.on_timer(out.wakeups[0], start)
    assert statuses(begun) == [("c1", "playing", None)]
    assert (begun.play, core.playing) == (play(start=start), "c1")
    ended = core.on_played("c1", start + timedelta(seconds=600), played_s=600.0)
    assert statuses(ended) == [("c1", "completed", None)]
    assert ended.acks[0].played_s == 600.0
    assert core.playing is None


def test_an_emergency_preempts_the_play_in_progress() -> None:
    core = receiver()
    arrive(core, wire(play("normal")), T0)
    then = T0 + timedelta(seconds=60)
    out = arrive(core, wire(play("alarm", then, priority=Priority.EMERGENCY)), then)
    assert statuses(out) == [
        ("alarm", "received", None),
        ("normal", "failed", "preempted"),
        ("alarm", "playing", None),
    ]
    assert out.acks[1].played_s == 60.0
    assert (out.stop, out.play) == ("normal", play("alarm", then, priority=Priority.EMERGENCY))
    # the pre-empted play's end, as its player reports it, changes nothing any more
    assert core.on_played("normal", then, played_s=60.0, failure="stopped").acks == []
    assert core.playing == "alarm"


def test_a_normal_play_due_while_another_plays_waits_its_turn() -> None:
    core = receiver()
    arrive(core, wire(play("a")), T0)
    second = arrive(core, wire(play("b")), T0 + timedelta(seconds=10))
    assert statuses(second) == [("b", "received", None)]
    assert second.play is None
    done = core.on_played("a", T0 + timedelta(seconds=600), played_s=600.0)
    assert statuses(done) == [("a", "completed", None), ("b", "playing", None)]


def test_a_waiting_play_that_can_no_longer_start_in_time_is_rejected_expired() -> None:
    core = receiver()
    arrive(core, wire(play("a")), T0)
    arrive(core, wire(play("b", expires_at=T0 + timedelta(seconds=300))), T0)
    done = core.on_played("a", T0 + timedelta(seconds=600), played_s=600.0)
    assert statuses(done) == [("a", "completed", None), ("b", "rejected", "expired")]
    assert done.play is None


def test_stop_ends_the_play_and_acknowledges_itself() -> None:
    core = receiver()
    arrive(core, wire(play("a")), T0)
    out = core.on_command(wire(StopCommand("s1", "a", T0)), T0 + timedelta(seconds=5))
    assert statuses(out) == [("a", "failed", "stopped"), ("s1", "completed", "stopped 1")]
    assert out.acks[0].played_s == 5.0
    assert out.stop == "a"
    # the stopped play's latest ack is what a resend of it gets
    assert statuses(core.on_command(wire(play("a")), T0)) == [("a", "failed", "stopped")]


def test_stop_all_cancels_scheduled_plays_and_plays_awaiting_their_audio() -> None:
    core = receiver()
    later = arrive(core, wire(play("later", start=T0 + timedelta(minutes=5))), T0)
    core.on_command(wire(play("fetching", audio=OTHER_AUDIO)), T0)
    out = core.on_command(wire(StopCommand("s1", "*", T0)), T0)
    assert statuses(out) == [
        ("fetching", "failed", "stopped"),
        ("later", "failed", "stopped"),
        ("s1", "completed", "stopped 2"),
    ]
    assert out.stop is None  # nothing was playing
    assert core.on_timer(later.wakeups[0], T0 + timedelta(minutes=5)).acks == []
    assert core.on_fetched(OTHER_AUDIO.sha256, FetchResult.OK, T0).acks == []


def test_stop_of_something_unknown_says_so() -> None:
    out = receiver().on_command(wire(StopCommand("s1", "nope", T0)), T0)
    assert statuses(out) == [("s1", "completed", "nothing to stop")]


def test_every_ack_waits_in_the_outbox_until_delivered() -> None:
    store = MemoryStore()
    core = receiver(store)
    out = arrive(core, wire(play()), T0)
    assert store.pending_acks() == [(a.id, a) for a in out.acks]
    store.delivered("c1", "received")
    assert [a.status.value for _, a in store.pending_acks()] == ["playing"]


def test_a_restart_mid_play_answers_interrupted_and_never_plays_it_again() -> None:
    store = MemoryStore()
    arrive(receiver(store), wire(play()), T0)
    core = receiver(store)  # the box restarted: a new process, the same state file
    assert core.playing == "c1"
    restored = core.restore(T0 + timedelta(seconds=70))
    assert statuses(restored) == [("c1", "failed", "interrupted")]
    assert (restored.play, restored.fetch, core.playing) == (None, [], None)
    again = core.on_command(wire(play()), T0 + timedelta(seconds=80))
    assert statuses(again) == [("c1", "failed", "interrupted")]
    assert (again.fetch, again.play) == ([], None)


def test_a_restart_fetches_pending_plays_again_and_refuses_the_expired_ones() -> None:
    store = MemoryStore()
    before = receiver(store)
    soon = T0 + timedelta(minutes=10)
    arrive(before, wire(play("soon", soon)), T0)
    arrive(before, wire(play("gone", T0, expires_at=T0 + timedelta(minutes=2))), T0)
    before.on_command(wire(play("unfetched", soon, audio=OTHER_AUDIO)), T0)
    before.on_played("gone", T0, played_s=0.0, failure="device")
    arrive(before, wire(play("short", T0 + timedelta(minutes=1), expires_at=soon)), T0)
    core = receiver(store)
    restored = core.restore(soon + timedelta(seconds=1))
    assert statuses(restored) == [("short", "rejected", "expired")]
    assert restored.fetch == [AUDIO, OTHER_AUDIO]
    now = soon + timedelta(seconds=2)
    # "soon" had said received before the restart: not again
    assert statuses(core.on_fetched(AUDIO.sha256, FetchResult.OK, now)) == [
        ("soon", "playing", None)
    ]
    assert statuses(core.on_fetched(OTHER_AUDIO.sha256, FetchResult.OK, now)) == [
        ("unfetched", "received", None)
    ]


def test_ids_are_forgotten_a_day_after_the_command_could_last_have_played() -> None:
    store = MemoryStore()
    core = receiver(store)
    arrive(core, wire(play()), T0)
    core.on_played("c1", T0, played_s=600.0)
    seen = store.seen("c1")
    assert seen is not None
    assert seen.expires_at == T0 + timedelta(minutes=30, seconds=600, days=1)
    core.on_command(wire(replace(play(), id="c2")), seen.expires_at)
    assert store.seen("c1") is not None  # not past yet
    core.on_command(wire(replace(play(), id="c3")), seen.expires_at + timedelta(hours=1))
    assert store.seen("c1") is None
