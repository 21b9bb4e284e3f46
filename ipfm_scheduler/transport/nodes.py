"""Which broker the transport connects to next, when ``mqtt.url`` lists several.

The nodes are tried in the order written: the first at start; when a connection attempt fails
(refused, unreachable, or dropped before the connection was up and subscribed), the next one
(after the last, the first again). A connection lost after it was up is tried again on the same
node first: a NATS node drops its MQTT clients while the cluster elects a new leader for the
MQTT streams after another node died (a QoS 1 publish waits 4 s for the store, then the node
closes the connection), and is itself alive; if it is dead, that attempt fails and the next node
is tried. paho reconnects by itself with backoff, to the host and port it holds:
:meth:`NodeRing.move` is called from paho's callbacks and returns the node paho tries next.

What is in flight is kept across a move: paho keeps its QoS 1 messages awaiting PUBACK and sends
them again (DUP) on the next connection, whatever node that is; the service's outbox sends again
a command whose PUBACK never came, and a receiver sends again its acks not yet confirmed on each
new connection (docs/deployment.md "Sessions").
"""

from __future__ import annotations

import threading
from collections.abc import Sequence


class NodeRing:
    """The broker nodes (``host``, ``port``) in order, and the one in use."""

    def __init__(self, nodes: Sequence[tuple[str, int]]) -> None:
        if not nodes:
            raise ValueError("no broker")  # i18n: internal (the settings always give one)
        self.nodes = tuple(nodes)
        self._index = 0
        self._lock = threading.Lock()

    @property
    def current(self) -> tuple[str, int]:
        return self.nodes[self._index]

    @property
    def address(self) -> str:
        host, port = self.current
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    @property
    def several(self) -> bool:
        return len(self.nodes) > 1

    def move(self) -> tuple[str, int]:
        """The next node (the same one when there is only one)."""
        with self._lock:
            self._index = (self._index + 1) % len(self.nodes)
            return self.nodes[self._index]
