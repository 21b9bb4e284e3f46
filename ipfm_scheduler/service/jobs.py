"""What the timer runs: the service's steps, each taking ``now``, and which step runs in which job.

No APScheduler, paho or SQLAlchemy here: the airing log and the outbox come in through the
interfaces in ``ports``; the wire format is the protocol package's. The timer calls the jobs;
tests call the :class:`Dispatcher`'s steps directly with a controlled clock.

* ``dispatch_due``: due airings -> stored commands (``dispatch``), handed to the ``sender``;
* ``send``: stored commands go out, and are sent again while unanswered (``sender``);
* ``receive``: acks and statuses from receivers are recorded (``answers``);
* ``expire``, ``take_requests`` (``manual``), and the weekly minimum (``weekly``: make-ups and
  closing each week).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from ipfm_scheduler.core import manual
from ipfm_scheduler.core.compliance import EXPIRE_GRACE
from ipfm_scheduler.core.model import Programme
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.errors import IpfmError
from ipfm_scheduler.i18n import N_
from ipfm_scheduler.service.agenda import Agenda, Plan
from ipfm_scheduler.service.answers import Answers
from ipfm_scheduler.service.dispatch import Dispatch, order
from ipfm_scheduler.service.manual import RequestDesk
from ipfm_scheduler.service.ports import (
    AiringLog,
    AiringToStore,
    MetricsSink,
    NoMetrics,
    Outbox,
    StoredAiring,
)
from ipfm_scheduler.service.sender import Sender
from ipfm_scheduler.service.timer import Step
from ipfm_scheduler.service.weekly import Weekly
from ipfm_scheduler.storage.spill import SpillFile

log = logging.getLogger(__name__)

HORIZON = timedelta(hours=36)  # how far ahead the agenda (and the timer's date jobs) reach
DB_STALE_S = 20.0  # no successful heartbeat for this long: the database is not answering
SLOT_BUSY = 500  # commands in flight or waiting to go: a big slot is going out
MAKEUP_PUT_OFF_S = 120.0  # a make-up sweep is put off during a big slot for at most this long
BEAT_EVERY_S = 5.0  # the heartbeat's interval (the timer's job), also during a long send


class Dispatcher:
    """The service's steps over one plan, its agenda, and the adapters."""

    def __init__(
        self,
        airing_log: AiringLog,
        outbox: Outbox,
        plan: Plan,
        *,
        now: datetime,
        horizon: timedelta = HORIZON,
        send_limit: int = 20000,
        metrics: MetricsSink | None = None,
        spill: Path | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.log = airing_log
        self.outbox = outbox
        self.horizon = horizon
        self.metrics = metrics or NoMetrics()
        self.sender = Sender(airing_log, outbox, limit=send_limit, metrics=self.metrics)
        self.dispatch = Dispatch(airing_log, self.sender)
        self.plan = plan
        self.agenda = self._new_agenda(plan, now)
        self.weekly = Weekly(airing_log, self.metrics)
        spill_file = None if spill is None else SpillFile(spill)
        self.answers = Answers(airing_log, outbox, self.metrics, self.weekly.touch, spill_file)
        self.desk = RequestDesk(airing_log)
        self._clock = clock
        self.sender.meanwhile = self._meanwhile
        self.answers.pubacks = self.sender  # a PUBACK held is recorded with its command's ack
        #: the heartbeat (``Jobs`` sets it): written during a long send too, so that a slot to
        #: 100,000 receivers never looks like a database that stopped answering (the watchdog)
        self.beat: Callable[[datetime], None] | None = None
        self._beat_at = time.monotonic()
        self._swept_at = time.monotonic()  # the last make-up sweep (or the start)

    def _meanwhile(self, now: datetime) -> int:
        """While a big send waits on the broker: take in the receivers' answers (at the
        clock's time, when there is one: the step may have begun a while ago). A failure
        never stops the send: what was not stored stays pending (``answers``), and the next
        tick's "receiving acks" step tries again and says why."""
        at = self._clock() if self._clock is not None else now
        try:
            if self.beat is not None and time.monotonic() - self._beat_at >= BEAT_EVERY_S:
                self._beat_at = time.monotonic()
                self.beat(at)
            return self.receive(at)
        except IpfmError:
            return 0
        except Exception:  # a bug: the next tick's step logs it with its trace
            log.debug("taking in answers during a send failed", exc_info=True)
            return 0

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
        self.dispatch.forget_unairable()

    def refresh(self, now: datetime) -> None:
        """Extend the agenda to ``now + lead + horizon`` (hourly)."""
        self.agenda.extend(self.plan, now + self.plan.lead + self.horizon)

    def dispatch_times(self, now: datetime) -> list[datetime]:
        return self.agenda.dispatch_times(now, now + self.horizon)

    # ------------------------------------------------------------------ the steps

    def dispatch_due(self, now: datetime) -> int:
        """Store (then hand to the sender) the airings whose dispatch time has come; returns
        how many were new."""
        return self.dispatch.due(self.plan, self.agenda, now)

    def send(self, now: datetime) -> int:
        plan = self.plan
        return self.sender.send(now, resend_after=plan.resend_after, due_by=now + plan.lead)

    def receive(self, now: datetime, limit: int = 20000) -> int:
        """Record what receivers sent (acks and statuses); returns how many messages."""
        return self.answers.receive(self.plan, now, limit)

    def expire(self, now: datetime) -> int:
        expired = self.dispatch.expire(now)
        for ref in expired:
            self.weekly.touch(ref.ward)
        return len(expired)

    def take_requests(self, now: datetime) -> int:
        """Handle airings queued by ``ipfm-scheduler air``; returns how many were taken (see
        ``manual.RequestDesk``)."""
        return self.desk.take(self.plan, self._store, now)

    def make_up(self, now: datetime) -> int:
        """The make-up sweep (``Weekly.makeups``). Put off while a big slot goes out (at
        least ``SLOT_BUSY`` commands in flight or waiting to be offered), for at most
        ``MAKEUP_PUT_OFF_S`` since the last sweep: mid-slot the slot's commands are all still
        open, so the sweep (the week read again for every ward marked) finds nothing new to make
        up and slows the slot. The wards to check stay marked for the next sweep."""
        moment = time.monotonic()
        if self.sender.busy >= SLOT_BUSY and moment - self._swept_at < MAKEUP_PUT_OFF_S:
            return 0
        self._swept_at = moment
        items = self.weekly.makeups(self.plan, now)
        return sum(1 for s in self._store(items, now) if s.created)

    def close_weeks(self, now: datetime) -> list[IsoWeek]:
        return self.weekly.close_weeks(self.plan, now, expire_grace=EXPIRE_GRACE)

    def close_step(self, now: datetime) -> list[IsoWeek]:
        """The sweep's step: the next wards of the week being closed (``Weekly.close_step``),
        a few each sweep, so that a due dispatch never waits for a whole week's close."""
        return self.weekly.close_step(self.plan, now, expire_grace=EXPIRE_GRACE)

    def demo(self, now: datetime, delay: timedelta) -> int:
        """``run --demo``: one airing per ward ``delay`` from now, windows ignored."""
        items = []
        for ward in self.plan.schedule.wards.values():
            targets = [r.id for r in ward.enabled_receivers]
            programme = next(iter(_programmes_of(self.plan, ward.id)), None)
            if not targets or programme is None:
                continue
            planned = manual.demo(self.plan.schedule, ward, programme, now + delay)
            items.append(
                order(self.plan, planned, receivers=targets, now=now, note=manual.DEMO_NOTE)
            )
        return len(self._store(items, now))

    def _store(self, items: Sequence[AiringToStore], now: datetime) -> list[StoredAiring]:
        return self.dispatch.store(self.plan, items, now)


class Jobs:
    """The timer's jobs, each a list of named steps (the timer guards each step on its own, so
    one failing step never keeps the next from running), and the heartbeat."""

    def __init__(self, dispatcher: Dispatcher, airing_log: AiringLog, instance: int) -> None:
        self.dispatcher = dispatcher
        self.log = airing_log
        self.instance = instance
        self.db_ok_at = time.monotonic()
        #: with services on standby: True while this one leads; else only the heartbeat runs
        self.gate: Callable[[], bool] | None = None
        #: the timer's :meth:`~Timer.mark`: a heartbeat written during a long send is progress
        self.progress: Callable[[], None] | None = None
        dispatcher.beat = self.heartbeat

    def steps(self, job: str) -> list[Step]:
        d = self.dispatcher
        if self.gate is not None and job != "heartbeat" and not self.gate():
            return []
        dispatch: list[Step] = [
            (N_("dispatching airings"), d.dispatch_due),
            (N_("sending commands"), d.send),
        ]
        jobs: dict[str, list[Step]] = {
            "tick": [
                (N_("receiving acks"), d.receive),
                (N_("manual requests"), d.take_requests),
                *dispatch,
                (N_("expiring commands"), d.expire),
            ],
            "dispatch": dispatch,
            "sweep": [(N_("make-up airings"), d.make_up), (N_("closing weeks"), d.close_step)],
            "heartbeat": [(N_("heartbeat"), self.heartbeat)],
            "refresh": [(N_("refresh"), d.refresh)],
        }
        return jobs[job]

    def heartbeat(self, now: datetime) -> None:
        self.log.heartbeat(self.instance, now)
        self.db_ok_at = time.monotonic()
        if self.progress is not None:
            self.progress()

    def dispatch_times(self, now: datetime) -> list[datetime]:
        return self.dispatcher.dispatch_times(now)

    def database_ok(self) -> bool:
        return time.monotonic() - self.db_ok_at < DB_STALE_S


def _programmes_of(plan: Plan, ward_id: str) -> list[Programme]:
    ward = plan.schedule.wards[ward_id]
    wanted = [r.programme for r in ward.airings] + sorted(plan.schedule.programmes)
    found = [plan.programme(p) for p in dict.fromkeys(wanted)]
    return [p for p in found if p is not None and plan.audio(p.id) is not None]
