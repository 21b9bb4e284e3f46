"""The HTTP server keeps a listen backlog that fits receivers connecting at once (issue 13,
"Files": with socketserver's 5, 21-27 of 200 simultaneous connects needed a retransmitted SYN,
a second or more each); and the MQTT transport tries to reconnect at least every few seconds."""

from __future__ import annotations

import socket

from ipfm_scheduler.config.settings import MqttSettings
from ipfm_scheduler.service.http.server import LISTEN_BACKLOG, listening_socket
from ipfm_scheduler.transport.mqtt import RECONNECT_MAX_S, MqttTransport


def test_200_receivers_connecting_at_once_are_all_taken_by_the_kernel() -> None:
    """The server is bound but accepts nothing yet (busy, say): the kernel completes every
    handshake up to the backlog, so each of 200 connects returns at once."""
    server = listening_socket("127.0.0.1", 0)  # what HttpServer.start hands to uvicorn
    clients: list[socket.socket] = []
    try:
        assert LISTEN_BACKLOG >= 200
        port = server.getsockname()[1]
        for _ in range(200):
            client = socket.create_connection(("127.0.0.1", port), timeout=0.5)
            clients.append(client)  # would time out once the backlog is full (SYN dropped)
        assert len(clients) == 200
    finally:
        for client in clients:
            client.close()
        server.close()


def test_the_mqtt_transport_retries_a_lost_broker_at_least_every_few_seconds() -> None:
    transport = MqttTransport(MqttSettings())
    assert RECONNECT_MAX_S <= 5
    assert transport._client._reconnect_max_delay == RECONNECT_MAX_S  # paho's own setting
