"""Recording an ack: what receivers send (acks and statuses) is read by the protocol package and
recorded in the airing log, never dropped (a message that can't be read is quarantined, with the
reason). One line per answer that matters goes to the log."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime

from ipfm_scheduler import protocol
from ipfm_scheduler.core.commands import CommandState
from ipfm_scheduler.core.verdicts import STATE_WORDS
from ipfm_scheduler.errors import ProtocolError, StorageError
from ipfm_scheduler.i18n import N_, _, ngettext
from ipfm_scheduler.lograte import RateLimited, shown
from ipfm_scheduler.protocol import TopicKind, Trust
from ipfm_scheduler.service.agenda import Plan
from ipfm_scheduler.service.ports import (
    AiringLog,
    IncomingAck,
    IncomingMessage,
    IncomingStatus,
    MetricsSink,
    Outbox,
)
from ipfm_scheduler.service.sender import Sender
from ipfm_scheduler.storage.pending import PendingAnswers
from ipfm_scheduler.storage.spill import SpillFile

log = logging.getLogger(__name__)


class Answers:
    """Takes in what receivers sent; ``touch(ward)`` is told of each change the weekly minimum
    must look at again (a command reached its final state, a receiver came back online)."""

    def __init__(
        self,
        airing_log: AiringLog,
        outbox: Outbox,
        metrics: MetricsSink,
        touch: Callable[[str], None],
        spill: SpillFile | None = None,
    ) -> None:
        self.log = airing_log
        self.outbox = outbox
        self.metrics = metrics
        self.touch = touch
        self.pending = PendingAnswers(self._take, spill)
        #: the configuration of the last :meth:`receive`: answers from receivers not in it are
        #: only counted
        self._plan: Plan | None = None
        self.unknown = 0  # answers from receivers not in the configuration, counted
        self.warnings = RateLimited(log, N_("quarantined"))
        self._online: dict[str, dict[str, bool]] = defaultdict(dict)  # ward -> receiver -> online
        #: the sender: the PUBACKs it holds of the commands acked are recorded with the acks
        self.pubacks: Sender | None = None

    def receive(self, plan: Plan, now: datetime, limit: int = 20000) -> int:
        """Record what receivers sent (acks and statuses), in order, each batch as of when it
        was received; returns how many messages. A batch the airing log refuses stays pending
        (``storage/pending.py``): tried again later, set aside in the spill file meanwhile. Each
        answer is checked against its receiver's keys in ``plan`` (docs/protocol.md "Version 2")."""
        self.warnings.flush(now)
        self._plan = plan
        count = 0
        try:
            while count < limit:
                batch = self.pending.take(limit - count, now)
                if not batch.messages:
                    break
                try:
                    self._file(plan, batch.messages, batch.at)
                except StorageError:
                    self.pending.failed(now)
                    raise
                except Exception:  # a bug: retrying the same batch would fail for ever
                    self.pending.done(batch)
                    n = len(batch.messages)
                    log.error(ngettext(
                        "%d answer not recorded because of the error below: please report it",
                        "%d answers not recorded because of the error below: please report it",
                        n), n)  # fmt: skip
                    raise
                self.pending.done(batch)
                count += len(batch.messages)
        finally:
            self.metrics.answers_waiting(self.pending.waiting, self.pending.spilled_bytes)
        return count

    def stop(self, now: datetime) -> None:
        """The service stops: answers not stored yet go to the spill file (replayed at start)."""
        count = self.pending.stop(now)
        if count:
            log.warning(ngettext(
                "%d answer not stored yet set aside in %s: stored at the next start",
                "%d answers not stored yet set aside in %s: stored at the next start",
                count), count, self.pending.spill.path if self.pending.spill else "?")  # fmt: skip

    def _file(self, plan: Plan, messages: Sequence[IncomingMessage], now: datetime) -> None:
        acks: list[IncomingAck] = []
        statuses: list[IncomingStatus] = []
        unknown = 0
        for message in messages:
            ref = self._sender(plan, message)
            if ref is None:
                unknown += 1  # not a receiver of ours: counted, no row, no log line
                continue
            if message.cut:  # too large to be an answer: only its start was kept
                self._quarantine(message, ref.ward, ref.receiver, _too_large(message), now)
                continue
            trust = plan.trust(ref.ward, ref.receiver, now)
            if ref.kind is TopicKind.ACK:
                acks.append(_ack(ref.ward, ref.receiver, message, trust))
            elif ref.kind is TopicKind.STATUS:
                status = self._status(ref.ward, ref.receiver, message, trust, now)
                statuses += [status] if status is not None else []
        if statuses:
            self._record_statuses(statuses, now)
        if acks:
            self._record_acks(acks, now)
        if unknown:
            self.unknown += unknown
            self.metrics.answers_unknown(unknown)

    def _take(self, limit: int) -> list[IncomingMessage]:
        """From the intake: what comes from receivers of the configuration (only these wait
        for the database, in memory or in the spill file); the rest is counted."""
        messages = self.outbox.take_incoming(limit)
        kept = [m for m in messages if self._sender(self._plan, m) is not None]
        if len(kept) < len(messages):
            self.unknown += len(messages) - len(kept)
            self.metrics.answers_unknown(len(messages) - len(kept))
        return kept

    def _sender(self, plan: Plan | None, message: IncomingMessage) -> protocol.TopicRef | None:
        """Who sent ``message``, if it is a receiver of ``plan`` (the configuration in force)."""
        if plan is None:
            return None
        try:
            ref = protocol.parse_topic(plan.prefix, message.topic)
        except ProtocolError:
            return None
        return ref if plan.knows(ref.ward, ref.receiver) else None

    def _quarantine(
        self, message: IncomingMessage, ward: str, receiver: str, reason: str, now: datetime
    ) -> None:
        self.log.quarantine(message.topic, ward, receiver, message.payload, reason, now=now,
                            size=message.size, sha256=message.sha256)  # fmt: skip
        self.metrics.answers_quarantined(1)
        self.warnings.warning(now, _("%s from %s/%s quarantined: %s"),
                              message.topic.rsplit("/")[-1], ward, receiver,
                              shown(reason, 200))  # fmt: skip

    def _record_acks(self, acks: Sequence[IncomingAck], now: datetime) -> None:
        ids = [ack.ack.id for ack in acks if ack.ack is not None]
        held = self.pubacks.held(ids) if self.pubacks is not None else []
        try:
            outcomes = self.log.record_acks(acks, now=now, pubacks=held)
        except BaseException:
            if self.pubacks is not None and held:
                self.pubacks.give_back(held)
            raise
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
        self, ward: str, receiver: str, message: IncomingMessage, trust: Trust, now: datetime
    ) -> IncomingStatus | None:
        raw = message.payload
        try:
            if not trust.known and not trust.keys:
                raise ProtocolError(
                    f"status for {ward}/{receiver}, not a receiver of the configuration"
                )  # i18n: stored (the quarantine's reason)
            status, verified = protocol.read_status(raw, ward, receiver, trust)
        except ProtocolError as exc:
            self._quarantine(message, ward, receiver, str(exc), now)
            return None
        return IncomingStatus(
            ward, receiver, status.online, status.at, status.fw, raw, message.retain, verified
        )

    def _record_statuses(self, statuses: Sequence[IncomingStatus], now: datetime) -> None:
        changed = self.log.record_statuses(statuses, now=now)
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
