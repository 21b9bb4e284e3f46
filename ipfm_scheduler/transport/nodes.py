"""Which broker the transport connects to next, when ``mqtt.url`` lists several.

The nodes are tried in the order written: the first at start; when a connection attempt fails
or a connection is lost, the next one (after the last, the first again). paho reconnects by
itself with backoff, to the host and port it holds: :meth:`NodeRing.move` is called from paho's
callbacks (a connection lost, an attempt failed) and returns the node paho should try next.

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
