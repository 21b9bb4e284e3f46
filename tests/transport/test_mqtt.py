"""The paho-mqtt transport against the real mosquitto: PUBACKs reported with the caller's token,
commands never retained, acks and statuses received, the pacing window respected, clear "not
sent" errors, and reconnection after the broker comes back. No sleeps: events with timeouts."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ipfm_scheduler.config.settings import MqttSettings
from ipfm_scheduler.errors import BrokerUnavailable, PublishBusy, PublishError, ValueInvalid
from ipfm_scheduler.protocol import ack_topic, cmd_topic, scheduler_filters, status_topic
from ipfm_scheduler.transport.mqtt import Delivered, Incoming, MqttTransport
from tests.brokers import PrivateBroker, free_port

pytestmark = pytest.mark.mqtt
WAIT = 10.0

Factory = Callable[..., MqttTransport]


def settings_for(host: str, port: int) -> MqttSettings:
    return MqttSettings(url=f"mqtt://{host}:{port}", host=host, port=port, client_id="ipfm-test")


@pytest.fixture
def make() -> Iterator[Factory]:
    """Builds transports and closes every one of them after the test."""
    made: list[MqttTransport] = []

    def factory(
        host: str, port: int, subscriptions: tuple[str, ...] = (), **kw: Any
    ) -> MqttTransport:
        transport = MqttTransport(settings_for(host, port), subscriptions, **kw)
        made.append(transport)
        return transport

    yield factory
    for transport in made:
        transport.close(timeout=1)


def get(q: queue.SimpleQueue[Any]) -> Any:
    return q.get(timeout=WAIT)


def test_publish_reports_the_puback_with_the_callers_token(
    make: Factory, mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    receiver = make(*mqtt_broker, (cmd_topic(topic_prefix, "cam-trung", "loa-01"),))
    receiver.connect(WAIT)
    scheduler = make(*mqtt_broker)
    scheduler.connect(WAIT)
    topic = cmd_topic(topic_prefix, "cam-trung", "loa-01")

    handle = scheduler.publish(topic, b'{"v":1}', token="cmd-1")
    delivered: Delivered = get(scheduler.delivered)
    message: Incoming = get(receiver.incoming)

    assert (delivered.token, delivered.mid, delivered.topic) == ("cmd-1", handle.mid, topic)
    assert (message.topic, message.payload, message.qos, message.retain) == (
        topic,
        b'{"v":1}',
        1,
        False,
    )
    assert scheduler.outstanding == 0


def test_commands_are_never_retained_on_the_broker(
    make: Factory, mqtt_broker: tuple[str, int], clean_prefix: str
) -> None:
    topic = cmd_topic(clean_prefix, "cam-trung", "loa-01")
    scheduler = make(*mqtt_broker)
    scheduler.connect(WAIT)
    with pytest.raises(ValueInvalid, match="never retained"):
        scheduler.publish(topic, b"x", retain=True)
    scheduler.publish(topic, b"play", token=1)
    assert get(scheduler.delivered).token == 1

    # a receiver that subscribes afterwards gets no retained command: the first thing it sees
    # is a marker published after its subscription
    late = make(*mqtt_broker, (f"{clean_prefix}/#",))
    late.connect(WAIT)
    scheduler.publish(f"{clean_prefix}/marker", b"m")
    first: Incoming = get(late.incoming)
    assert first.topic == f"{clean_prefix}/marker"


def test_acks_and_statuses_arrive_with_their_retain_flag(
    make: Factory, mqtt_broker: tuple[str, int], clean_prefix: str
) -> None:
    receiver = make(*mqtt_broker)
    receiver.connect(WAIT)
    status = status_topic(clean_prefix, "cam-trung", "loa-01")
    receiver.publish(status, b'{"v":1,"state":"online"}', retain=True, token="s")
    assert get(receiver.delivered).token == "s"  # the broker holds it before we subscribe

    scheduler = make(*mqtt_broker, scheduler_filters(clean_prefix))
    scheduler.connect(WAIT)
    old: Incoming = get(scheduler.incoming)
    receiver.publish(ack_topic(clean_prefix, "cam-trung", "loa-01"), b'{"v":1,"id":"c"}')
    new: Incoming = get(scheduler.incoming)

    assert (old.topic, old.retain) == (status, True)
    assert (new.topic, new.payload, new.retain) == (
        ack_topic(clean_prefix, "cam-trung", "loa-01"),
        b'{"v":1,"id":"c"}',
        False,
    )


def test_publish_while_disconnected_says_not_sent(make: Factory) -> None:
    port = free_port()  # nothing listens there
    transport = make("127.0.0.1", port, reconnect_min_s=0.2, reconnect_max_s=0.5)
    with pytest.raises(BrokerUnavailable, match=r"did not accept a connection.*refused"):
        transport.connect(timeout=0.5)
    with pytest.raises(
        BrokerUnavailable, match=f"not connected to the MQTT broker at 127.0.0.1:{port}; not sent"
    ):
        transport.publish("t/x/y/cmd", b"x")
    assert transport.outstanding == 0


def test_pacing_window_is_never_exceeded(private_broker: PrivateBroker, make: Factory) -> None:
    """A frozen broker sends no PUBACK: exactly `max_outstanding` publishes go out, the next is
    refused as busy; once the broker wakes every PUBACK is reported."""
    transport = make("127.0.0.1", private_broker.port, max_outstanding=5)
    transport.connect(WAIT)
    private_broker.pause()
    try:
        handles = [transport.publish(f"p/w/r{i}/cmd", b"x", token=i) for i in range(5)]
        with pytest.raises(PublishBusy, match="5 publishes await the broker's acknowledgement"):
            transport.publish("p/w/r5/cmd", b"x", timeout=0.2)
        assert transport.outstanding == 5
    finally:
        private_broker.resume()
    assert transport.flush(WAIT)
    tokens = sorted(get(transport.delivered).token for _ in handles)
    assert tokens == [0, 1, 2, 3, 4]


def test_many_threads_publishing_stay_inside_the_window(
    make: Factory, mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    seen_max = 0
    lock = threading.Lock()
    delivered: list[object] = []

    def on_delivered(d: Delivered) -> None:
        with lock:
            delivered.append(d.token)

    transport = make(*mqtt_broker, max_outstanding=8, on_delivered=on_delivered)
    transport.connect(WAIT)

    def worker(n: int) -> None:
        nonlocal seen_max
        for i in range(250):
            transport.publish(f"{topic_prefix}/w/r{n}/cmd", b"x" * 100, token=(n, i))
            with lock:
                seen_max = max(seen_max, transport.outstanding)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT * 3)
    assert transport.flush(WAIT)
    assert 1 <= seen_max <= 8
    assert len(delivered) == 1000
    assert len(set(delivered)) == 1000


def test_publishing_from_pahos_thread_is_refused(
    make: Factory, mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    errors: queue.SimpleQueue[BaseException] = queue.SimpleQueue()
    holder: list[MqttTransport] = []

    def on_message(_m: Incoming) -> None:
        try:
            holder[0].publish(f"{topic_prefix}/w/r/ack", b"x")
        except PublishError as exc:
            errors.put(exc)

    transport = make(*mqtt_broker, (f"{topic_prefix}/#",), on_message=on_message)
    holder.append(transport)
    transport.connect(WAIT)
    transport.publish(f"{topic_prefix}/w/r/cmd", b"x")
    assert "paho's network thread" in str(errors.get(timeout=WAIT))


def test_reconnects_and_resubscribes_after_the_broker_restarts(
    private_broker: PrivateBroker, make: Factory
) -> None:
    host, port = "127.0.0.1", private_broker.port
    scheduler = make(
        host, port, scheduler_filters("ipfm"), reconnect_min_s=0.1, reconnect_max_s=0.5
    )
    scheduler.connect(WAIT)
    private_broker.stop()
    assert scheduler.wait_disconnected(WAIT)
    assert not scheduler.connected
    with pytest.raises(BrokerUnavailable, match="not sent"):
        scheduler.publish("ipfm/w/r/cmd", b"x")
    assert scheduler.last_error is not None

    private_broker.start()
    assert scheduler.wait_connected(WAIT)
    assert scheduler.last_error is None
    receiver = make(host, port)
    receiver.connect(WAIT)
    receiver.publish(ack_topic("ipfm", "w", "r"), b"after restart")
    assert get(scheduler.incoming).payload == b"after restart"
    scheduler.publish("ipfm/w/r/cmd", b"x", token="again")
    assert get(scheduler.delivered).token == "again"


def test_close_waits_for_pubacks_then_refuses_publishing(
    make: Factory, mqtt_broker: tuple[str, int], topic_prefix: str
) -> None:
    transport = make(*mqtt_broker)
    transport.connect(WAIT)
    for i in range(100):
        transport.publish(f"{topic_prefix}/w/r/cmd", b"x", token=i)
    transport.close(timeout=WAIT)
    assert transport.outstanding == 0
    assert not transport.connected
    with pytest.raises(BrokerUnavailable, match="closed; not sent"):
        transport.publish(f"{topic_prefix}/w/r/cmd", b"x")


def test_a_persistent_session_gets_the_acks_sent_while_it_was_away(
    private_broker: PrivateBroker, make: Factory
) -> None:
    """With persistent_session=True the broker keeps our subscriptions and queues QoS 1 acks
    while the scheduler is down (a restart loses no confirmation)."""
    host, port = "127.0.0.1", private_broker.port
    filters = scheduler_filters("ipfm")
    first = make(host, port, filters, client_id="ipfm-scheduler-test", persistent_session=True)
    first.connect(WAIT)
    first.close()
    receiver = make(host, port)
    receiver.connect(WAIT)
    receiver.publish(ack_topic("ipfm", "w", "r"), b"while away", token="a")
    assert get(receiver.delivered).token == "a"

    second = make(host, port, filters, client_id="ipfm-scheduler-test", persistent_session=True)
    second.connect(WAIT)
    assert get(second.incoming).payload == b"while away"


def test_a_publisher_waiting_for_the_window_learns_when_the_connection_drops(
    private_broker: PrivateBroker, make: Factory
) -> None:
    transport = make("127.0.0.1", private_broker.port, max_outstanding=1)
    transport.connect(WAIT)
    private_broker.pause()
    transport.publish("p/w/r/cmd", b"x")  # fills the window: no PUBACK from a frozen broker
    outcome: queue.SimpleQueue[BaseException] = queue.SimpleQueue()

    def blocked() -> None:
        try:
            transport.publish("p/w/r2/cmd", b"x", timeout=WAIT * 3)
        except PublishError as exc:
            outcome.put(exc)

    thread = threading.Thread(target=blocked)
    thread.start()
    private_broker.kill()  # still frozen: no PUBACK can slip out and free the window
    error = outcome.get(timeout=WAIT)
    thread.join(WAIT)
    assert isinstance(error, BrokerUnavailable)
    assert "not connected" in str(error)


def test_a_message_whose_topic_is_not_utf8_is_handed_on_with_the_bad_bytes_replaced() -> None:
    """A topic whose bytes are not UTF-8 is handed on (U+FFFD for the bad bytes, payload and
    retain flag kept), to be quarantined with a reason, never dropped silently.

    Unit level, through the transport's on_message callback with a message as paho builds it:
    mosquitto refuses such a PUBLISH (checked with 2.0.11: it closes the publisher's connection and
    delivers nothing), so a real broker can't be made to deliver one."""
    import paho.mqtt.client as paho

    transport = MqttTransport(settings_for("127.0.0.1", 1), ("ipfm-t/+/+/ack",))
    message = paho.MQTTMessage(mid=1, topic=b"ipfm-t/cam-trung/loa-\xff01/ack")
    message.payload, message.retain, message.qos = b'{"v":1}', True, 1
    transport._handle_message(None, None, message)
    incoming: Incoming = transport.incoming.get_nowait()
    assert incoming == Incoming("ipfm-t/cam-trung/loa-\ufffd01/ack", b'{"v":1}', True, 1)
