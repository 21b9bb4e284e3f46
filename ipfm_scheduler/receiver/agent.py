"""``ipfm-receiver``: one loudspeaker box's program, around the protocol's receiver side.

The pure :class:`~ipfm_scheduler.receiver.core.ReceiverCore` decides; this module does what it
asks, from ONE thread (the caller's), fed by a queue of events:

* commands from the broker (only this box's ``cmd`` topic is subscribed; a persistent session,
  so the broker keeps commands sent while the box was away for a moment);
* the broker's PUBACKs of our acks (an ack stays in the store's outbox until then, and is sent
  again after a reconnect);
* downloads finished (a worker thread fetches and checks the audio as soon as a command
  arrives), plays finished (the player's thread), wakeups due (``start_at``).

On each (re)connection the box says ``online`` (retained; the broker says ``offline`` for it,
the last will, if it vanishes) and sends its unconfirmed acks again. At start, a play the box
was in the middle of when it stopped is answered ``failed``/``interrupted`` (never played
again). SIGTERM/SIGINT: the play in progress is stopped and answered ``interrupted``, the box
says ``offline``, the acks are flushed.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from types import FrameType

from ipfm_scheduler import __version__, protocol
from ipfm_scheduler.clock import Clock, SystemClock
from ipfm_scheduler.config.settings import ReceiverSettings
from ipfm_scheduler.errors import ProtocolError, PublishError
from ipfm_scheduler.i18n import _
from ipfm_scheduler.protocol import Ack, AudioRef, ReceiverState, ReceiverStatus
from ipfm_scheduler.receiver.cache import AudioCache
from ipfm_scheduler.receiver.core import FetchResult, Outcome, ReceiverCore, Wakeup
from ipfm_scheduler.receiver.player import FfmpegPlayer, Player
from ipfm_scheduler.receiver.store import SqliteStore
from ipfm_scheduler.service.systemd import Notifier, watchdog_interval
from ipfm_scheduler.transport.mqtt import Delivered, Incoming, MqttTransport, Will

log = logging.getLogger(__name__)

TICK_S = 1.0  # the loop looks at the connection and the watchdog at least this often
STATUS_EVERY_S = 300.0  # a live status this often: its `at` tells the service the box's clock
CLOCK_WARN_EVERY_S = 3600.0  # a clock found wrong is logged again at most this often
STOP_WAIT_S = 5.0  # at shutdown, how long the play in progress gets to report its end
FW = f"ipfm-receiver/{__version__}"


@dataclass(order=True)
class _Due:
    due: datetime
    seq: int
    wakeup: Wakeup = field(compare=False)


class Agent:
    """One receiver: its settings, the core, the store, the cache, the player, the broker."""

    def __init__(
        self,
        settings: ReceiverSettings,
        *,
        clock: Clock | None = None,
        player: Player | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        self.store = SqliteStore(settings.state_dir / "receiver.db")
        self.core = ReceiverCore(
            settings.ward,
            settings.receiver,
            keys=settings.keys,
            store=self.store,
            tz=settings.timezone,
            own_key=settings.own_key,
            until={key.kid: until for key, until in settings.retired},
        )
        self.who = f"{settings.ward}/{settings.receiver}"
        self.cache = AudioCache(settings.cache_dir, settings.cache_max_bytes, who=self.who)
        self.player = player or FfmpegPlayer(settings.output, who=self.who)
        self.notifier = notifier or Notifier()
        prefix, ward, receiver = settings.mqtt.topic_prefix, settings.ward, settings.receiver
        self.ack_topic = protocol.ack_topic(prefix, ward, receiver)
        self.status_topic = protocol.status_topic(prefix, ward, receiver)
        self.events: queue.SimpleQueue[tuple[str, object]] = queue.SimpleQueue()
        self.transport = MqttTransport(
            settings.mqtt,
            (protocol.cmd_topic(prefix, ward, receiver),),
            client_id=settings.mqtt.client_id,
            persistent_session=True,
            will=Will(self.status_topic, self._status_bytes(ReceiverState.OFFLINE)),
            on_message=lambda m: self.events.put(("message", m)),
            on_delivered=lambda d: self.events.put(("delivered", d)),
        )
        self._wakeups: list[_Due] = []
        self._seq = itertools.count()
        self._fetching: set[str] = set()
        self._downloads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="fetch")
        self._announced = 0  # the connection the box last said `online` on
        self._shown_playing: str | None = None
        self._status_at = 0.0  # monotonic time of the last live status
        self._clock_warned = -CLOCK_WARN_EVERY_S
        self.stopping = threading.Event()
        self.ready = threading.Event()  # tests: started, and the store restored

    # ------------------------------------------------------------------ life

    def run(self) -> int:
        """Serve until :meth:`stop` (or SIGTERM/SIGINT when ``install_signals`` was called)."""
        self._apply(self.core.restore(self.clock.now()))
        self.transport.start()
        keys = ", ".join(self.settings.keys)
        log.info(
            _("%s: started (output %s, broker %s, %s)"),
            self.who,
            self.settings.output,
            self.settings.mqtt.shown,
            _("commands checked with key {keys}").format(keys=keys)
            if keys
            else _("no signing key"),
        )
        own = self.settings.own_key
        if own is None:
            log.warning(_("%s: no key of its own: its answers are unsigned (version 1)"), self.who)
        else:
            log.info(_("%s: answers signed with its own key %s (version 2)"), self.who, own.kid)
        if not keys:
            log.warning(_("%s: no signing key in its file: commands are not checked"), self.who)
        self.notifier.ready(f"receiver {self.who}")
        self.ready.set()
        interval = watchdog_interval()
        try:
            while not self.stopping.is_set():
                self._step()
                if interval is not None and self.transport.loop_alive:
                    self.notifier.watchdog()
        finally:
            self._shutdown()
        return 0

    def stop(self) -> None:
        self.stopping.set()
        self.events.put(("stop", None))  # SimpleQueue.put: safe from a signal handler

    def install_signals(self) -> None:
        def on_signal(_signum: int, _frame: FrameType | None) -> None:
            self.stop()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

    def _step(self) -> None:
        try:
            kind, value = self.events.get(timeout=self._wait_s())
        except queue.Empty:
            kind, value = "tick", None
        handler: Callable[[object], None] | None = {
            "message": self._on_message,
            "delivered": self._on_delivered,
            "fetched": self._on_fetched,
            "played": self._on_played,
        }.get(kind)
        if handler is not None:
            handler(value)
        self._fire_wakeups()
        self._announce()
        if time.monotonic() - self._status_at >= STATUS_EVERY_S:
            self._publish_status(ReceiverState.ONLINE)

    def _wait_s(self) -> float:
        if not self._wakeups:
            return TICK_S
        left = (self._wakeups[0].due - self.clock.now()).total_seconds()
        return min(TICK_S, max(0.0, left))

    # ------------------------------------------------------------------ events

    def _on_message(self, value: object) -> None:
        assert isinstance(value, Incoming)
        now = self.clock.now()
        self._check_clock(value.payload, now)
        self._apply(self.core.on_command(value.payload, now))

    def _check_clock(self, payload: bytes, now: datetime) -> None:
        """A command can't arrive before it was issued: if it seems to, this box's clock is
        behind the service's, and it plays late by as much."""
        try:
            issued_at = protocol.parse_command(payload).issued_at
        except ProtocolError:
            return  # the core answers it
        behind = (issued_at - now).total_seconds()
        if behind <= self.settings.max_clock_offset_s:
            return
        if time.monotonic() - self._clock_warned >= CLOCK_WARN_EVERY_S:
            self._clock_warned = time.monotonic()
            log.warning(
                _(
                    "%s: this box's clock is at least %.0f s behind the service's (a command "
                    "issued at %s arrived at %s by this clock): it plays late by as much; set its "
                    "time right (systemd-timesyncd)"
                ),
                self.who,
                behind,
                issued_at.isoformat(timespec="seconds"),
                now.astimezone(issued_at.tzinfo).isoformat(timespec="seconds"),
            )

    def _on_delivered(self, value: object) -> None:
        assert isinstance(value, Delivered)
        token = value.token
        if isinstance(token, tuple):  # (command id, status) of an ack; None: a status
            self.store.delivered(token[0], token[1])

    def _on_fetched(self, value: object) -> None:
        assert isinstance(value, tuple)
        sha256, result = value
        self._fetching.discard(sha256)
        self._apply(self.core.on_fetched(sha256, result, self.clock.now()))

    def _on_played(self, value: object) -> None:
        assert isinstance(value, tuple)
        command_id, played_s, failure = value
        now = self.clock.now()
        self._apply(self.core.on_played(command_id, now, played_s=played_s, failure=failure))

    def _fire_wakeups(self) -> None:
        now = self.clock.now()
        while self._wakeups and self._wakeups[0].due <= now:
            due = heapq.heappop(self._wakeups)
            self._apply(self.core.on_timer(due.wakeup, now))

    # ------------------------------------------------------------------ doing what the core asks

    def _apply(self, out: Outcome) -> None:
        for ack in out.acks:
            self._log_ack(ack)
            self._publish_ack(ack)
        for wakeup in out.wakeups:
            heapq.heappush(self._wakeups, _Due(wakeup.due, next(self._seq), wakeup))
        for audio in out.fetch:
            self._fetch(audio)
        if out.stop is not None:
            self.player.stop(out.stop)
        if out.play is not None:
            self._play(out.play)
        if self.core.playing != self._shown_playing:
            self._publish_status(ReceiverState.ONLINE)

    def _fetch(self, audio: AudioRef) -> None:
        if self.cache.path_for(audio.sha256) is not None:
            self.events.put(("fetched", (audio.sha256, FetchResult.OK)))
            return
        if audio.sha256 in self._fetching:
            return
        self._fetching.add(audio.sha256)

        def download() -> None:
            try:
                result = self.cache.fetch(audio)
            except Exception:  # a bug in the cache must not leave the command waiting for ever
                log.exception(_("%s: downloading %s failed"), self.who, audio.url)
                result = FetchResult.DOWNLOAD
            self.events.put(("fetched", (audio.sha256, result)))

        self._downloads.submit(download)

    def _play(self, command: protocol.PlayCommand) -> None:
        sha256 = command.audio.sha256
        path = self.cache.path_for(sha256)
        if path is None:  # evicted since it was fetched: can't play what is not here
            log.error(
                _("%s: command %s: its audio left the cache before it played"), self.who, command.id
            )
            self.events.put(("played", (command.id, 0.0, "download")))
            return
        self.cache.pin(sha256)

        def done(command_id: str, played_s: float, failure: str | None) -> None:
            self.cache.unpin(sha256)
            self.events.put(("played", (command_id, played_s, failure)))

        self.player.start(command, path, done)

    # ------------------------------------------------------------------ the broker

    def _publish_ack(self, ack: Ack) -> None:
        payload = self.core.encode_ack(ack)
        try:
            self.transport.publish(
                self.ack_topic, payload, token=(ack.id, ack.status.value), timeout=0
            )
        except PublishError as exc:  # kept in the store's outbox: sent again on reconnecting
            log.debug("%s: ack %s %s not sent now (%s)", self.who, ack.id, ack.status.value, exc)

    def _announce(self) -> None:
        """On a new connection: say `online`, and send the acks the broker has not confirmed."""
        connection = self.transport.connections
        if not self.transport.connected or connection == self._announced:
            return
        self._announced = connection
        self._publish_status(ReceiverState.ONLINE)
        pending = self.store.pending_acks()
        for _command_id, ack in pending:
            self._publish_ack(ack)
        if pending:
            log.info(
                _("%s: %d ack(s) not confirmed by the broker sent again"), self.who, len(pending)
            )

    def _status_bytes(self, state: ReceiverState) -> bytes:
        online = state is ReceiverState.ONLINE
        status = ReceiverStatus(
            state=state,
            at=self.clock.now() if online else None,
            fw=FW,
            volume=self.core.volume if online else None,
            playing=self.core.playing if online else None,
        )
        return self.core.encode_status(status)

    def _publish_status(self, state: ReceiverState) -> None:
        if not self.transport.connected:
            return
        try:
            self.transport.publish(
                self.status_topic, self._status_bytes(state), retain=True, timeout=0
            )
            self._shown_playing = self.core.playing
            self._status_at = time.monotonic()
        except PublishError as exc:
            log.debug("%s: status not sent now (%s)", self.who, exc)

    def _log_ack(self, ack: Ack) -> None:
        why = f" ({ack.detail})" if ack.detail else ""
        played = (
            _(", played {seconds} s").format(seconds=f"{ack.played_s:.1f}")
            if ack.played_s is not None
            else ""
        )
        level = logging.WARNING if ack.status.value in ("failed", "rejected") else logging.INFO
        log.log(level, _("%s: command %s %s%s%s"), self.who, ack.id, ack.status.value, why, played)

    # ------------------------------------------------------------------ stopping

    def _shutdown(self) -> None:
        self.notifier.stopping()
        playing = self.core.playing
        if playing is not None:
            self.player.stop(playing)
            self._answer_interrupted(playing)
        self._downloads.shutdown(wait=False, cancel_futures=True)
        self._publish_status(ReceiverState.OFFLINE)
        self.transport.close()
        self.store.close()
        log.info(_("%s: stopped"), self.who)

    def _answer_interrupted(self, command_id: str) -> None:
        """Wait (``STOP_WAIT_S`` at most) for the stopped play's end; answer it `interrupted`."""
        deadline = time.monotonic() + STOP_WAIT_S
        while (left := deadline - time.monotonic()) > 0:
            try:
                kind, value = self.events.get(timeout=left)
            except queue.Empty:
                return
            if kind == "delivered":
                self._on_delivered(value)
            elif kind == "played" and isinstance(value, tuple) and value[0] == command_id:
                now = self.clock.now()
                out = self.core.on_played(command_id, now, played_s=value[1], failure="interrupted")
                self._apply(out)
                return
