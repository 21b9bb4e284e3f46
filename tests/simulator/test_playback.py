"""One simulated receiver (the receiver core with a simulated player), without MQTT and with
explicit times: instant and realtime play, the seeded fail rate, the fetch it is given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ipfm_scheduler.core.commands import AckStatus
from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.protocol import AudioRef, PlayCommand, StopCommand, encode_command
from ipfm_scheduler.simulator import Behaviour, FetchResult, Outcome, SimBox, TimeMode, Wakeup

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
T0 = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)
AUDIO = AudioRef("http://h/a.mp3", "0" * 64, 1000, 600.0)


def play(cid: str = "c1", start: datetime = T0, **kw: object) -> bytes:
    return encode_command(
        PlayCommand(
            id=cid, programme="kh179", title="Kế hoạch 179", audio=AUDIO, volume=80,
            priority=kw.pop("priority", Priority.NORMAL),  # type: ignore[arg-type]
            start_at=start, expires_at=start + timedelta(minutes=30),
            issued_at=start - timedelta(minutes=2),
        ),
        TZ,
    )  # fmt: skip


def statuses(outcome: Outcome) -> list[tuple[str, str, str | None]]:
    return [(a.id, a.status.value, a.detail) for a in outcome.acks]


def box(**kw: object) -> SimBox:
    return SimBox("cam-trung", "loa-01", Behaviour(**kw))  # type: ignore[arg-type]


def test_instant_play_is_received_played_and_completed_with_played_s_at_once() -> None:
    out = box().command(play(), T0)
    assert (out.kind, out.command_id) == ("play", "c1")
    assert statuses(out) == [
        ("c1", "received", None),
        ("c1", "playing", None),
        ("c1", "completed", None),
    ]
    assert out.acks[-1].played_s == 600.0
    assert out.wakeups == []


def test_instant_mode_plays_at_once_even_before_start_at() -> None:
    out = box().command(play(start=T0 + timedelta(minutes=2)), T0)
    assert statuses(out)[-1] == ("c1", "completed", None)
    assert out.acks[1].at == T0


def test_a_repeat_is_answered_by_the_core_with_the_latest_ack() -> None:
    sim = box()
    sim.command(play(), T0)
    again = sim.command(play(), T0 + timedelta(seconds=30))
    assert (again.kind, statuses(again)) == ("duplicate", [("c1", "completed", None)])


@pytest.mark.parametrize(
    ("fetched", "expected"),
    [
        (FetchResult.CHECKSUM, ("c1", "rejected", "checksum")),
        (FetchResult.DOWNLOAD, ("c1", "failed", "download")),
    ],
)
def test_the_fetch_it_is_given_decides_whether_the_audio_checks_out(
    fetched: FetchResult, expected: tuple[str, str, str]
) -> None:
    asked: list[AudioRef] = []

    def fetch(audio: AudioRef) -> FetchResult:
        asked.append(audio)
        return fetched

    assert statuses(box(fetch=fetch).command(play(), T0)) == [expected]
    assert asked == [AUDIO]


def test_fail_rate_one_fails_every_play_with_detail_device() -> None:
    out = box(fail_rate=1.0).command(play(), T0)
    assert statuses(out) == [
        ("c1", "received", None),
        ("c1", "playing", None),  # as a real box: the sound card fails once the player starts
        ("c1", "failed", "device"),
    ]


def test_fail_rate_is_seeded_and_independent_of_order() -> None:
    ids = [f"c{i}" for i in range(1000)]

    def failing(order: list[str], seed: int) -> set[str]:
        sim = box(fail_rate=0.3, seed=seed)
        return {
            cid for cid in order if sim.command(play(cid), T0).acks[-1].status is AckStatus.FAILED
        }

    first = failing(ids, seed=7)
    assert failing(list(reversed(ids)), seed=7) == first
    assert failing(ids, seed=8) != first
    assert 250 <= len(first) <= 350


def test_realtime_play_waits_for_start_at_and_lasts_its_duration() -> None:
    sim = box(mode=TimeMode.REALTIME)
    start = T0 + timedelta(minutes=2)
    out = sim.command(play(start=start), T0)
    assert statuses(out) == [("c1", "received", None)]
    assert out.wakeups == [Wakeup(start, "c1", "start")]
    begun = sim.due(out.wakeups[0], start)
    assert (begun.kind, statuses(begun)) == ("timer", [("c1", "playing", None)])
    assert sim.playing == "c1"
    assert begun.wakeups == [Wakeup(start + timedelta(seconds=600), "c1", "end")]
    ended = sim.due(begun.wakeups[0], start + timedelta(seconds=601))  # a late timer
    assert (ended.kind, statuses(ended)) == ("timer", [("c1", "completed", None)])
    assert ended.acks[0].played_s == 600.0
    assert sim.playing is None


def test_realtime_preempted_or_stopped_plays_end_timer_changes_nothing() -> None:
    sim = box(mode=TimeMode.REALTIME)
    first = sim.command(play("normal"), T0)
    alarm = sim.command(
        play("alarm", start=T0 + timedelta(seconds=60), priority=Priority.EMERGENCY),
        T0 + timedelta(seconds=60),
    )
    assert statuses(alarm)[1:] == [("normal", "failed", "preempted"), ("alarm", "playing", None)]
    assert sim.due(first.wakeups[0], T0 + timedelta(seconds=600)).acks == []
    assert sim.playing == "alarm"
    stop = sim.command(encode_command(StopCommand("s1", "*", T0), TZ), T0 + timedelta(seconds=90))
    assert statuses(stop) == [("alarm", "failed", "stopped"), ("s1", "completed", "stopped 1")]
    assert sim.due(alarm.wakeups[0], T0 + timedelta(seconds=660)).acks == []


def test_a_normal_play_waiting_its_turn_starts_when_the_player_ends_the_first() -> None:
    sim = box(mode=TimeMode.REALTIME)
    first = sim.command(play("a"), T0)
    second = sim.command(play("b"), T0 + timedelta(seconds=10))
    assert statuses(second) == [("b", "received", None)]
    done = sim.due(first.wakeups[0], T0 + timedelta(seconds=600))
    assert statuses(done) == [("a", "completed", None), ("b", "playing", None)]
    assert [w.command_id for w in done.wakeups] == ["b"]
