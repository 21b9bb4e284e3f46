"""The MQTT transport: paho-mqtt 2.x (callback API version 2), wrapped in one place.

What the team measured with paho-mqtt 2.2 and mosquitto 2.0 decides the shape (issue 4):
paho keeps in-flight messages only in memory, refuses a QoS 1 publish once 65,535 are
outstanding, and strands QoS 1 messages published from its own callback thread behind a
``max_inflight`` cap. So this transport

* publishes only from the caller's threads (a publish from paho's thread is refused),
* keeps at most ``max_outstanding`` publishes awaiting PUBACK, and blocks (up to a timeout) or
  raises :class:`~ipfm_scheduler.errors.PublishBusy` beyond that (``transport/window.py``).
  paho's own in-flight limit is switched off (0): ours is the only window, so nothing ever waits
  queued inside paho, and paho skips its scan of every outgoing message on each PUBACK (with a
  limit set, that scan made large windows several times slower),
* checks every publish's result and raises instead of letting paho retry silently,
* reports each PUBACK as a :class:`Delivered` carrying the caller's token (a command id), so the
  caller marks the command SENT only once the broker has it,
* subscribes on every (re)connect (a refused filter is asked for again: ``transport/
  subscribing.py``) and hands incoming messages over as :class:`Incoming` values
  through a bounded thread-safe queue (``transport/intake.py``: a message too large is cut
  short, and when the queue is full paho's thread waits a bounded time, then drops and counts;
  or a callback that must do no I/O): a topic that is not UTF-8 arrives with U+FFFD for its
  bad bytes, and
* reconnects by itself with backoff, to the next broker of ``mqtt.url`` when it lists several
  (``transport/nodes.py``); ``connected`` says whether it is usable right now.

Usage: docs/receivers.md, "For the service: the API".
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from ipfm_scheduler.config.settings import MqttSettings
from ipfm_scheduler.errors import BrokerUnavailable, PublishError, ValueInvalid
from ipfm_scheduler.i18n import _
from ipfm_scheduler.transport import buffered, mqtt_text, pubacks
from ipfm_scheduler.transport.handles import Delivered, Publication, Will
from ipfm_scheduler.transport.intake import Incoming, Intake
from ipfm_scheduler.transport.nodes import NodeRing
from ipfm_scheduler.transport.subscribing import Subscriptions
from ipfm_scheduler.transport.window import GatedPackets, PublishWindow

__all__ = ["Delivered", "Incoming", "Intake", "MqttTransport", "Publication", "Will"]

log = logging.getLogger(__name__)


#: the longest wait between two tries to reconnect: paho doubles the wait after each failed try,
#: and its 30 s left commands and answers waiting half a minute after the broker came back
RECONNECT_MAX_S = 5.0
#: paho refuses QoS 1 publishes beyond 65,535 outstanding; stay well below
MAX_OUTSTANDING_LIMIT = 60_000
DEFAULT_MAX_OUTSTANDING = 1_000


class MqttTransport:
    """One MQTT connection: paced QoS 1 publishing, subscriptions, automatic reconnection."""

    def __init__(
        self,
        settings: MqttSettings,
        subscriptions: Sequence[str] = (),
        *,
        max_outstanding: int = DEFAULT_MAX_OUTSTANDING,
        publish_timeout_s: float = 10.0,
        client_id: str | None = None,
        persistent_session: bool = False,
        will: Will | None = None,
        on_message: Callable[[Incoming], None] | None = None,
        on_delivered: Callable[[Delivered], None] | None = None,
        intake: Intake | None = None,
        reconnect_min_s: float = 1.0,
        reconnect_max_s: float = RECONNECT_MAX_S,
    ) -> None:
        if not 1 <= max_outstanding <= MAX_OUTSTANDING_LIMIT:
            raise ValueInvalid(
                f"max_outstanding must be 1 to {MAX_OUTSTANDING_LIMIT}"
            )  # i18n: internal (the service's own setting, checked when the file is read)
        self.settings = settings
        #: the brokers of ``mqtt.url``, and the one in use (``address``)
        self.nodes = NodeRing(settings.nodes)
        self.subscriptions = tuple(subscriptions)
        self.max_outstanding = max_outstanding
        self.publish_timeout_s = publish_timeout_s
        #: messages from the broker, for the caller's own thread (unless ``on_message`` is given):
        #: bounded (``transport/intake.py``)
        self.incoming = intake or Intake()
        #: PUBACKs, for the caller's own thread (unless ``on_delivered`` is given)
        self.delivered: queue.SimpleQueue[Delivered] = queue.SimpleQueue()
        self._on_message = on_message or self.incoming.put
        self._on_delivered = on_delivered or self.delivered.put
        self._window = PublishWindow(max_outstanding)
        self._ready = threading.Event()  # connected and subscribed
        self._down = threading.Event()  # not connected (set until the first connection)
        self._down.set()
        self._closed = False
        self._started = False
        self._net_thread: threading.Thread | None = None
        self._subs = Subscriptions(self.subscriptions, self._subscribe, self._usable)
        #: the last connection problem, in plain words (for /healthz); None while all is well
        self.last_error: str | None = None
        #: how many times a connection was made (and subscribed): a new one needs announcing
        self.connections = 0
        self._refusal: str | None = None  # why the broker refused our CONNECT, if it did
        self.gate: Callable[[], bool] = lambda: True  # publishes are written only while it says yes
        self._client = self._make_client(client_id, persistent_session, will)
        self._client.reconnect_delay_set(reconnect_min_s, reconnect_max_s)  # type: ignore[arg-type]

    # ---- setup -------------------------------------------------------------------------------

    def _make_client(
        self, client_id: str | None, persistent: bool, will: Will | None
    ) -> paho.Client:
        s, _suffix = self.settings, uuid.uuid4().hex[:8]
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            # a persistent session is found again by its client id: keep it stable then
            client_id=client_id or (s.client_id if persistent else f"{s.client_id}-{_suffix}"),
            clean_session=not persistent,
            protocol=paho.MQTTv311,
        )
        client.max_inflight_messages_set(0)  # our window paces; see the module docstring
        buffered.read_in_chunks(client)  # a recv of 64 KiB, not three a packet (buffered.py)
        pubacks.fast_pubacks(client, paho)  # a PUBACK's two bytes, without paho's decoding
        gated = GatedPackets(lambda: self.gate(), self._drop)  # noqa: PLW0108 (gate is replaced)
        client._out_packet = gated  # type: ignore[assignment]
        client.max_queued_messages_set(0)
        if s.username:
            client.username_pw_set(s.username, s.password)
        if s.tls:
            try:
                client.tls_set(ca_certs=str(s.ca_file) if s.ca_file else None)
            except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
                raise BrokerUnavailable(
                    _(
                        "can't set up TLS for the MQTT broker at {address} "
                        "with the CA file {ca_file}: {why}"
                    ).format(address=self.address, ca_file=s.ca_file, why=exc)
                ) from exc
        if will is not None:
            client.will_set(will.topic, will.payload, qos=1, retain=will.retain)
        client.on_connect = self._handle_connect
        client.on_connect_fail = self._handle_connect_fail
        client.on_disconnect = self._handle_disconnect
        client.on_subscribe = self._handle_subscribe
        client.on_publish = self._handle_publish
        client.on_message = self._handle_message
        return client

    @property
    def address(self) -> str:
        """``host:port`` of the broker in use (or tried now)."""
        return self.nodes.address

    def start(self) -> None:
        """Start connecting in the background (returns at once; see :meth:`wait_connected`)."""
        if self._started:
            return
        self._started = True
        host, port = self.nodes.current
        try:
            self._client.connect_async(host, port, self.settings.keepalive_s)
        except (OSError, ValueError) as exc:
            raise BrokerUnavailable(
                _("can't use the MQTT broker address {address}: {why}").format(
                    address=self.address, why=exc
                )
            ) from exc
        self._client.loop_start()
        buffered.coalesce_wakes(self._client)  # a wake-up byte while paho has none to read yet

    def connect(self, timeout: float = 10.0) -> None:
        """Start, and wait until connected and subscribed; ``BrokerUnavailable`` if not in time.

        After a timeout the transport keeps trying in the background: ``close()`` it to give up.
        """
        self.start()
        if not self.wait_connected(timeout):
            host, port = self.nodes.current
            shown = self.settings.shown if self.nodes.several else self.address
            why = mqtt_text.not_accepted(shown, timeout, self._refusal, host, port)
            raise BrokerUnavailable(why)

    # ---- state -------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while connected to the broker and subscribed (for /healthz and the watchdog)."""
        return self._ready.is_set()

    def wait_connected(self, timeout: float | None = None) -> bool:
        """Wait until connected and subscribed; False if ``timeout`` passed first."""
        return self._ready.wait(timeout)

    def wait_disconnected(self, timeout: float | None = None) -> bool:
        """Wait until the connection is down (it reconnects by itself); False on timeout."""
        return self._down.wait(timeout)

    @property
    def loop_alive(self) -> bool:
        """paho's network thread runs (connected, or reconnecting): for the systemd watchdog."""
        thread = getattr(self._client, "_thread", None)
        return bool(thread is not None and thread.is_alive())

    @property
    def outstanding(self) -> int:
        """Publishes handed to the broker that it has not acknowledged yet."""
        return self._window.outstanding

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every publish so far has its PUBACK; False if the timeout passed first."""
        return self._window.flush(timeout)

    # ---- publishing --------------------------------------------------------------------------

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        token: object = None,
        retain: bool = False,
        timeout: float | None = None,
    ) -> Publication:
        """Hand one QoS 1 message to the broker, from the caller's thread.

        Waits up to ``timeout`` (default ``publish_timeout_s``; 0 = don't wait) while
        ``max_outstanding`` publishes await PUBACK. Raises, and nothing was sent:

        * ``BrokerUnavailable`` when not connected (or closed);
        * ``PublishBusy`` when the window stayed full for ``timeout``;
        * ``PublishError`` when paho refused the message.

        The PUBACK comes later as a :class:`Delivered` with ``token``. Commands must never be
        retained: a ``retain=True`` publish on a ``.../cmd`` topic is refused.
        """
        if retain and topic.endswith("/cmd"):
            raise ValueInvalid(
                f"{topic}: commands are never retained (docs/protocol.md)"
            )  # i18n: internal (a caller's bug)
        if threading.current_thread() is self._net_thread:
            raise PublishError(
                f"{topic}: publish called from paho's network thread; not sent"
            )  # i18n: internal (a caller's bug)
        wait = self.publish_timeout_s if timeout is None else timeout
        if not self._window.reserve(topic, wait, self._usable):
            raise BrokerUnavailable(self._not_connected(topic))
        try:
            info = self._client.publish(topic, payload, qos=1, retain=retain)
        except (ValueError, TypeError) as exc:
            self._window.release()
            raise PublishError(mqtt_text.paho_refused(topic, exc)) from exc
        return self._account(topic, token, info)

    def _usable(self) -> bool:
        return self._ready.is_set() and not self._closed

    def _account(self, topic: str, token: object, info: paho.MQTTMessageInfo) -> Publication:
        rc, mid = info.rc, info.mid
        if rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            self._window.release()
            why = paho.error_string(rc)
            log.warning(_("publish to %s refused by paho: %s; not sent"), topic, why)
            raise PublishError(mqtt_text.paho_refused(topic, why))
        if self._window.sent(mid, topic, token):  # its PUBACK came first
            self._on_delivered(Delivered(mid, topic, token))
        if rc == MQTTErrorCode.MQTT_ERR_NO_CONN:
            # paho keeps it and sends it after reconnecting: its PUBACK, if it comes, is reported
            log.warning(_("publish to %s: connection lost while sending; not sent now"), topic)
            raise BrokerUnavailable(self._not_connected(topic))
        return Publication(mid, topic, token)

    def _not_connected(self, topic: str) -> str:
        return mqtt_text.not_connected(topic, self.address, closed=self._closed)

    # ---- paho callbacks (paho's network thread: no publishing, no I/O) -----------------------

    def _handle_connect(self, client: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self._net_thread = threading.current_thread()
        if reason.is_failure:
            self._refusal = str(reason)
            self.last_error = f"the broker refused the connection: {reason}"
            log.error(_("MQTT broker %s refused the connection: %s"), self.address, reason)
            return
        self._refusal = None
        log.info(_("connected to MQTT broker %s"), self.address)
        if self.subscriptions:
            self._subs.connected()
        else:
            self._set_ready()

    def _subscribe(self, filters: Sequence[str]) -> int:
        result, mid = self._client.subscribe([(f, 1) for f in filters])
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS:
            log.error(_("subscribing at %s failed: %s"), self.address, paho.error_string(result))
        return int(mid or 0)

    def _handle_subscribe(self, _c: Any, _u: Any, mid: int, reasons: list[Any], _p: Any) -> None:
        answer = self._subs.answered(mid, reasons, self.address)
        if answer is None:
            return
        refused, retry = answer
        if refused:
            self.last_error = f"the broker refused the subscriptions {', '.join(refused)}"
        elif retry:
            self.last_error = None
        if not retry:
            self._set_ready()

    def _set_ready(self) -> None:
        self.connections += 1
        if not self.last_error or "refused the subscriptions" not in self.last_error:
            self.last_error = None
        self._down.clear()
        self._ready.set()

    def _handle_connect_fail(self, _c: Any, _u: Any) -> None:
        self._net_thread = threading.current_thread()
        first = self.last_error is None
        self.last_error = f"can't connect to the MQTT broker at {self.address}"
        (log.warning if first else log.debug)(
            _("can't connect to the MQTT broker at %s; retrying"), self.address
        )
        self._move(_c)

    def _handle_disconnect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        was_up = self._ready.is_set()
        self._ready.clear()
        self._down.set()
        self._window.wake()  # publishers waiting for the window learn the connection is gone
        if self._closed:
            log.info(_("disconnected from MQTT broker %s"), self.address)
            return
        self.last_error = f"lost the connection to the MQTT broker at {self.address} ({reason})"
        log.warning(
            _("lost the connection to the MQTT broker at %s (%s); reconnecting"),
            self.address,
            reason,
        )
        if not was_up:  # dropped before it was up: this node can't serve us now (nodes.py)
            self._move(_c)

    def _move(self, client: paho.Client) -> None:
        """paho's next attempt goes to the next broker of the list (paho's thread, between two
        connections: its ``host`` setter refuses to run there, hence its attributes)."""
        if not self.nodes.several:
            return
        was = self.address
        client._host, client._port = self.nodes.move()
        log.info(_("MQTT: trying the next broker, %s (after %s)"), self.address, was)

    def _handle_publish(self, _c: Any, _u: Any, mid: int, _r: Any, _p: Any) -> None:
        entry = self._window.acknowledged(mid)
        if entry is not None:  # else publish() reports it once it has recorded the mid
            self._on_delivered(Delivered(mid, entry[0], entry[1]))

    def _drop(self, mid: int) -> None:  # a publish dropped at the gate (paho's thread)
        with self._client._out_message_mutex:  # forgotten by paho (never resent), by the window
            self._client._out_messages.pop(mid, None)
        self._window.forget(mid)

    def _handle_message(self, _c: Any, _u: Any, message: paho.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:  # paho's ``topic`` raises; its raw bytes are in ``_topic``
            topic = bytes(message._topic).decode("utf-8", errors="replace")
            log.debug("a message whose topic is not UTF-8, handed on as %r", topic)
        self._on_message(Incoming(topic, bytes(message.payload), bool(message.retain), message.qos))

    # ---- shutdown ----------------------------------------------------------------------------

    def close(self, timeout: float = 5.0) -> None:
        """Wait up to ``timeout`` for outstanding PUBACKs, then disconnect cleanly."""
        if self._closed:
            return
        if self._started and self.connected:
            self.flush(timeout)
        self._closed = True
        self._window.wake()
        if self._started:
            self._client.disconnect()
            self._client.loop_stop()
        self._ready.clear()
        self._down.set()

    def __enter__(self) -> MqttTransport:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
