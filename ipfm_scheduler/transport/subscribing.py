"""The transport's subscriptions (``transport/mqtt.py``): subscribed on every (re)connection,
and the filters a broker refuses subscribed again with backoff.

A NATS node refuses a subscription (SUBACK 0x80) while its JetStream elects new leaders after a
node of the cluster was lost (7 s seen; docs/deployment.md); mosquitto refuses one its ACL
forbids, for good. Either way the refused filters are asked for again: every
``RETRY_FIRST_S`` seconds for the first ``RETRY_FAST`` tries (an election's length: no answer is
missed for long once the cluster is back), then after 4, 8... and at most ``RETRY_MAX_S``
seconds, as long as the same connection lasts (a new connection subscribes to everything anyway).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from ipfm_scheduler.i18n import _

log = logging.getLogger(__name__)

#: the longest wait before subscribing again to filters the broker refused
RETRY_MAX_S = 30.0
RETRY_FIRST_S = 2.0  # the wait between the first tries ...
RETRY_FAST = 6  # ... so many of them (12 s), then doubling


def retry_wait(tries: int) -> float:
    """Seconds before the ``tries``-th subscribe again (1, 2, ...) of refused filters."""
    if tries <= RETRY_FAST:
        return RETRY_FIRST_S
    return min(RETRY_MAX_S, RETRY_FIRST_S * 2.0 ** (tries - RETRY_FAST))


class Subscriptions:
    """The filters, and which SUBACK answers the latest subscribe (paho's thread and timers)."""

    def __init__(
        self,
        filters: Sequence[str],
        subscribe: Callable[[Sequence[str]], int],
        usable: Callable[[], bool],
    ) -> None:
        self.filters = tuple(filters)
        self._send = subscribe  # QoS 1 SUBSCRIBE of these filters (paho's); returns its mid
        self._usable = usable  # connected and not closed
        self._lock = threading.Lock()
        self._mid: int | None = None
        self._asked: tuple[str, ...] = ()  # what the subscribe of ``_mid`` asked for
        self._session = 0  # counts connections: a retry belongs to one of them
        self._tries = 0

    def connected(self) -> None:
        """A new connection: subscribe to every filter."""
        with self._lock:
            self._session += 1
            self._tries = 0
            self._subscribe(self.filters)

    def _subscribe(self, filters: Sequence[str]) -> None:
        self._mid, self._asked = self._send(filters), tuple(filters)

    def answered(self, mid: int, reasons: list[Any], address: str) -> tuple[list[str], bool] | None:
        """A SUBACK: (the filters refused, whether it answers a retry), or None when it is not
        the answer to the latest subscribe. Refused filters are asked for again later."""
        with self._lock:
            if mid != self._mid:
                return None
            retry, session = self._tries > 0, self._session
            refused = [f for f, r in zip(self._asked, reasons, strict=False) if r.is_failure]
            if refused:
                self._tries += 1
                wait = retry_wait(self._tries)
                timer = threading.Timer(wait, self._again, (refused, session))
                timer.daemon = True
                timer.start()
        if refused:
            (log.debug if retry else log.error)(
                _("MQTT broker %s refused subscriptions: %s"), address, ", ".join(refused)
            )
        elif retry:
            log.info(_("MQTT broker %s took the subscriptions at last"), address)
        return refused, retry

    def _again(self, filters: list[str], session: int) -> None:
        with self._lock:
            if session == self._session and self._usable():
                self._subscribe(filters)
