"""Recording an ack: what receivers send (acks and statuses) is read by the protocol package and
recorded in the airing log, never dropped (a message that can't be read is quarantined, with the
reason). One line per answer that matters goes to the log."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TypeVar

from ipfm_scheduler import protocol
from ipfm_scheduler.core.commands import CommandState
from ipfm_scheduler.core.verdicts import STATE_WORDS
from ipfm_scheduler.errors import IpfmError, ProtocolError, StorageError
from ipfm_scheduler.i18n import N_, _, ngettext
from ipfm_scheduler.lograte import RateLimited, shown
from ipfm_scheduler.protocol import TopicKind, Trust
from ipfm_scheduler.service.agenda import Plan
from ipfm_scheduler.service.ports import (
    AckOutcome,
    AiringLog,
    IncomingAck,
    IncomingMessage,
    IncomingStatus,
    MetricsSink,
    Outbox,
)
from ipfm_scheduler.service.sender import Sender
from ipfm_scheduler.storage.pending import Batch, PendingAnswers
from ipfm_scheduler.storage.spill import SpillFile

log = logging.getLogger(__name__)

ASIDE_BATCH = 5000  # answers stored aside at once, at most (the next wait in the intake)


@dataclass
class _Sorted:
    """A batch of answers read and checked, nothing stored yet: the acks and statuses to
    record, the messages to quarantine (with their ward, receiver and reason), and the PUBACKs
    the sender handed over, to be recorded with the acks."""

    acks: list[IncomingAck] = field(default_factory=list)
    statuses: list[IncomingStatus] = field(default_factory=list)
    quarantine: list[tuple[IncomingMessage, str, str, str]] = field(default_factory=list)
    unknown: int = 0
    held: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Stored:
    """What the airing log said: which statuses changed, and each ack's outcome."""

    statuses: list[bool]
    acks: list[AckOutcome]


_T = TypeVar("_T")


@dataclass(frozen=True)
class _Flight:
    """A batch being stored on the answers' own thread (``Answers.aside``)."""

    batch: Batch
    work: _Sorted
    stored: Future[_Stored]


class Answers:
    """Takes in what receivers sent; ``touch(ward)`` is told of each change the weekly minimum
    must look at again (a command reached its final state, a receiver came back online).

    With ``aside`` (PostgreSQL), a batch taken in while a send goes out
    (``receive(..., aside=True)``) is stored on a thread of its own while the sender goes on
    publishing, one batch at a time; this thread reads and checks it before, and marks it done,
    logs and counts after (:meth:`finish`). Nothing else is written from this thread meanwhile:
    the sender finishes the batch first (``Sender.drain``), and so do the dispatcher's steps."""

    def __init__(
        self,
        airing_log: AiringLog,
        outbox: Outbox,
        metrics: MetricsSink,
        touch: Callable[[str], None],
        spill: SpillFile | None = None,
        *,
        aside: bool = False,
    ) -> None:
        self.log = airing_log
        self.outbox = outbox
        self.metrics = metrics
        self.touch = touch
        self.pending = PendingAnswers(self._take, spill)
        self._prefix = ""
        #: (ward, receiver) of the configuration in force: answers from others are only counted
        self.known: frozenset[tuple[str, str]] | None = None
        self.unknown = 0  # answers from receivers not in the configuration, counted
        self.warnings = RateLimited(log, N_("quarantined"))
        self._online: dict[str, dict[str, bool]] = defaultdict(dict)  # ward -> receiver -> online
        #: the sender: the PUBACKs it holds of the commands acked are recorded with the acks
        self.pubacks: Sender | None = None
        self.aside = aside
        self._pool: ThreadPoolExecutor | None = None
        self._flight: _Flight | None = None

    def receive(self, plan: Plan, now: datetime, limit: int = 20000, *, aside: bool = False) -> int:
        """Record what receivers sent (acks and statuses), in order, each batch as of when it
        was received; returns how many messages. A batch the airing log refuses stays pending
        (``storage/pending.py``): tried again later, set aside in the spill file meanwhile. Each
        answer is checked against its receiver's keys in ``plan`` (docs/protocol.md "Version 2").

        ``aside`` (during a send; only where ``self.aside``): the batch stored on the answers'
        thread is finished only if stored already, and the next is handed to it, not waited for."""
        self.warnings.flush(now)
        self._prefix = plan.prefix
        aside = aside and self.aside
        count = 0
        try:
            count = self.finish(now, wait=not aside)
            if self._flight is not None:  # still storing: what arrives waits in the intake
                return count  # (taken in one batch after it, as of one time)
            while count < limit:
                batch = self.pending.take(min(limit - count, ASIDE_BATCH if aside else limit), now)
                if not batch.messages:
                    break
                count += len(batch.messages)
                work = self._settle(batch, now, partial(self._sort, plan, batch))
                if aside:
                    future = self._worker().submit(self._store, work, batch.at)
                    self._flight = _Flight(batch, work, future)
                    break
                stored = self._settle(batch, now, partial(self._store, work, batch.at), work.held)
                self._done(batch, work, stored)
        finally:
            self.metrics.answers_waiting(self.pending.waiting, self.pending.spilled_bytes)
        return count

    def finish(self, now: datetime, *, wait: bool = True) -> int:
        """The batch on the answers' thread, if any: waited for (unless not ``wait`` and not
        stored yet), then marked done, logged and counted; or, if the airing log refused it, kept
        to try again, its PUBACKs handed back to the sender. Returns how many messages."""
        flight = self._flight
        if flight is None or (not wait and not flight.stored.done()):
            return 0
        self._flight = None
        stored = self._settle(flight.batch, now, flight.stored.result, held=flight.work.held)
        self._done(flight.batch, flight.work, stored)
        return len(flight.batch.messages)

    def stop(self, now: datetime) -> None:
        """The service stops: answers not stored yet go to the spill file (replayed at start)."""
        try:
            self.finish(now)
        except IpfmError:
            pass  # kept in memory: set aside below
        finally:
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None
        count = self.pending.stop(now)
        if count:
            log.warning(ngettext(
                "%d answer not stored yet set aside in %s: stored at the next start",
                "%d answers not stored yet set aside in %s: stored at the next start",
                count), count, self.pending.spill.path if self.pending.spill else "?")  # fmt: skip

    def _worker(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="ipfm-answers")
        return self._pool

    def _settle(
        self, batch: Batch, now: datetime, step: Callable[[], _T], held: Sequence[str] = ()
    ) -> _T:
        """Run ``step`` of ``batch``. If it fails, the PUBACKs ``held`` go back to the sender;
        a batch the airing log refused stays pending; any other error is a bug (the same batch
        would fail for ever): the batch is dropped, and said so."""
        try:
            return step()
        except BaseException as exc:
            if self.pubacks is not None and held:
                self.pubacks.give_back(held)
            if isinstance(exc, StorageError):
                self.pending.failed(now)
            elif isinstance(exc, Exception):
                self.pending.done(batch)
                n = len(batch.messages)
                log.error(ngettext(
                    "%d answer not recorded because of the error below: please report it",
                    "%d answers not recorded because of the error below: please report it",
                    n), n)  # fmt: skip
            raise

    def _done(self, batch: Batch, work: _Sorted, stored: _Stored) -> None:
        """``batch`` is stored: forget it, then log, count and tell the weekly minimum."""
        self.pending.done(batch)
        now = batch.at
        for message, ward, receiver, reason in work.quarantine:
            self.metrics.answers_quarantined(1)
            self.warnings.warning(now, _("%s from %s/%s quarantined: %s"),
                                  message.topic.rsplit("/")[-1], ward, receiver,
                                  shown(reason, 200))  # fmt: skip
        if work.statuses:
            self._statuses_recorded(work.statuses, stored.statuses)
        if work.acks:
            self._acks_recorded(work.acks, stored.acks, now)
        if work.unknown:
            self.unknown += work.unknown
            self.metrics.answers_unknown(work.unknown)

    def _sort(self, plan: Plan, batch: Batch) -> _Sorted:
        """Read and check ``batch``, storing nothing (see :class:`_Sorted`); the PUBACKs the
        sender holds of the commands acked are taken from it."""
        prefix = plan.prefix
        now = batch.at
        work = _Sorted()
        for message in batch.messages:
            ref = self._sender(prefix, message)
            if ref is None:
                work.unknown += 1  # not a receiver of ours: counted, no row, no log line
                continue
            if message.cut:  # too large to be an answer: only its start was kept
                work.quarantine.append((message, ref.ward, ref.receiver, _too_large(message)))
                continue
            trust = plan.trust(ref.ward, ref.receiver, now)
            if ref.kind is TopicKind.ACK:
                work.acks.append(_ack(ref.ward, ref.receiver, message, trust))
            elif ref.kind is TopicKind.STATUS:
                status = self._status(work, ref.ward, ref.receiver, message, trust)
                work.statuses += [status] if status is not None else []
        ids = [ack.ack.id for ack in work.acks if ack.ack is not None]
        work.held = self.pubacks.held(ids) if self.pubacks is not None and ids else []
        return work

    def _store(self, work: _Sorted, now: datetime) -> _Stored:
        """Write ``work`` to the airing log. On the answers' thread with ``aside``: nothing here
        touches the service's own state."""
        for message, ward, receiver, reason in work.quarantine:
            self.log.quarantine(message.topic, ward, receiver, message.payload, reason, now=now,
                                size=message.size, sha256=message.sha256)  # fmt: skip
        statuses = self.log.record_statuses(work.statuses, now=now) if work.statuses else []
        acks = self.log.record_acks(work.acks, now=now, pubacks=work.held) if work.acks else []
        return _Stored(statuses, acks)

    def _take(self, limit: int) -> list[IncomingMessage]:
        """From the intake: what comes from receivers of the configuration (only these wait
        for the database, in memory or in the spill file); the rest is counted."""
        messages = self.outbox.take_incoming(limit)
        kept = [m for m in messages if self._sender(self._prefix, m) is not None]
        if len(kept) < len(messages):
            self.unknown += len(messages) - len(kept)
            self.metrics.answers_unknown(len(messages) - len(kept))
        return kept

    def _sender(self, prefix: str, message: IncomingMessage) -> protocol.TopicRef | None:
        """Who sent ``message``, if it is a receiver of the configuration in force."""
        try:
            ref = protocol.parse_topic(prefix, message.topic)
        except ProtocolError:
            return None
        if self.known is not None and (ref.ward, ref.receiver) not in self.known:
            return None
        return ref

    def _acks_recorded(
        self, acks: Sequence[IncomingAck], outcomes: Sequence[AckOutcome], now: datetime
    ) -> None:
        for ack, outcome in zip(acks, outcomes, strict=True):
            who = f"{outcome.ward}/{outcome.receiver}"
            if outcome.quarantined or ack.ack is None:
                self.metrics.answers_quarantined(1)
                reason = shown(outcome.quarantined or "?", 200)
                self.warnings.warning(now, _("ack from %s quarantined: %s"), who, reason)
                continue
            self.metrics.ack(outcome.ward, str(ack.ack.status))
            if outcome.changed and outcome.state is not None:
                _log_answer(who, outcome.command_id, outcome.state, ack.ack.detail)
                if outcome.state.final:
                    self.touch(outcome.ward)

    def _status(
        self, work: _Sorted, ward: str, receiver: str, message: IncomingMessage, trust: Trust
    ) -> IncomingStatus | None:
        raw = message.payload
        try:
            if not trust.known and not trust.keys:
                raise ProtocolError(
                    f"status for {ward}/{receiver}, not a receiver of the configuration"
                )  # i18n: stored (the quarantine's reason)
            status, verified = protocol.read_status(raw, ward, receiver, trust)
        except ProtocolError as exc:
            work.quarantine.append((message, ward, receiver, str(exc)))
            return None
        return IncomingStatus(
            ward, receiver, status.online, status.at, status.fw, raw, message.retain, verified
        )

    def _statuses_recorded(self, statuses: Sequence[IncomingStatus], changed: list[bool]) -> None:
        for status, change in zip(statuses, changed, strict=True):
            self._online[status.ward][status.receiver] = status.online
            if change:
                if status.online:
                    log.info(_("%s/%s is online"), status.ward, status.receiver)
                else:
                    log.info(_("%s/%s is offline"), status.ward, status.receiver)
                if status.online:
                    self.touch(status.ward)
        for ward in {s.ward for s in statuses}:
            self.metrics.receivers_online(ward, sum(self._online[ward].values()))


def _ack(ward: str, receiver: str, message: IncomingMessage, trust: Trust) -> IncomingAck:
    raw = message.payload
    try:
        ack, verified = protocol.read_ack(raw, ward, receiver, trust)
    except ProtocolError as exc:
        return IncomingAck(ward, receiver, message.topic, raw, error=str(exc))
    return IncomingAck(ward, receiver, message.topic, raw, ack=ack, verified=verified)


def _too_large(message: IncomingMessage) -> str:
    return (
        f"{message.received_bytes} bytes: more than the {protocol.MAX_PAYLOAD_BYTES} "
        "an answer may have"
    )


def _log_answer(who: str, command: str | None, state: CommandState, detail: str | None) -> None:
    """One line per answer that matters: a refusal or failure is a warning, a completed airing
    is news, a receiver's progress (received, playing) is detail."""
    if state in (CommandState.FAILED, CommandState.REJECTED):
        if detail:  # the receiver's own words, as it sent them
            log.warning(_("%s: command %s %s (%s)"), who, command, _(STATE_WORDS[state]), detail)
        else:
            log.warning(_("%s: command %s %s"), who, command, _(STATE_WORDS[state]))
    elif state.final:
        log.info(_("%s: command %s %s"), who, command, _(STATE_WORDS[state]))
    else:  # a receiver's progress, for every command of a slot: nothing translated for it
        log.debug("%s: command %s %s", who, command, state.value)
