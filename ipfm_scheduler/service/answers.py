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
from ipfm_scheduler.errors import ProtocolError
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
    ) -> None:
        self.log = airing_log
        self.outbox = outbox
        self.metrics = metrics
        self.touch = touch
        self._online: dict[str, dict[str, bool]] = defaultdict(dict)  # ward -> receiver -> online

    def receive(self, plan: Plan, now: datetime, limit: int = 20000) -> int:
        """Record what receivers sent (acks and statuses); returns how many messages. Each is
        checked against its receiver's keys in ``plan`` (docs/protocol.md "Version 2")."""
        prefix = plan.prefix
        messages = self.outbox.take_incoming(limit)
        acks: list[IncomingAck] = []
        statuses: list[IncomingStatus] = []
        for message in messages:
            try:
                ref = protocol.parse_topic(prefix, message.topic)
            except ProtocolError as exc:
                self.log.quarantine(message.topic, "", "", message.payload, str(exc), now=now)
                log.warning("quarantined a message on %s: %s", message.topic, exc)
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
        return len(messages)

    def _record_acks(self, acks: Sequence[IncomingAck], now: datetime) -> None:
        for ack, outcome in zip(acks, self.log.record_acks(acks, now=now), strict=True):
            who = f"{outcome.ward}/{outcome.receiver}"
            if outcome.quarantined or ack.ack is None:
                log.warning("ack from %s quarantined: %s", who, outcome.quarantined)
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
                )
            status, verified = protocol.read_status(raw, ward, receiver, trust)
        except ProtocolError as exc:
            self.log.quarantine(message.topic, ward, receiver, raw, str(exc), now=now)
            log.warning("status from %s/%s quarantined: %s", ward, receiver, exc)
            return None
        return IncomingStatus(
            ward, receiver, status.online, status.at, status.fw, raw, message.retain, verified
        )

    def _record_statuses(self, statuses: Sequence[IncomingStatus], now: datetime) -> None:
        changed = self.log.record_statuses(statuses, now=now)
        for status, change in zip(statuses, changed, strict=True):
            self._online[status.ward][status.receiver] = status.online
            if change:
                state = "online" if status.online else "offline"
                log.info("%s/%s is %s", status.ward, status.receiver, state)
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


def _log_answer(who: str, command: str | None, state: CommandState, detail: str | None) -> None:
    """One line per answer that matters: a refusal or failure is a warning, a completed airing
    is news, a receiver's progress (received, playing) is detail."""
    why = f" ({detail})" if detail else ""
    if state in (CommandState.FAILED, CommandState.REJECTED):
        log.warning("%s: command %s %s%s", who, command, state.value, why)
    elif state.final:
        log.info("%s: command %s %s", who, command, state.value)
    else:
        log.debug("%s: command %s %s", who, command, state.value)
