"""The bounded intake between paho's thread and the service (transport/intake.py): a message
too large to be an answer is cut at once; when the queue is full a status is dropped and
counted, an ack makes paho's thread wait (bounded) for room; and against the real broker, a
flood of 1 MB messages never queues more than the bound."""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
from collections.abc import Iterator

import pytest

from ipfm_scheduler import i18n
from ipfm_scheduler.config.settings import MqttSettings
from ipfm_scheduler.service.http.metrics import Metrics
from ipfm_scheduler.transport.intake import Incoming, Intake
from ipfm_scheduler.transport.mqtt import MqttTransport
from ipfm_scheduler.transport.outbox import MqttOutbox
from tests.brokers import PrivateBroker

WAIT = 10.0
ACK = "p/cam-trung/loa-01/ack"
STATUS = "p/cam-trung/loa-01/status"


def message(topic: str, size: int = 10) -> Incoming:
    return Incoming(topic, b"x" * size, False, 1)


def acks_only(topic: str) -> bool:
    return topic.endswith("/ack")


def test_a_message_larger_than_any_answer_keeps_its_start_size_and_sha256() -> None:
    intake = Intake()
    whole = bytes(range(256)) * 4096  # 1 MiB
    intake.put(Incoming(STATUS, whole, True, 1))
    kept = intake.get_nowait()
    assert (kept.payload, kept.size, kept.retain) == (whole[:1024], len(whole), True)
    assert kept.sha256 == hashlib.sha256(whole).hexdigest()
    assert (intake.cut, intake.queued_bytes) == (1, 0)
    small = message(STATUS, 16 * 1024)
    intake.put(small)
    assert intake.get_nowait() == small  # an answer's largest size is kept whole


def test_when_full_a_status_is_dropped_and_counted_at_once() -> None:
    intake = Intake(max_count=2, precious=acks_only, block_s=WAIT)
    assert intake.put(message(STATUS))
    assert intake.put(message(STATUS))
    assert not intake.put(message(STATUS))  # no wait: WAIT would have failed the test's pace
    assert (intake.dropped, intake.qsize(), intake.blocked_s) == (1, 2, 0.0)


def test_when_full_an_ack_waits_for_room_then_goes_in() -> None:
    intake = Intake(max_count=2, precious=acks_only, block_s=WAIT)
    intake.put(message(ACK))
    intake.put(message(ACK))
    started, done = threading.Event(), threading.Event()
    result: list[bool] = []

    def paho() -> None:
        started.set()
        result.append(intake.put(message(ACK, 11)))
        done.set()

    threading.Thread(target=paho, daemon=True).start()
    assert started.wait(WAIT)
    assert not done.wait(0.2)  # paho's thread waits: the broker holds what follows
    intake.get_nowait()
    assert done.wait(WAIT)
    assert result == [True]
    assert intake.dropped == 0
    assert intake.blocked_s > 0
    assert [intake.get_nowait().payload for _ in range(2)] == [b"x" * 10, b"x" * 11]


def test_an_ack_that_finds_no_room_in_time_is_dropped_and_counted() -> None:
    intake = Intake(max_count=1, precious=acks_only, block_s=0.05)
    intake.put(message(ACK))
    assert not intake.put(message(ACK))
    assert intake.dropped == 1
    assert intake.blocked_s >= 0.05


def test_the_bound_in_bytes_holds_as_well_as_the_count() -> None:
    intake = Intake(max_bytes=100_000, max_count=1000)
    accepted = sum(intake.put(message(STATUS, 16_000)) for _ in range(20))
    assert accepted == 6
    assert intake.queued_bytes <= 100_000
    with pytest.raises(queue.Empty):
        Intake().get(timeout=0.01)


def test_the_intake_is_reported_in_the_metrics() -> None:
    intake = Intake(max_count=1)
    metrics = Metrics()
    metrics.watch_intake(intake)
    intake.put(message(STATUS, 20_000))
    intake.put(message(STATUS))
    text = metrics.render().decode()
    assert "ipfm_intake_dropped_total 1.0" in text
    assert "ipfm_intake_cut_total 1.0" in text
    assert 'ipfm_intake_queued{unit="messages"} 1.0' in text


# ---------------------------------------------------------------- the real broker


@pytest.fixture
def big_broker(private_broker: PrivateBroker) -> Iterator[PrivateBroker]:
    """A private mosquitto that takes 2 MB messages (killed, not stopped: here mosquitto at
    times takes more than the 10 s the fixture waits to end on SIGTERM)."""
    private_broker.kill()
    private_broker.extra = "message_size_limit 2000000\nmax_queued_messages 100000"
    private_broker.start()
    yield private_broker
    private_broker.kill()


@pytest.mark.mqtt
def test_a_flood_of_1mb_statuses_is_cut_at_the_intake_and_the_queue_stays_bounded(
    big_broker: PrivateBroker,
) -> None:
    settings = MqttSettings(url=f"mqtt://127.0.0.1:{big_broker.port}", port=big_broker.port)
    outbox = MqttOutbox(settings, prefix="p")
    outbox.intake.max_count = 50
    attacker = MqttTransport(settings, max_outstanding=100)
    try:
        assert outbox.wait_connected(WAIT)
        attacker.connect(WAIT)
        big = b"{" * 1_000_000
        for i in range(200):
            attacker.publish(f"p/cam-trung/loa-{i % 5:02d}/status", big)
        attacker.publish(ACK, b'{"v":1}')
        assert attacker.flush(WAIT)
        taken = []
        while len(taken) < 201 - outbox.intake.dropped and outbox.wait_incoming(WAIT):
            taken += outbox.take_incoming(1000)
        assert outbox.intake.qsize() <= 50
        assert outbox.intake.dropped + len(taken) == 201
        assert taken[-1].topic == ACK  # the ack was not dropped
        cut = [m for m in taken if m.cut]
        assert cut
        assert all(len(m.payload) == 1024 and m.size == 1_000_000 for m in cut)
    finally:
        attacker.close(1)
        outbox.close()


def test_the_dropped_messages_warning_speaks_the_language_spoken(
    caplog: pytest.LogCaptureFixture,
) -> None:
    said = {}
    for lang in ("vi", "en"):
        i18n.set_language(lang)
        intake = Intake(max_count=2, precious=acks_only, block_s=WAIT)
        intake.put(message(STATUS))
        intake.put(message(STATUS))
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="ipfm_scheduler.transport.intake"):
            assert not intake.put(message(STATUS))
        said[lang] = caplog.messages
    i18n.set_language("en")
    size = intake.queued_bytes  # two statuses, each with its topic and the overhead
    assert said["vi"] == [
        f"hàng đợi tiếp nhận đã đầy (2 tin, {size} byte): 1 tin bị bỏ từ dòng trước đến nay, tổng "
        f"cộng 1 (tin cuối trên {STATUS})"
    ]
    assert said["en"] == [
        f"the intake is full (2 messages, {size} bytes): 1 message dropped since the last line, "
        f"1 in all (the last on {STATUS})"
    ]
