"""The service's decisions, one step per method, each taking ``now``.

No APScheduler, paho or SQLAlchemy here: the airing log, the outbox and the wire format come in
through the interfaces in ``ports`` and ``wire``. The timer calls the steps; tests call them
directly with a controlled clock.

* :meth:`Dispatcher.dispatch_due`: planned airings whose dispatch time (start - lead) has come are
  stored with one command per enabled receiver, before anything is published; an airing whose
  window closed while nothing was sent (the service was down) is recorded as missed.
* :meth:`Dispatcher.send`: stored commands go out (see ``sender``).
* :meth:`Dispatcher.receive`: acks and statuses from receivers are recorded (never dropped).
* :meth:`Dispatcher.expire`, :meth:`Dispatcher.take_requests`, and the weekly minimum
  (``weekly.Weekly``: make-ups and week closing).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from ipfm_scheduler.core.commands import CommandState
from ipfm_scheduler.core.compliance import EXPIRE_GRACE
from ipfm_scheduler.core.expand import PlannedAiring
from ipfm_scheduler.core.model import Programme
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.errors import ProtocolError
from ipfm_scheduler.service import requests
from ipfm_scheduler.service.desk import RequestDesk
from ipfm_scheduler.service.orders import NotAirable, missed, order
from ipfm_scheduler.service.plan import Agenda, Plan
from ipfm_scheduler.service.ports import (
    AiringLog,
    AiringToStore,
    IncomingAck,
    IncomingMessage,
    IncomingStatus,
    MetricsSink,
    NoMetrics,
    Outbox,
    OutgoingCommand,
    StoredAiring,
)
from ipfm_scheduler.service.sender import Sender
from ipfm_scheduler.service.weekly import Weekly
from ipfm_scheduler.service.wire import Wire

log = logging.getLogger(__name__)

HORIZON = timedelta(hours=36)  # how far ahead the agenda (and the timer's date jobs) reach
STORE_BATCH = 1000  # commands (about) per database transaction while dispatching


class Dispatcher:
    def __init__(
        self,
        airing_log: AiringLog,
        outbox: Outbox,
        wire: Wire,
        plan: Plan,
        *,
        now: datetime,
        horizon: timedelta = HORIZON,
        send_limit: int = 20000,
        metrics: MetricsSink | None = None,
    ) -> None:
        self.log = airing_log
        self.outbox = outbox
        self.wire = wire
        self.horizon = horizon
        self.metrics = metrics or NoMetrics()
        self.sender = Sender(airing_log, outbox, limit=send_limit, metrics=self.metrics)
        self.plan = plan
        self.agenda = self._new_agenda(plan, now)
        self.weekly = Weekly(airing_log, wire, self.metrics)
        self._unairable: set[str] = set()
        self.desk = RequestDesk(airing_log)
        self._online: dict[str, dict[str, bool]] = defaultdict(dict)  # ward -> receiver -> online

    # ------------------------------------------------------------------ plan

    def _new_agenda(self, plan: Plan, now: datetime) -> Agenda:
        week_start = plan.week(now).start(plan.tz)
        return Agenda(plan, week_start, now + plan.lead + self.horizon)

    def replan(self, plan: Plan, now: datetime) -> None:
        """Swap in a new configuration (reload): rebuild the agenda, re-check every ward.

        Unlike at start-up, airings of the new plan whose window already closed are dropped, not
        recorded as missed: the service was running (see ``Agenda.drop_closed``)."""
        self.plan = plan
        self.agenda = self._new_agenda(plan, now)
        self.agenda.drop_closed(now)
        self.weekly.touch_all()
        self._unairable.clear()

    def refresh(self, now: datetime) -> None:
        """Extend the agenda to ``now + lead + horizon`` (hourly)."""
        self.agenda.extend(self.plan, now + self.plan.lead + self.horizon)

    def dispatch_times(self, now: datetime) -> list[datetime]:
        return self.agenda.dispatch_times(now, now + self.horizon)

    # ------------------------------------------------------------------ dispatch

    def dispatch_due(self, now: datetime) -> int:
        """Store the airings whose dispatch time has come; returns how many were new.

        In batches of about ``STORE_BATCH`` commands: each batch is stored (one transaction),
        then handed to the broker as far as the in-flight window allows without waiting, so that
        the next batch is built and stored while the broker works through the previous one.
        """
        due = self.agenda.pop_due(now)
        created = done = 0
        try:
            while done < len(due):
                batch = self._next_batch(due, done)
                created += self._store_due(batch, now)
                done += len(batch)
                self.sender.send_ready(now)
        except Exception:
            self.agenda.put_back(due[done:])  # tried again next tick
            raise
        return created

    def _next_batch(self, due: Sequence[PlannedAiring], first: int) -> Sequence[PlannedAiring]:
        wards = self.plan.schedule.wards
        commands = 0
        for end in range(first, len(due)):
            commands += max(1, len(wards[due[end].ward].enabled_receivers))
            if commands >= STORE_BATCH:
                return due[first : end + 1]
        return due[first:]

    def _store_due(self, batch: Sequence[PlannedAiring], now: datetime) -> int:
        items: list[AiringToStore] = []
        for planned in batch:
            if planned.expires <= now:
                items.append(missed(self.plan, planned))
                continue
            item = self._order(planned, now)
            if item is not None:
                items.append(item)
        stored = self.store(items, now)
        self.sender.offer(
            [
                OutgoingCommand(
                    c.id, i.planned.ward, c.receiver, c.topic, c.payload, i.planned.expires
                )
                for i, s in zip(items, stored, strict=True)
                if s.created and not i.missed
                for c in i.commands
            ]
        )
        return sum(1 for s in stored if s.created)

    def _order(self, planned: PlannedAiring, now: datetime) -> AiringToStore | None:
        ward = self.plan.schedule.wards[planned.ward]
        receivers = [r.id for r in ward.enabled_receivers]
        if not receivers:
            return None
        try:
            return order(self.plan, self.wire, planned, receivers=receivers, now=now)
        except NotAirable as exc:
            if planned.programme not in self._unairable:
                log.error("%s", exc)
                self._unairable.add(planned.programme)
            return None

    def store(self, items: Sequence[AiringToStore], now: datetime) -> list[StoredAiring]:
        """Store airings and their commands, and log one line per airing that is new."""
        if not items:
            return []
        stored = self.log.store_airings(items, snapshot_id=self.plan.snapshot_id, now=now)
        for item, result in zip(items, stored, strict=True):
            self._report(item, result)
        return stored

    @staticmethod
    def _report(item: AiringToStore, result: StoredAiring) -> None:
        planned = item.planned
        when = f"{planned.local_start:%Y-%m-%d %H:%M{':%S' if planned.start.second else ''}}"
        if item.missed:
            if result.created:
                log.warning(
                    "ward %s: %s at %s missed: its window closed while the service was not "
                    "running (airing #%d)",
                    planned.ward,
                    planned.programme,
                    when,
                    result.airing_id,
                )
        elif result.commands_added:
            log.info(
                "ward %s: %s %s at %s: %d command(s) stored (airing #%d)",
                planned.ward,
                planned.origin.value,
                planned.programme,
                when,
                result.commands_added,
                result.airing_id,
            )

    # ------------------------------------------------------------------ send / receive

    def send(self, now: datetime) -> int:
        plan = self.plan
        return self.sender.send(now, resend_after=plan.resend_after, due_by=now + plan.lead)

    def receive(self, now: datetime, limit: int = 20000) -> int:
        """Record what receivers sent (acks and statuses); returns how many messages."""
        messages = self.outbox.take_incoming(limit)
        acks: list[IncomingAck] = []
        statuses: list[IncomingStatus] = []
        for message in messages:
            try:
                ref = self.wire.parse_topic(self.plan.prefix, message.topic)
            except ProtocolError as exc:
                self.log.quarantine(message.topic, "", "", message.payload, str(exc), now=now)
                log.warning("quarantined a message on %s: %s", message.topic, exc)
                continue
            if ref.kind == "ack":
                acks.append(self._ack(ref.ward, ref.receiver, message.topic, message.payload))
            elif ref.kind == "status":
                status = self._status(ref.ward, ref.receiver, message, now)
                statuses += [status] if status is not None else []
        if statuses:
            self._record_statuses(statuses, now)
        if acks:
            self._record_acks(acks, now)
        return len(messages)

    def _ack(self, ward: str, receiver: str, topic: str, raw: bytes) -> IncomingAck:
        try:
            return IncomingAck(ward, receiver, topic, raw, ack=self.wire.parse_ack(raw))
        except ProtocolError as exc:
            return IncomingAck(ward, receiver, topic, raw, error=str(exc))

    def _record_acks(self, acks: Sequence[IncomingAck], now: datetime) -> None:
        for ack, outcome in zip(acks, self.log.record_acks(acks, now=now), strict=True):
            who = f"{outcome.ward}/{outcome.receiver}"
            if outcome.quarantined or ack.ack is None:
                log.warning("ack from %s quarantined: %s", who, outcome.quarantined)
                continue
            self.metrics.ack(outcome.ward, str(ack.ack.status))
            if outcome.changed and outcome.state is not None:
                self._log_answer(who, outcome.command_id, outcome.state, ack.ack.detail)
                if outcome.state.final:
                    self.weekly.touch(outcome.ward)

    @staticmethod
    def _log_answer(who: str, command: str | None, state: CommandState, detail: str | None) -> None:
        """One line per answer that matters: a refusal or failure is a warning, a completed
        airing is news, a receiver's progress (received, playing) is detail."""
        why = f" ({detail})" if detail else ""
        if state in (CommandState.FAILED, CommandState.REJECTED):
            log.warning("%s: command %s %s%s", who, command, state.value, why)
        elif state.final:
            log.info("%s: command %s %s", who, command, state.value)
        else:
            log.debug("%s: command %s %s", who, command, state.value)

    def _status(
        self, ward: str, receiver: str, message: IncomingMessage, now: datetime
    ) -> IncomingStatus | None:
        raw = message.payload
        try:
            status = self.wire.parse_status(raw)
        except ProtocolError as exc:
            self.log.quarantine(message.topic, ward, receiver, raw, str(exc), now=now)
            log.warning("status from %s/%s quarantined: %s", ward, receiver, exc)
            return None
        return IncomingStatus(
            ward, receiver, status.online, status.at, status.fw, raw, retained=message.retain
        )

    def _record_statuses(self, statuses: Sequence[IncomingStatus], now: datetime) -> None:
        changed = self.log.record_statuses(statuses, now=now)
        for status, change in zip(statuses, changed, strict=True):
            self._online[status.ward][status.receiver] = status.online
            if change:
                state = "online" if status.online else "offline"
                log.info("%s/%s is %s", status.ward, status.receiver, state)
                if status.online:
                    self.weekly.touch(status.ward)
        for ward in {s.ward for s in statuses}:
            self.metrics.receivers_online(ward, sum(self._online[ward].values()))

    # ------------------------------------------------------------------ expiry, requests

    def expire(self, now: datetime) -> int:
        expired = self.log.expire_overdue(now, grace=EXPIRE_GRACE)
        for ref in expired:
            log.info(
                "%s/%s: command %s %s without a final answer",
                ref.ward,
                ref.receiver,
                ref.id,
                CommandState.EXPIRED.value,
            )
            self.weekly.touch(ref.ward)
        return len(expired)

    def take_requests(self, now: datetime) -> int:
        """Handle airings queued by ``ipfm-scheduler air``; returns how many were taken (see
        ``desk.RequestDesk``)."""
        return self.desk.take(self.plan, self.wire, self.store, now)

    def demo(self, now: datetime, delay: timedelta) -> int:
        """``run --demo``: one airing per ward ``delay`` from now, windows ignored."""
        items = []
        for ward in self.plan.schedule.wards.values():
            targets = [r.id for r in ward.enabled_receivers]
            programme = next(iter(_programmes_of(self.plan, ward.id)), None)
            if not targets or programme is None:
                continue
            planned = requests.demo(self.plan, ward, programme, now + delay)
            items.append(
                order(
                    self.plan,
                    self.wire,
                    planned,
                    receivers=targets,
                    now=now,
                    note=requests.DEMO_NOTE,
                )
            )
        return len(self.store(items, now))

    # ------------------------------------------------------------------ weekly minimum

    def make_up(self, now: datetime) -> int:
        items = self.weekly.makeups(self.plan, now)
        return sum(1 for s in self.store(items, now) if s.created)

    def close_weeks(self, now: datetime) -> list[IsoWeek]:
        return self.weekly.close_weeks(self.plan, now, expire_grace=EXPIRE_GRACE)


def _programmes_of(plan: Plan, ward_id: str) -> list[Programme]:
    ward = plan.schedule.wards[ward_id]
    wanted = [r.programme for r in ward.airings] + sorted(plan.schedule.programmes)
    found = [plan.programme(p) for p in dict.fromkeys(wanted)]
    return [p for p in found if p is not None and plan.audio(p.id) is not None]
