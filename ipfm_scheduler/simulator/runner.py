"""Runs simulated receivers against a broker over one shared MQTT connection.

The connection subscribes ``PREFIX/+/+/cmd``; paho's thread only queues what arrives (and the
PUBACKs), and one worker thread of ours hands each command to its receiver (:class:`~.playback.
SimBox`: the receiver core with a simulated player), fires due wakeups and publishes the acks —
paced, from our own thread, like the scheduler does. An ack leaves the receiver's outbox when
its PUBACK comes. Each receiver
publishes a retained ``online`` status at start and a retained ``offline`` one at stop (with one
shared connection there is no per-receiver last will).
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import logging
import queue
import threading
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple
from urllib.parse import urlsplit

from ipfm_scheduler.clock import Clock, SystemClock
from ipfm_scheduler.config.settings import MqttSettings
from ipfm_scheduler.core.model import Schedule
from ipfm_scheduler.errors import BrokerUnavailable, ProtocolError, PublishError, ValueInvalid
from ipfm_scheduler.i18n import _
from ipfm_scheduler.protocol import (
    Ack,
    AudioRef,
    OwnKey,
    ReceiverState,
    ReceiverStatus,
    TopicKind,
    ack_topic,
    encode_status,
    parse_topic,
    receivers_filter,
    status_topic,
)
from ipfm_scheduler.receiver.core import FetchResult, Outcome, Wakeup
from ipfm_scheduler.simulator.playback import Behaviour, SimBox
from ipfm_scheduler.transport.mqtt import Delivered, Incoming, MqttTransport

log = logging.getLogger(__name__)

FIRMWARE = "ipfm-sim/1"
RECONNECT_LOOK_S = 1.0  # how often the worker looks for a new connection (to send acks again)
ReceiverIds = Iterable[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Handled:
    """One command (or timer) handled by one receiver: for the log line and for tests."""

    ward: str
    receiver: str
    outcome: Outcome

    def describe(self) -> str:
        statuses = ", ".join(
            f"{a.status.value}" + (f" ({a.detail})" if a.detail else "")
            + ("" if a.id == self.outcome.command_id else f" for {a.id}")
            for a in self.outcome.acks
        )  # fmt: skip
        what = f"{self.outcome.kind} {self.outcome.command_id or '?'}"
        note = f" [{self.outcome.note}]" if self.outcome.note else ""
        return f"{self.ward}/{self.receiver}: {what}: {statuses or 'no answer'}{note}"


def receivers_of(schedule: Schedule) -> list[tuple[str, str]]:
    """(ward, receiver) of every enabled receiver of the schedule's wards."""
    return [
        (ward.id, receiver.id)
        for ward in sorted(schedule.wards.values(), key=lambda w: w.id)
        for receiver in ward.enabled_receivers
    ]


class Simulator:
    """Simulated receivers answering commands on a broker, until :meth:`stop`."""

    def __init__(
        self,
        settings: MqttSettings,
        receivers: ReceiverIds | Schedule,
        behaviour: Behaviour | None = None,
        *,
        prefix: str | None = None,
        offline: Iterable[tuple[str, str]] = (),
        clock: Clock | None = None,
        on_handled: Callable[[Handled], None] | None = None,
        max_outstanding: int = 1000,
    ) -> None:
        pairs = receivers_of(receivers) if isinstance(receivers, Schedule) else list(receivers)
        self.behaviour = behaviour or Behaviour()
        self.prefix = prefix or settings.topic_prefix
        self.clock: Clock = clock or SystemClock()
        self.offline = frozenset(offline)
        self.receivers = {
            pair: SimBox(pair[0], pair[1], self.behaviour)
            for pair in pairs
            if pair not in self.offline
        }
        self.handled_count = 0
        self._silenced: set[tuple[str, str]] = set()  # taken offline while running
        self._on_handled = on_handled
        self._inbox: queue.SimpleQueue[Incoming | Delivered | None] = queue.SimpleQueue()
        self._timers: list[tuple[datetime, int, tuple[str, str], Wakeup]] = []
        self._seq = itertools.count()
        self._stopping = threading.Event()
        self._worker: threading.Thread | None = None
        self.transport = MqttTransport(
            settings,
            (receivers_filter(self.prefix),),
            client_id=f"ipfm-simulator-{uuid.uuid4().hex[:8]}",
            max_outstanding=max_outstanding,
            on_message=self._inbox.put,
            on_delivered=self._inbox.put,
        )
        self.clock.add_listener(self.wake)

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Connect, say every receiver is online, and start answering commands."""
        try:
            self.transport.connect(timeout)
        except BrokerUnavailable:
            self.transport.close(0)
            raise
        self._publish_statuses(ReceiverState.ONLINE)
        # a receiver played as switched off says so too (a real one's last will did): else an
        # `online` retained from an earlier run would stand for it
        self._publish_statuses(ReceiverState.OFFLINE, sorted(self.offline))
        self._worker = threading.Thread(target=self._run, name="ipfm-simulator", daemon=True)
        self._worker.start()
        log.info(
            _("simulating %d receivers (%d offline) on %s under %s/"),
            len(self.receivers), len(self.offline), self.transport.address, self.prefix,
        )  # fmt: skip

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop answering, say every receiver is offline, and disconnect. Returns whether they
        could say so (not while the broker is unreachable: their `online` then stays)."""
        self._stopping.set()
        self.wake()
        if self._worker is not None:
            self._worker.join(timeout)
        said = self.transport.connected
        if said:
            self._publish_statuses(ReceiverState.OFFLINE)
        self.transport.close(timeout)
        return said

    def wake(self) -> None:
        """Make the worker look at the clock again (a manual clock moved, or stopping)."""
        self._inbox.put(None)

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def take_offline(self, ward: str, receiver: str) -> None:
        """The receiver goes away (power cut, lost link): it says `offline` (as its last will
        would) and answers nothing until :meth:`bring_online`."""
        self._require((ward, receiver))
        self._silenced.add((ward, receiver))
        self._publish_statuses(ReceiverState.OFFLINE, [(ward, receiver)])

    def bring_online(self, ward: str, receiver: str) -> None:
        """The receiver is back: it says `online` and answers commands again."""
        self._require((ward, receiver))
        self._silenced.discard((ward, receiver))
        self._publish_statuses(ReceiverState.ONLINE, [(ward, receiver)])

    def _require(self, pair: tuple[str, str]) -> None:
        if pair not in self.receivers:
            raise ValueInvalid(
                _("{ward}/{receiver} is not one of the simulated receivers").format(
                    ward=pair[0], receiver=pair[1]
                )
            )

    def _publish_statuses(
        self, state: ReceiverState, pairs: Iterable[tuple[str, str]] | None = None
    ) -> None:
        now = self.clock.now()
        for ward, receiver in self.receivers if pairs is None else pairs:
            status = ReceiverStatus(state, now, FIRMWARE, 80, None)
            topic = status_topic(self.prefix, ward, receiver)
            key = self.behaviour.own_keys.get((ward, receiver))
            own = OwnKey(ward, receiver, key) if key is not None else None
            self._send(topic, encode_status(status, self.behaviour.tz, own), retain=True)
        self.transport.flush(30)

    # ---- the worker --------------------------------------------------------------------------

    def _run(self) -> None:
        announced = self.transport.connections
        while not self._stopping.is_set():
            try:
                message = self._inbox.get(timeout=self._wait_s())
            except queue.Empty:
                message = None
            try:
                if self.transport.connections != announced and self.transport.connected:
                    announced = self.transport.connections
                    self._send_pending_acks()
                self._fire_due_timers()
                if isinstance(message, Delivered):
                    self._delivered(message)
                elif message is not None:
                    self._handle(message)
            except Exception:  # a bug in one command must not stop the simulation
                log.exception(_("simulator: handling a command failed (a bug)"))

    def _wait_s(self) -> float:
        """Until the next timer, and at least every second (a new connection is looked for)."""
        if not self._timers:
            return RECONNECT_LOOK_S
        wait = self.clock.seconds_until(self._timers[0][0])
        return RECONNECT_LOOK_S if wait is None else min(wait, RECONNECT_LOOK_S)

    def _send_pending_acks(self) -> None:
        """After a reconnection (to the same broker, or the next of the list), as ipfm-receiver
        does: every ack the broker has not confirmed goes again."""
        pending = [
            (pair, ack)
            for pair, box in self.receivers.items()
            if pair not in self._silenced
            for _cid, ack in box.store.pending_acks()
        ]
        for pair, ack in pending:
            self._send_ack(pair, ack)
        if pending:
            log.info(_("simulator: %d ack(s) not confirmed by the broker sent again"), len(pending))

    def _fire_due_timers(self) -> None:
        now = self.clock.now()
        while self._timers and self._timers[0][0] <= now:
            _due, _seq, pair, timer = heapq.heappop(self._timers)
            self._apply(pair, self.receivers[pair].due(timer, now))

    def _handle(self, message: Incoming) -> None:
        try:
            ref = parse_topic(self.prefix, message.topic)
        except ProtocolError as exc:
            log.debug("ignored: %s", exc)
            return
        pair = (ref.ward, ref.receiver)
        receiver = self.receivers.get(pair)
        if ref.kind is not TopicKind.CMD or receiver is None or pair in self._silenced:
            return  # offline or not ours: never answers
        self._apply(pair, receiver.command(message.payload, self.clock.now()), command=True)

    def _delivered(self, delivered: Delivered) -> None:
        if isinstance(delivered.token, _AckToken):
            pair, cid, status = delivered.token
            self.receivers[pair].store.delivered(cid, status)

    def _apply(self, pair: tuple[str, str], outcome: Outcome, *, command: bool = False) -> None:
        for timer in outcome.wakeups:
            heapq.heappush(self._timers, (timer.due, next(self._seq), pair, timer))
        if pair in self._silenced:  # a play went on locally, but its acks can't get out
            return
        for ack in outcome.acks:
            self._send_ack(pair, ack)
        if command:
            self.handled_count += 1  # commands, not the later steps of a play
        if outcome.acks or command:
            handled = Handled(pair[0], pair[1], outcome)
            log.info("%s", handled.describe())
            if self._on_handled is not None:
                self._on_handled(handled)

    def _send_ack(self, pair: tuple[str, str], ack: Ack) -> None:
        token = _AckToken(pair, ack.id, ack.status.value)
        payload = self.receivers[pair].core.encode_ack(ack)  # as ipfm-receiver signs it
        self._send(ack_topic(self.prefix, *pair), payload, token=token)

    def _send(self, topic: str, payload: bytes, retain: bool = False, token: object = None) -> None:
        try:
            self.transport.publish(topic, payload, retain=retain, timeout=60, token=token)
        except (BrokerUnavailable, PublishError) as exc:
            # the scheduler resends unanswered commands, and a receiver repeats its latest ack
            log.warning(_("simulator: %s"), exc)


class _AckToken(NamedTuple):
    """Which receiver's outbox entry a publish carries (for its PUBACK)."""

    pair: tuple[str, str]
    command_id: str
    status: str


class HttpFetch:
    """Downloads programme audio over HTTP(S) and checks its sha256 (cached by hash)."""

    def __init__(self, timeout_s: float = 30.0) -> None:
        self.timeout_s = timeout_s
        self._good: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, audio: AudioRef) -> FetchResult:
        with self._lock:
            if audio.sha256 in self._good:
                return FetchResult.OK
        if urlsplit(audio.url).scheme not in ("http", "https"):
            return FetchResult.DOWNLOAD
        digest = hashlib.sha256()
        size = 0
        try:
            with urllib.request.urlopen(audio.url, timeout=self.timeout_s) as response:
                while chunk := response.read(65536):
                    size += len(chunk)
                    if size > audio.bytes:
                        return FetchResult.CHECKSUM
                    digest.update(chunk)
        except (OSError, ValueError) as exc:
            log.warning(_("simulator: downloading %s failed: %s"), audio.url, exc)
            return FetchResult.DOWNLOAD
        if size != audio.bytes or digest.hexdigest() != audio.sha256:
            return FetchResult.CHECKSUM
        with self._lock:
            self._good.add(audio.sha256)
        return FetchResult.OK


def parse_pairs(text: str) -> list[tuple[str, str]]:
    """``ward/receiver,ward/receiver`` -> pairs (ids checked)."""
    from ipfm_scheduler.core.ids import check_name

    pairs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        ward, sep, receiver = item.partition("/")
        if not sep:
            raise ValueInvalid(
                _("{item} is not WARD/RECEIVER (like cam-trung/loa-01)").format(item=repr(item))
            )
        pairs.append((check_name(ward, "ward id"), check_name(receiver, "receiver id")))
    return pairs
