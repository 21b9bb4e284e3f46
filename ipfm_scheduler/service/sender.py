"""Publishing stored commands: from the service's own thread, paced, every result checked.

Each tick the sender asks the airing log which commands to (re)send, hands their stored bytes to
the outbox, and remembers each accepted publish (by command id) until the broker's PUBACK
arrives; only then is the command recorded as sent. A publish the client refuses (no connection,
its queue full) is recorded as an attempt and tried again on a later tick; a publish whose PUBACK
never comes (the broker went away) is forgotten after ``resend_after`` and sent again, the same
bytes. Nothing is retried inside paho: the database is the outbox.

Where the airing log gains by it (``pubacks_with_acks``: PostgreSQL), a PUBACK is held, while
commands are going out, for up to ``HOLD_S`` before it is recorded: the receiver's ack of the
command usually comes within that time, and the answers' intake then records both in one update
of the command's row (:meth:`Sender.held`; issue 15). Once nothing is in flight, and before the
airing log is asked what to send, every PUBACK held is recorded (a command whose PUBACK is held
is still ``pending`` there).
"""

from __future__ import annotations

import bisect
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ipfm_scheduler.errors import NotLeading
from ipfm_scheduler.i18n import _
from ipfm_scheduler.service.ports import (
    AiringLog,
    MetricsSink,
    NoMetrics,
    Outbox,
    OutgoingCommand,
    Publish,
    PublishStatus,
    SendOutcome,
    SendResult,
)

log = logging.getLogger(__name__)

FLUSH_EVERY = 2000  # PUBACKs recorded per database transaction during a big send
HOLD_S = 1.0  # how long a PUBACK waits for its command's ack, to be recorded with it
BUSY_PATIENCE_S = 10.0  # how long one tick waits for PUBACKs while the in-flight cap is reached
STEP_LIMIT_S = 20.0  # one tick sends for at most this long (the rest goes next tick), so the
# other jobs and the watchdog are never starved by a big send
MEANWHILE_EVERY_S = 0.25  # during a big send, the receivers' answers are taken in this often


@dataclass
class _InFlight:
    published_at: datetime
    started: float  # time.monotonic() at publish, for the latency measurement
    ward: str
    resend: bool


class Sender:
    def __init__(
        self,
        airing_log: AiringLog,
        outbox: Outbox,
        *,
        limit: int = 20000,
        metrics: MetricsSink | None = None,
    ) -> None:
        self.log = airing_log
        self.outbox = outbox
        self.metrics = metrics or NoMetrics()
        self.limit = limit
        self.hold_s = HOLD_S if airing_log.pubacks_with_acks else 0.0
        self._inflight: dict[str, _InFlight] = {}  # command id -> when it was published
        self._acked: list[tuple[float, SendResult]] = []  # PUBACKs to record, time.monotonic()
        self._fresh: list[OutgoingCommand] = []  # just stored, not yet offered to the broker
        self._was_connected = True
        #: with services on standby: True while this one leads (checked before every publish)
        self.gate: Callable[[], bool] = _always
        #: work to do while a big send waits on the broker, given the step's time; returns how
        #: much it did. The dispatcher takes in the receivers' answers there (service/jobs.py),
        #: so that they do not pile up in the intake while 100,000 commands go out.
        self.meanwhile: Callable[[datetime], int] | None = None
        self._meanwhile_at = 0.0

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    @property
    def busy(self) -> int:
        """Commands in flight or stored and not yet offered to the broker: a slot going out."""
        return len(self._inflight) + len(self._fresh)

    def offer(self, commands: list[OutgoingCommand]) -> None:
        """Commands just stored (and due): the next :meth:`send` publishes them without reading
        them back from the database. Whatever it can't send stays in the database, as always."""
        self._fresh += commands

    def send_ready(self, now: datetime) -> int:
        """Publish offered commands while the client takes them without waiting; keep the rest
        for the next :meth:`send`. Records the PUBACKs that came meanwhile."""
        accepted = 0
        if self._fresh and self.outbox.is_connected():
            waiting = self._fresh
            for n, command in enumerate(waiting):
                if command.id in self._inflight:
                    continue
                self._check_gate()
                result = self.outbox.publish(command.topic, command.payload, token=command.id,
                                             wait=False)  # fmt: skip
                if result.status is not PublishStatus.ACCEPTED:
                    self._fresh = waiting[n:]  # BUSY or refused: send() deals with the rest
                    break
                self._inflight[command.id] = _InFlight(
                    now, time.monotonic(), command.ward, command.resend
                )
                accepted += 1
            else:
                self._fresh = []
        self.settle(now, hold=True)
        self._between(now)
        return accepted

    def send(self, now: datetime, *, resend_after: timedelta, due_by: datetime) -> int:
        """Publish what is due; returns how many publishes the client accepted. Commands
        offered and not published yet go first (their rest stays offered for the next tick);
        then the airing log is asked."""
        self.settle(now, hold=True)
        self._give_up(now, resend_after)
        if not self._connected():
            self._fresh = []  # they wait in the database, as every other command
            return 0
        if self._fresh:
            return self.send_offered(now, time.monotonic() + STEP_LIMIT_S)[0]
        self._flush(now)  # every PUBACK held: a command whose PUBACK is held is still `pending`
        due = self.log.commands_to_send(
            now, resend_after=resend_after, due_by=due_by, limit=self.limit + self.in_flight
        )
        return self._publish_all(due, now, time.monotonic() + STEP_LIMIT_S)[0]

    def send_offered(
        self, now: datetime, deadline: float, *, dispatching: bool = False
    ) -> tuple[int, bool]:
        """Publish the commands offered (just stored), waiting for room in the in-flight
        window until ``deadline`` (``time.monotonic()``), taking in answers meanwhile; what is
        left stays offered. ``dispatching``: nothing is tried without a connection, and the
        first command the client refuses stays offered, untried, for the ``send`` step (which
        records the refusal: one attempt per tick). Returns (publishes accepted, whether all
        went)."""
        if dispatching and not self.outbox.is_connected():
            self.settle(now, hold=True)
            return 0, False
        fresh, self._fresh = self._fresh, []
        fresh = [c for c in fresh if c.expires_at > now]  # the database's query says the same
        accepted, rest = self._publish_all(fresh, now, deadline, keep_refused=dispatching)
        self._fresh = rest + self._fresh
        return accepted, not rest

    def _publish_all(
        self,
        due: list[OutgoingCommand],
        now: datetime,
        deadline: float,
        *,
        keep_refused: bool = False,
    ) -> tuple[int, list[OutgoingCommand]]:
        """Publish ``due`` in order until the deadline, a slow broker or a refusal; returns
        (publishes accepted, the commands not tried)."""
        refused: list[SendResult] = []
        accepted = 0
        rest: list[OutgoingCommand] = []
        for n, command in enumerate(due):
            if command.id in self._inflight:
                continue
            if time.monotonic() > deadline:
                rest = due[n:]
                break
            self._between(now)
            result = self._publish(command, now)
            if result.status is PublishStatus.ACCEPTED:
                accepted += 1
                continue
            if result.status is PublishStatus.BUSY or keep_refused:
                rest = due[n:]
                break  # the broker is slow to answer: the rest waits for the next tick
            refused.append(SendResult(command.id, SendOutcome(result.status.value)))
            log.warning(
                _("command %s for %s/%s not sent: %s"),
                command.id,
                command.ward,
                command.receiver,
                result.reason or result.status.value,
            )
            if result.status is PublishStatus.NO_CONNECTION:
                rest = due[n + 1 :]
                break
        if refused:
            self.log.record_sends(refused, now=now)
        self.settle(now, hold=True)
        return accepted, rest

    def settle(self, now: datetime, timeout: float = 0.0, *, hold: bool = False) -> int:
        """Record the PUBACKs that arrived (with ``hold``: those that came ``hold_s`` ago or
        more; the others wait for their command's ack); returns how many arrived."""
        count = self._collect(timeout)
        self._flush(now, hold=hold)
        return count

    def held(self, command_ids: Iterable[str]) -> list[str]:
        """Hand over the PUBACKs not recorded yet of ``command_ids`` (one each), for the caller
        to record with the commands' acks, or to :meth:`give_back` if it could not."""
        if not self.hold_s:
            return []
        self._collect(0.0)
        wanted = set(command_ids)
        taken: list[str] = []
        kept: list[tuple[float, SendResult]] = []
        for entry in self._acked:
            if entry[1].command_id in wanted:
                wanted.discard(entry[1].command_id)
                taken.append(entry[1].command_id)
            else:
                kept.append(entry)
        self._acked = kept
        return taken

    def give_back(self, command_ids: Sequence[str]) -> None:
        """PUBACKs :meth:`held` handed over and not recorded: recorded at the next flush."""
        self._acked[:0] = [(0.0, SendResult(cid, SendOutcome.PUBACK)) for cid in command_ids]

    def _connected(self) -> bool:
        connected = self.outbox.is_connected()
        if connected != self._was_connected:
            if connected:
                log.info(_("broker reachable again: sending what waits"))
            else:
                log.warning(_("broker unreachable: commands wait in the database until it is back"))
        self._was_connected = connected
        return connected

    def _publish(self, command: OutgoingCommand, now: datetime) -> Publish:
        waited_since = None
        while True:
            self._check_gate()
            result = self.outbox.publish(
                command.topic, command.payload, token=command.id, wait=True
            )
            if result.status is PublishStatus.ACCEPTED:
                self._inflight[command.id] = _InFlight(
                    now, time.monotonic(), command.ward, command.resend
                )
                return result
            if result.status is not PublishStatus.BUSY:
                return result
            waited_since = waited_since or time.monotonic()
            if time.monotonic() - waited_since > BUSY_PATIENCE_S:
                return result
            self._collect(timeout=0.0 if self._between(now) else 1.0)
            if len(self._acked) >= FLUSH_EVERY:
                self._flush(now, hold=True)

    def _check_gate(self) -> None:
        if not self.gate():
            self._fresh = []  # in the database: the next leader sends them
            raise NotLeading(None)

    def _between(self, now: datetime) -> int:
        """Run ``meanwhile`` if it has not run for ``MEANWHILE_EVERY_S``; how much it did."""
        if self.meanwhile is None or time.monotonic() - self._meanwhile_at < MEANWHILE_EVERY_S:
            return 0
        self._meanwhile_at = time.monotonic()
        return self.meanwhile(now)

    def _collect(self, timeout: float) -> int:
        tokens = self.outbox.take_pubacks(timeout)
        done = time.monotonic()
        for command_id in tokens:
            # a PUBACK for a publish given up on (or refused while the connection dropped, which
            # paho sent after reconnecting) is still a fact: the broker has the command
            self._acked.append((done, SendResult(command_id, SendOutcome.PUBACK)))
            entry = self._inflight.pop(command_id, None)
            if entry is not None:
                self.metrics.command_sent(entry.ward, resend=entry.resend)
                self.metrics.dispatch_latency(done - entry.started)
        return len(tokens)

    def _flush(self, now: datetime, *, hold: bool = False) -> None:
        """Record the PUBACKs taken in; with ``hold``, while commands are still going out, only
        those taken ``hold_s`` ago or more (``_acked`` is in the order they came)."""
        count = len(self._acked)
        if hold and self.busy:
            cut = time.monotonic() - self.hold_s
            count = bisect.bisect_right(self._acked, cut, key=lambda e: e[0])
        if count:
            batch, self._acked = self._acked[:count], self._acked[count:]
            self.log.record_sends([result for _at, result in batch], now=now)

    def _give_up(self, now: datetime, after: timedelta) -> None:
        stale = [cid for cid, e in self._inflight.items() if now - e.published_at >= after]
        if not stale:
            return
        results = []
        for command_id in stale:
            del self._inflight[command_id]
            results.append(SendResult(command_id, SendOutcome.TIMEOUT))
        log.warning(
            _("%d command(s) got no PUBACK in %s: they will be sent again"), len(stale), after
        )
        self.log.record_sends(results, now=now)


def _always() -> bool:
    return True
