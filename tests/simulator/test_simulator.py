"""The simulator against the real mosquitto: statuses at start and stop, commands answered on
the ack topics, offline receivers silent, realtime play driven by a controlled clock."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ipfm_scheduler.config.settings import MqttSettings, SigningKey
from ipfm_scheduler.core.model import Priority, Receiver, Schedule, Ward
from ipfm_scheduler.protocol import (
    AudioRef,
    PlayCommand,
    ReceiverState,
    cmd_topic,
    encode_command,
    parse_ack,
    parse_status,
    parse_topic,
    scheduler_filters,
)
from ipfm_scheduler.simulator import (
    Behaviour,
    Handled,
    ManualClock,
    Simulator,
    TimeMode,
    receivers_of,
)
from ipfm_scheduler.transport.mqtt import Incoming, MqttTransport
from tests.brokers import RECOMMENDED_CONF, PrivateBroker

pytestmark = pytest.mark.mqtt
WAIT = 10.0
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
KEY = SigningKey("cam-pha-2026", b"shared secret")


def settings(mqtt_broker: tuple[str, int], prefix: str) -> MqttSettings:
    host, port = mqtt_broker
    return MqttSettings(host=host, port=port, topic_prefix=prefix)


def play(cid: str, now: datetime, start: datetime | None = None, **kw: object) -> PlayCommand:
    start = start or now
    return PlayCommand(
        id=cid, programme="kh179", title="Kế hoạch 179", volume=80,
        audio=AudioRef("http://127.0.0.1:8079/audio/x.mp3", "0" * 64, 100, 612.4),
        priority=kw.pop("priority", Priority.NORMAL),  # type: ignore[arg-type]
        start_at=start, expires_at=start + timedelta(minutes=30), issued_at=now,
    )  # fmt: skip


@pytest.fixture
def scheduler(mqtt_broker: tuple[str, int], clean_prefix: str) -> Iterator[MqttTransport]:
    """The scheduler's side: subscribed to every ack and status under the test's prefix."""
    transport = MqttTransport(settings(mqtt_broker, clean_prefix), scheduler_filters(clean_prefix))
    transport.connect(WAIT)
    yield transport
    transport.close(1)


def next_message(transport: MqttTransport, kind: str) -> tuple[str, str, Incoming]:
    """The next message of ``kind`` (ack/status): (ward, receiver, message)."""
    while True:
        message = transport.incoming.get(timeout=WAIT)
        ref = parse_topic(transport.subscriptions[0].split("/+")[0], message.topic)
        if ref.kind.value == kind:
            return ref.ward, ref.receiver, message


def test_statuses_at_start_and_stop_and_offline_receivers_stay_silent(
    mqtt_broker: tuple[str, int], clean_prefix: str, scheduler: MqttTransport
) -> None:
    ward = Ward(
        "cam-trung",
        "Phường Cẩm Trung",
        (Receiver("loa-01"), Receiver("loa-02"), Receiver("loa-03", enabled=False)),
        (),
        (),
    )
    schedule = Schedule(TZ, {}, {"cam-trung": ward})
    assert receivers_of(schedule) == [("cam-trung", "loa-01"), ("cam-trung", "loa-02")]
    handled: queue.SimpleQueue[Handled] = queue.SimpleQueue()
    sim = Simulator(
        settings(mqtt_broker, clean_prefix),
        schedule,
        offline=[("cam-trung", "loa-02")],
        on_handled=handled.put,
    )
    sim.start(WAIT)
    try:
        ward_id, receiver, message = next_message(scheduler, "status")
        status = parse_status(message.payload)
        assert (ward_id, receiver, status.state, message.retain) == (
            "cam-trung",
            "loa-01",
            ReceiverState.ONLINE,
            False,
        )
        # the receiver played as switched off says so (an earlier run's retained `online` for
        # it must not stand)
        ward_id, receiver, message = next_message(scheduler, "status")
        assert (receiver, parse_status(message.payload).state) == ("loa-02", ReceiverState.OFFLINE)

        now = datetime.now(UTC)
        # the offline receiver's command goes first: once loa-01 answered, it was seen and ignored
        scheduler.publish(
            cmd_topic(clean_prefix, "cam-trung", "loa-02"),
            encode_command(play("c-offline", now), TZ),
        )
        scheduler.publish(
            cmd_topic(clean_prefix, "cam-trung", "loa-01"),
            encode_command(play("c-online", now), TZ),
        )
        acks = [next_message(scheduler, "ack") for _ in range(3)]
        assert [(w, r, parse_ack(m.payload).status.value) for w, r, m in acks] == [
            ("cam-trung", "loa-01", "received"),
            ("cam-trung", "loa-01", "playing"),
            ("cam-trung", "loa-01", "completed"),
        ]
        assert parse_ack(acks[-1][2].payload).played_s == 612.4
        assert handled.get(timeout=WAIT).describe() == (
            "cam-trung/loa-01: play c-online: received, playing, completed [kh179 normal]"
        )
        assert handled.empty()
    finally:
        sim.stop()
    _w, receiver, message = next_message(scheduler, "status")
    assert (receiver, parse_status(message.payload).state) == ("loa-01", ReceiverState.OFFLINE)


def test_signed_commands_are_checked_and_repeats_answered_once(
    mqtt_broker: tuple[str, int], clean_prefix: str, scheduler: MqttTransport
) -> None:
    behaviour = Behaviour(keys={KEY.kid: KEY.secret}, mode=TimeMode.INSTANT, tz=TZ)
    with Simulator(settings(mqtt_broker, clean_prefix), [("cam-pha", "loa-01")], behaviour):
        next_message(scheduler, "status")
        topic = cmd_topic(clean_prefix, "cam-pha", "loa-01")
        now = datetime.now(UTC)
        signed = encode_command(play("c1", now), TZ, KEY)
        scheduler.publish(
            topic, encode_command(play("forged", now), TZ, SigningKey(KEY.kid, b"guess"))
        )
        scheduler.publish(topic, signed)
        scheduler.publish(topic, signed)  # a resend: the same bytes
        answers = [parse_ack(next_message(scheduler, "ack")[2].payload) for _ in range(5)]
    assert [(a.id, a.status.value, a.detail) for a in answers] == [
        ("forged", "rejected", "bad-signature"),
        ("c1", "received", None),
        ("c1", "playing", None),
        ("c1", "completed", None),
        ("c1", "completed", None),  # the latest ack, repeated; not played twice
    ]
    assert answers[0].at.utcoffset() == timedelta(hours=7)


def test_realtime_with_a_controlled_clock_plays_at_start_at_for_the_duration(
    mqtt_broker: tuple[str, int], clean_prefix: str, scheduler: MqttTransport
) -> None:
    t0 = datetime(2026, 11, 29, 23, 0, tzinfo=UTC)
    clock = ManualClock(t0)
    behaviour = Behaviour(mode=TimeMode.REALTIME)
    sim = Simulator(
        settings(mqtt_broker, clean_prefix), [("cam-pha", "loa-01")], behaviour, clock=clock
    )
    with sim:
        next_message(scheduler, "status")
        start = t0 + timedelta(minutes=2)
        scheduler.publish(
            cmd_topic(clean_prefix, "cam-pha", "loa-01"), encode_command(play("c1", t0, start), TZ)
        )
        assert parse_ack(next_message(scheduler, "ack")[2].payload).status.value == "received"
        clock.set(start)
        playing = parse_ack(next_message(scheduler, "ack")[2].payload)
        assert (playing.status.value, playing.at) == ("playing", start)
        clock.advance(timedelta(seconds=612.4))
        done = parse_ack(next_message(scheduler, "ack")[2].payload)
        assert (done.status.value, done.played_s) == ("completed", 612.4)
        assert done.at == start + timedelta(seconds=612)  # times go over the wire to the second
    assert sim.handled_count == 1  # one command, whose play had two later steps (it said 3)


@pytest.mark.slow
def test_one_connection_keeps_up_with_thousands_of_receivers(tmp_path: Path) -> None:
    """2,000 receivers on one connection, each sent a play: every one answers. The broker runs
    with config/mosquitto/ipfm.conf (mosquitto's default queue of 1,000 drops such bursts)."""
    broker = PrivateBroker(tmp_path, extra=RECOMMENDED_CONF.read_text())
    broker.start()
    mqtt = MqttSettings(host="127.0.0.1", port=broker.port, topic_prefix="ipfm")
    scheduler = MqttTransport(mqtt, scheduler_filters("ipfm"))
    pairs = [(f"ward-{w:02d}", f"loa-{r:03d}") for w in range(20) for r in range(100)]
    behaviour = Behaviour(mode=TimeMode.INSTANT, fail_rate=0.1, seed=3)
    try:
        scheduler.connect(WAIT)
        with Simulator(mqtt, pairs, behaviour) as sim:
            for _ in pairs:
                next_message(scheduler, "status")
            now = datetime.now(UTC)
            for i, (ward, receiver) in enumerate(pairs):
                payload = encode_command(play(f"c{i}", now), TZ)
                scheduler.publish(cmd_topic("ipfm", ward, receiver), payload)
            finals: dict[str, str] = {}
            while len(finals) < len(pairs):
                ack = parse_ack(next_message(scheduler, "ack")[2].payload)
                if ack.status.value in ("completed", "failed"):
                    finals[ack.id] = ack.status.value
    finally:
        scheduler.close(1)
        broker.stop()
    assert sim.handled_count == len(pairs)  # read after stop(): the worker has finished
    failed = sum(1 for s in finals.values() if s == "failed")
    assert 140 <= failed <= 260  # about 10 % of 2,000


def test_a_receiver_taken_offline_says_so_and_answers_nothing_until_it_is_back(
    mqtt_broker: tuple[str, int], clean_prefix: str, scheduler: MqttTransport
) -> None:
    mqtt = settings(mqtt_broker, clean_prefix)
    behaviour = Behaviour(mode=TimeMode.INSTANT)
    with Simulator(mqtt, [("cam-pha", "loa-01"), ("cam-pha", "loa-02")], behaviour) as sim:
        next_message(scheduler, "status")
        next_message(scheduler, "status")
        sim.take_offline("cam-pha", "loa-01")
        _w, receiver, message = next_message(scheduler, "status")
        assert (receiver, parse_status(message.payload).state) == ("loa-01", ReceiverState.OFFLINE)
        now = datetime.now(UTC)
        first = encode_command(play("c1", now), TZ)
        scheduler.publish(cmd_topic(clean_prefix, "cam-pha", "loa-01"), first)
        scheduler.publish(
            cmd_topic(clean_prefix, "cam-pha", "loa-02"), encode_command(play("c2", now), TZ)
        )
        # loa-02 answers; loa-01's command, sent first, got no answer
        assert next_message(scheduler, "ack")[1] == "loa-02"
        sim.bring_online("cam-pha", "loa-01")
        _w, receiver, message = next_message(scheduler, "status")
        assert (receiver, parse_status(message.payload).online) == ("loa-01", True)
        scheduler.publish(cmd_topic(clean_prefix, "cam-pha", "loa-01"), first)  # the resend
        loa_01: list[str] = []
        while len(loa_01) < 3:
            _w, receiver, message = next_message(scheduler, "ack")
            if receiver == "loa-01":
                loa_01.append(parse_ack(message.payload).status.value)
    assert loa_01 == ["received", "playing", "completed"]


@pytest.mark.parametrize("broker_there", [True, False])
def test_stop_says_whether_the_receivers_could_say_offline(
    private_broker: PrivateBroker, broker_there: bool
) -> None:
    """`simulate` prints "the receivers said offline" only when they could: not while the
    broker is away (it claimed so then too)."""
    sim = Simulator(
        MqttSettings(host="127.0.0.1", port=private_broker.port, topic_prefix="sim-stop"),
        [("cam-pha", "loa-01")],
    )
    sim.start(WAIT)
    if not broker_there:
        private_broker.stop()
        assert sim.transport.wait_disconnected(WAIT)
    assert sim.stop(1) is broker_there
