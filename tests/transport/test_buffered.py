"""transport/buffered.py: paho reads its plain TCP connection in large chunks, from a buffer.

The wrapper alone (a socket pair: partial packets, many packets in one read, the end of the
connection), paho's own packet reader on it, and the transport against the real mosquitto:
its connection is wrapped (a paho without the hook fails here), a broker going away is
noticed and the new connection wrapped again, and a TLS connection is left as paho makes it.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from ipfm_scheduler.protocol import ack_topic, scheduler_filters
from ipfm_scheduler.transport.buffered import (
    CHUNK,
    BufferedSocket,
    WakeReceiver,
    WakeSender,
    _Wake,
    coalesce_wakes,
    read_in_chunks,
)
from ipfm_scheduler.transport.mqtt import MqttTransport
from tests.brokers import PrivateBroker, settings_over

WAIT = 10.0


class Counted:
    """A socket whose reads are counted (the wrapper's system calls)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reads: list[int] = []
        self.send = sock.send
        self.fileno = sock.fileno

    def recv(self, n: int) -> bytes:
        self.reads.append(n)
        return self.sock.recv(n)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, peer = socket.socketpair()
    ours.setblocking(False)
    yield ours, peer
    ours.close()
    peer.close()


def publish_packet(topic: str, payload: bytes) -> bytes:
    """An MQTT 3.1.1 QoS 0 PUBLISH (short enough for a one-byte remaining length)."""
    body = len(topic).to_bytes(2, "big") + topic.encode() + payload
    assert len(body) < 128
    return bytes([0x30, len(body)]) + body


def read_like_paho(sock: Any, packets: int) -> list[bytes]:
    """Packets read as paho's ``_packet_read`` does: 1 byte, 1 byte of length, the rest."""
    out = []
    for _ in range(packets):
        head = sock.recv(1) + sock.recv(1)
        out.append(head + sock.recv(head[1]))
    return out


def test_many_packets_come_from_one_read_of_the_socket(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, peer = pair
    counted = Counted(ours)
    wrapped = BufferedSocket(counted)  # type: ignore[arg-type]
    packets = [publish_packet("ipfm/w/r/ack", b"%d" % i) for i in range(500)]
    peer.sendall(b"".join(packets))

    assert read_like_paho(wrapped, 500) == packets
    assert counted.reads == [CHUNK]  # 1,500 reads by paho, one system call
    assert wrapped.pending() == 0
    with pytest.raises(BlockingIOError):  # nothing more has come: as the socket says it
        wrapped.recv(1)


def test_a_packet_split_across_reads_is_put_together(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, peer = pair
    wrapped = BufferedSocket(ours)
    packet = publish_packet("ipfm/w/r/ack", b"split")
    peer.sendall(packet[:5])
    assert wrapped.recv(1) + wrapped.recv(1) == packet[:2]
    assert wrapped.pending() == 3
    assert wrapped.recv(packet[1]) == packet[2:5]  # what there is, as a socket gives it
    with pytest.raises(BlockingIOError):
        wrapped.recv(len(packet) - 5)
    peer.sendall(packet[5:])
    assert wrapped.recv(len(packet) - 5) == packet[5:]


def test_a_closed_connection_reads_empty_once_the_buffer_is_handed_on(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, peer = pair
    wrapped = BufferedSocket(ours)
    peer.sendall(b"\x40\x02\x00\x01")  # a PUBACK, then the peer closes
    peer.close()
    assert wrapped.recv(1) == b"\x40"
    assert wrapped.recv(3) == b"\x02\x00\x01"
    assert wrapped.recv(1) == b""
    assert wrapped.recv(1) == b""


def test_a_large_read_is_handed_on_whole() -> None:
    ours, peer = socket.socketpair()
    with ours, peer:
        wrapped = BufferedSocket(ours)
        peer.sendall(b"x" * (3 * CHUNK))
        got = b""
        while len(got) < 3 * CHUNK:
            got += wrapped.recv(3 * CHUNK - len(got))
        assert got == b"x" * (3 * CHUNK)
        assert wrapped.pending() == 0


def test_everything_but_reading_is_the_sockets_own(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, peer = pair
    wrapped = BufferedSocket(ours)
    assert wrapped.fileno() == ours.fileno()
    assert wrapped.getsockname() == ours.getsockname()
    wrapped.settimeout(2.0)
    assert ours.gettimeout() == 2.0
    wrapped.setblocking(False)
    assert ours.gettimeout() == 0.0
    assert wrapped.send(b"hi") == 2
    assert peer.recv(2) == b"hi"
    wrapped.close()
    assert ours.fileno() == -1


def test_pahos_reader_gets_packets_split_and_packed_through_the_wrapper(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, peer = pair
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    got: list[tuple[str, bytes]] = []
    client.on_message = lambda _c, _u, m: got.append((m.topic, m.payload))
    client._sock = BufferedSocket(ours)
    data = b"".join(publish_packet("ipfm/w/r/ack", b"%d" % i) for i in range(3))

    peer.sendall(data[:7])  # half a packet
    assert client.loop_read() == 0
    assert got == []
    peer.sendall(data[7:])  # its rest and two more
    assert client.loop_read() == 0  # (select() said the socket is readable)
    assert len(got) == 1  # paho reads one packet a call here (none outstanding), and
    while client._sock.pending():  # its loop doesn't wait in select() while bytes are buffered
        assert client.loop_read() == 0
    assert got == [("ipfm/w/r/ack", b"0"), ("ipfm/w/r/ack", b"1"), ("ipfm/w/r/ack", b"2")]
    peer.close()
    assert client.loop_read() != 0  # the connection lost
    assert client._sock is None


class Stub:
    """paho's client as read_in_chunks sees it, making a socket of one kind."""

    def __init__(self, transport: str, tls: bool, sock: object) -> None:
        self._transport, self._ssl, self.sock = transport, tls, sock

    def _create_socket(self) -> object:
        return self.sock


@pytest.mark.parametrize(
    ("transport", "tls", "wrapped"),
    [
        ("tcp", False, True),
        ("tcp", True, False),
        ("websockets", False, False),
        ("unix", False, False),
    ],
)
def test_only_a_plain_tcp_socket_is_wrapped(transport: str, tls: bool, wrapped: bool) -> None:
    ours, peer = socket.socketpair()
    with ours, peer:
        client = Stub(transport, tls, ours)
        assert read_in_chunks(client)
        made = client._create_socket()
        assert isinstance(made, BufferedSocket) is wrapped
        assert made is ours or made.sock is ours


def test_a_socket_of_another_kind_is_not_wrapped() -> None:
    other = object()  # a proxy's or a websocket's socket: not exactly a socket.socket
    client = Stub("tcp", False, other)
    read_in_chunks(client)
    assert client._create_socket() is other


def test_a_paho_without_the_hook_keeps_its_own_socket() -> None:
    assert not read_in_chunks(object())


def test_this_paho_has_the_hook_and_the_attributes_it_reads() -> None:
    """If paho renames these, the transport silently reads as paho does: fail here instead."""
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    assert callable(client._create_socket)
    assert (client._transport, client._ssl) == ("tcp", False)


# ---- the transport against the real mosquitto ------------------------------------------------


@pytest.mark.mqtt
def test_the_transport_reads_through_the_wrapper_and_again_after_the_broker_comes_back(
    private_broker: PrivateBroker,
) -> None:
    settings = settings_over([private_broker.port])
    scheduler = MqttTransport(
        settings, scheduler_filters("ipfm"), reconnect_min_s=0.1, reconnect_max_s=0.5
    )
    receiver = MqttTransport(settings, reconnect_min_s=0.1, reconnect_max_s=0.5)
    try:
        scheduler.connect(WAIT)
        first = scheduler._client.socket()
        assert isinstance(first, BufferedSocket)
        receiver.connect(WAIT)
        for i in range(500):  # acks by the hundred, and as many PUBACKs back
            receiver.publish(ack_topic("ipfm", "w", f"r{i}"), b"%d" % i, token=i)
            scheduler.publish(f"ipfm/w/r{i}/cmd", b"x", token=i)
        assert scheduler.flush(WAIT)
        tokens = {scheduler.delivered.get(timeout=WAIT).token for _ in range(500)}
        assert tokens == set(range(500))
        payloads = {scheduler.incoming.get(timeout=WAIT).payload for _ in range(500)}
        assert payloads == {b"%d" % i for i in range(500)}

        private_broker.stop()  # the broker closes the connection: noticed, and tried again
        assert scheduler.wait_disconnected(WAIT)
        private_broker.start()
        assert scheduler.wait_connected(WAIT)
        again = scheduler._client.socket()
        assert isinstance(again, BufferedSocket)
        assert again is not first
        assert receiver.wait_connected(WAIT)
        receiver.publish(ack_topic("ipfm", "w", "r"), b"after restart")
        assert scheduler.incoming.get(timeout=WAIT).payload == b"after restart"
    finally:
        receiver.close(1)
        scheduler.close(1)


# ---- paho's wake-ups --------------------------------------------------------------------------


def test_one_wake_up_byte_waits_while_paho_has_not_read_it(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    """Publishers ask to wake paho for every packet; while a byte is waiting to be read, no
    other is written; once paho's loop read it, the next publish writes one again."""
    reader_sock, writer_sock = pair
    writer_sock.setblocking(False)
    wake = _Wake()
    writer, reader = WakeSender(writer_sock, wake), WakeReceiver(reader_sock, wake)
    assert all(writer.send(b"x") == 1 for _ in range(1000))
    assert reader.recv(10000) == b"x"  # one byte for a thousand publishes
    with pytest.raises(BlockingIOError):
        reader.recv(10000)
    writer.send(b"x")
    assert reader.recv(10000) == b"x"
    assert writer.fileno() == writer_sock.fileno()
    assert reader.fileno() == reader_sock.fileno()


def test_a_byte_written_while_paho_reads_leaves_no_wake_up_stuck(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    """A publisher may write its byte while paho's loop is reading the pair: whatever the
    order, once the loop has read, the next publish writes a byte again (else every later
    publish would wait for paho's next read, up to a second)."""
    reader_sock, writer_sock = pair
    writer_sock.setblocking(False)
    wake = _Wake()
    writer = WakeSender(writer_sock, wake)

    class Racing:  # another thread publishes just before the loop's read reaches the socket
        fileno = reader_sock.fileno

        def recv(self, n: int) -> bytes:
            wake.pending = False  # as if the previous read had just cleared it
            writer.send(b"x")
            return reader_sock.recv(n)

    reader = WakeReceiver(Racing(), wake)  # type: ignore[arg-type]
    writer.send(b"x")
    assert reader.recv(10000) == b"xx"  # both publishers' bytes, read at once
    assert not wake.pending
    writer.send(b"x")  # the next publish wakes paho again
    assert reader_sock.recv(10000) == b"x"


def test_a_failed_wake_up_is_tried_again_by_the_next_publish() -> None:
    class Full:
        def send(self, data: bytes) -> int:
            raise BlockingIOError

    wake = _Wake()
    writer = WakeSender(Full(), wake)  # type: ignore[arg-type]
    with pytest.raises(BlockingIOError):
        writer.send(b"x")
    assert not wake.pending


def test_paho_s_own_thread_writes_no_wake_up(pair: tuple[socket.socket, socket.socket]) -> None:
    """paho's network thread queues a PUBACK for every QoS 1 message it reads: it writes it in
    the next turn of its loop, no byte needed. From any other thread a byte is written."""
    reader_sock, writer_sock = pair
    writer_sock.setblocking(False)
    wake = _Wake()
    loop = threading.Thread(target=lambda: None)
    writer = WakeSender(writer_sock, wake, loop)
    sent: list[int] = []
    loop.run = lambda: sent.extend(writer.send(b"x") for _ in range(3))  # type: ignore[method-assign]
    loop.start()
    loop.join(WAIT)
    assert sent == [1, 1, 1]  # paho sees each byte "sent"
    assert not wake.pending
    with pytest.raises(BlockingIOError):
        reader_sock.recv(10000)  # nothing was written
    assert writer.send(b"x") == 1  # this thread: a publisher
    assert wake.pending
    assert reader_sock.recv(10000) == b"x"


def test_a_paho_without_the_pair_keeps_its_own() -> None:
    assert not coalesce_wakes(object())
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    assert not coalesce_wakes(client)  # no loop_start: no pair yet


@pytest.mark.mqtt
def test_every_publish_goes_out_with_wake_ups_coalesced(private_broker: PrivateBroker) -> None:
    """Through the transport (which coalesces paho's wake-ups once its loop runs): a burst of
    publishes from several threads, then single publishes, each waited for, all reach the
    broker (their PUBACKs come back): no wake-up is lost."""
    settings = settings_over([private_broker.port])
    scheduler = MqttTransport(settings, scheduler_filters("ipfm"))
    try:
        scheduler.connect(WAIT)
        assert isinstance(scheduler._client._sockpairW, WakeSender)
        assert isinstance(scheduler._client._sockpairR, WakeReceiver)

        def burst(first: int) -> None:
            for i in range(first, first + 500):
                scheduler.publish(f"ipfm/w/r{i}/cmd", b"x", token=i)

        threads = [threading.Thread(target=burst, args=(n * 500,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
        tokens = {scheduler.delivered.get(timeout=WAIT).token for _ in range(2000)}
        assert tokens == set(range(2000))
        for i in range(50):  # one at a time: each must wake paho on its own
            scheduler.publish(f"ipfm/w/r{i}/cmd", b"x", token=f"single-{i}")
            assert scheduler.delivered.get(timeout=WAIT).token == f"single-{i}"
            assert not scheduler._client._sockpairW.wake.pending  # paho read its byte
    finally:
        scheduler.close(1)


@pytest.mark.mqtt
def test_qos1_messages_in_a_stream_are_each_acknowledged_without_a_wake_up(
    private_broker: PrivateBroker,
) -> None:
    """The broker sends a client at most 20 QoS 1 messages not acknowledged yet (mosquitto's
    default): 2,000 acks reach the transport only if paho's loop writes each PUBACK it queued
    without being woken (else each 20 would wait for its 1 s timeout, 100 s in all)."""
    settings = settings_over([private_broker.port])
    scheduler = MqttTransport(settings, scheduler_filters("ipfm"))
    sender = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    try:
        scheduler.connect(WAIT)
        assert scheduler._client._sockpairW.loop is scheduler._client._thread
        sender.connect("127.0.0.1", private_broker.port)
        sender.loop_start()
        infos = [sender.publish(ack_topic("ipfm", "w", f"r{i}"), b"{}", qos=1) for i in range(2000)]
        for info in infos:
            info.wait_for_publish(WAIT)
        deadline = time.monotonic() + WAIT  # for all of them (a stall of 1 s each 20 is 100 s)
        topics = {
            scheduler.incoming.get(timeout=max(0.0, deadline - time.monotonic())).topic
            for _ in range(2000)
        }
        assert len(topics) == 2000
    finally:
        sender.disconnect()
        sender.loop_stop()
        scheduler.close(1)
