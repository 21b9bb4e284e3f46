"""The weekly minimum, live: make-up airings during the week, and closing each week.

Only wards where something changed (a command reached its final state or expired, a receiver
came back online, the configuration was reloaded) are re-checked each sweep, plus every ward once
every ``FULL_SWEEP`` as a safety net. The decisions themselves are in the core: make-ups in
``core/makeup.py``, each receiver's verdict in ``core/verdicts.py``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ipfm_scheduler.core.compliance import CLOSE_MARGIN, enforced
from ipfm_scheduler.core.makeup import plan_makeup
from ipfm_scheduler.core.model import Programme, Ward
from ipfm_scheduler.core.verdicts import MAX_MAKEUPS, receiver_verdicts
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.errors import NotAirable
from ipfm_scheduler.i18n import _
from ipfm_scheduler.logtime import message_time
from ipfm_scheduler.service.agenda import Plan
from ipfm_scheduler.service.dispatch import order
from ipfm_scheduler.service.ports import (
    AiringLog,
    AiringRecord,
    AiringToStore,
    MetricsSink,
    WeekCloseRow,
)

log = logging.getLogger(__name__)

FULL_SWEEP = timedelta(minutes=10)
MAX_WEEKS_BACK = 8  # after a long outage, close at most this many past weeks
CLOSE_STEP = 10_000  # receivers judged per sweep while a week is closed (close_step)


class Weekly:
    def __init__(self, airing_log: AiringLog, metrics: MetricsSink) -> None:
        self.log = airing_log
        self.metrics = metrics
        self._dirty: set[str] = set()
        self._all = True
        self._last_full: datetime | None = None
        self._closed_through: IsoWeek | None = None
        self._told_used_up: set[tuple[IsoWeek, str, str, str]] = set()
        self._closing: _Closing | None = None  # a week being closed, some wards a sweep

    def touch(self, ward: str) -> None:
        self._dirty.add(ward)

    def touch_all(self) -> None:
        self._all = True

    # ------------------------------------------------------------------ make-ups

    def makeups(self, plan: Plan, now: datetime) -> list[AiringToStore]:
        """One make-up airing per ward and programme that has short receivers, to be stored."""
        full = self._all or self._last_full is None or now - self._last_full >= FULL_SWEEP
        wards = set(plan.schedule.wards) if full else self._dirty & set(plan.schedule.wards)
        if not wards:
            return []
        week = plan.week(now)
        start, end = week.start(plan.tz), week.end(plan.tz)
        records = self.log.airings_between(start, end, None if full else wards)
        by_ward = _by_ward(records)
        offline = self._offline()
        items = []
        for ward_id in sorted(wards):
            items += self._ward_makeups(plan, ward_id, week, now, by_ward=by_ward, offline=offline)
            self._measure(plan, ward_id, week, now, by_ward.get(ward_id, []))
        self._dirty -= wards  # only once the check went through: a failure retries them
        if full:
            self._all, self._last_full = False, now
        return items

    def _ward_makeups(
        self,
        plan: Plan,
        ward_id: str,
        week: IsoWeek,
        now: datetime,
        *,
        by_ward: dict[str, list[AiringRecord]],
        offline: dict[str, dict[str, datetime]],
    ) -> list[AiringToStore]:
        ward = plan.schedule.wards[ward_id]
        items = []
        for programme in plan.schedule.programmes.values():
            if not enforced(ward, programme, week):
                continue
            check = plan_makeup(
                ward,
                programme,
                plan.schedule.programmes,
                plan.tz,
                now,
                lead=plan.lead,
                records=by_ward.get(ward_id, []),
                offline=offline.get(ward_id, {}),
            )
            self._tell_used_up(ward.id, programme.id, week, check.used_up)
            makeup = check.makeup
            if makeup is None:
                continue
            try:
                items.append(
                    order(
                        plan,
                        makeup.planned,
                        receivers=makeup.receivers,
                        now=now,
                        makeup_for=makeup.makeup_for,
                        note=makeup.note,
                    )
                )
            except NotAirable as exc:
                log.error("%s", exc.shown())
                continue
            log.info(
                _("ward %s: make-up of %s planned at %s for %s (%s)"),
                ward_id,
                programme.id,
                message_time(makeup.planned.local_start),
                ", ".join(makeup.receivers),
                makeup.note,
            )
        return items

    def _tell_used_up(
        self, ward: str, programme: str, week: IsoWeek, receivers: tuple[str, ...]
    ) -> None:
        """A WARNING, once a week per receiver, when its make-ups are used up while it is
        still short: the service stops re-trying it, so a technician must look at it."""
        for receiver in receivers:
            key = (week, ward, programme, receiver)
            if key in self._told_used_up:
                continue
            self._told_used_up.add(key)
            log.warning(
                _(
                    "ward %s receiver %s: %s still short in %s after %d make-ups: no more this "
                    "week; check the loudspeaker (status shows what became of each airing)"
                ),
                ward,
                receiver,
                programme,
                week,
                MAX_MAKEUPS,
            )

    def _measure(
        self, plan: Plan, ward_id: str, week: IsoWeek, now: datetime, records: list[AiringRecord]
    ) -> None:
        """The ward's gauges: commands waiting, receivers that met each minimum so far."""
        ward = plan.schedule.wards[ward_id]
        waiting = sum(1 for r in records for c in r.commands.values() if c.state.open)
        self.metrics.commands_waiting(ward_id, waiting)
        for programme in plan.schedule.programmes.values():
            if not enforced(ward, programme, week):
                continue
            weeks = receiver_verdicts(
                week,
                [r.id for r in ward.enabled_receivers],
                programme.id,
                programme.min_per_week,
                records,
                now=now,
                final_at=week.end(plan.tz),
                tz=plan.tz,
            )
            confirmed = sum(1 for w in weeks.values() if w.compliant)
            self.metrics.week(
                ward_id,
                programme.id,
                confirmed=confirmed,
                enabled=len(weeks),
                minimum=programme.min_per_week,
            )

    def _offline(
        self, until: datetime | None = None, wards: list[str] | None = None
    ) -> dict[str, dict[str, datetime]]:
        """Ward -> receiver -> since when, for the receivers (of ``wards``, or all) offline now
        (or at ``until``)."""
        offline: dict[str, dict[str, datetime]] = defaultdict(dict)
        for (ward, receiver), since in self.log.offline_receivers(until, wards).items():
            offline[ward][receiver] = since
        return offline

    # ------------------------------------------------------------------ closing weeks

    def close_weeks(self, plan: Plan, now: datetime, *, expire_grace: timedelta) -> list[IsoWeek]:
        """Close every ended week not closed yet, each at once; returns the weeks closed."""
        closed: list[IsoWeek] = []
        while self._closing is not None or self._due(plan, now, expire_grace) is not None:
            closed += self.close_step(plan, now, expire_grace=expire_grace, receivers=None)
        return closed

    def close_step(
        self,
        plan: Plan,
        now: datetime,
        *,
        expire_grace: timedelta,
        receivers: int | None = CLOSE_STEP,
    ) -> list[IsoWeek]:
        """The sweep's share of closing a week, one part at a time: the configuration the week
        is judged by, then the next wards (about ``receivers`` receivers each time), then the
        verdicts written (one transaction), which returns the week; ``receivers`` None: all
        at once. A week of 100,000 receivers is so closed over a dozen sweeps, the timer's
        one worker free in between for a dispatch due (the whole close ran on it before: 8
        to 20 s). What is judged is kept in memory until written: a service stopped meanwhile
        has written nothing, and judges the week again when it starts. A part that fails (the
        database away) is taken again at the next sweep."""
        whole = receivers is None
        closing = self._closing
        if closing is None:
            week = self._due(plan, now, expire_grace)
            if week is None:
                return []
            final_at = week.end(plan.tz) + self._delay(plan, expire_grace)
            closing = self._closing = self._begin(plan, week, now, final_at=final_at)
            if not whole:
                return []
        if closing.wards:
            self._judge(plan, closing, receivers)
            if not whole:
                return []
        rows, week = closing.rows, closing.week
        self.log.record_week_close(week, rows, now=closing.now, snapshot_id=closing.snapshot_id)
        self._closing = None
        self._closed_through = week
        self._report(plan, week, rows)
        return [week]

    def _due(self, plan: Plan, now: datetime, expire_grace: timedelta) -> IsoWeek | None:
        """The week after the last one closed, if it has ended and its delay has passed."""
        current = plan.week(now)
        if self._closed_through is None:
            self._closed_through = self._initial_closed(plan, current)
        week = self._closed_through.next()
        due = week < current and now >= week.end(plan.tz) + self._delay(plan, expire_grace)
        return week if due else None

    @staticmethod
    def _delay(plan: Plan, expire_grace: timedelta) -> timedelta:
        """How long after its end a week is closed: its last airings' commands are final."""
        return plan.longest_programme() + expire_grace + CLOSE_MARGIN

    def _initial_closed(self, plan: Plan, current: IsoWeek) -> IsoWeek:
        last = self.log.last_closed_week()
        if last is None:
            earliest = self.log.earliest_airing()
            last = (IsoWeek.containing(earliest, plan.tz) if earliest else current).previous()
        return max(last, current + -(MAX_WEEKS_BACK + 1))

    def _begin(self, plan: Plan, week: IsoWeek, now: datetime, *, final_at: datetime) -> _Closing:
        """A close of ``week``, judged by the configuration in force at its end (the receivers
        and minimums of that week, also when the week is closed late, after a reload), kept
        with that configuration's snapshot id. Without a recorded configuration from before
        the week's end, by the current one."""
        in_force = self.log.config_in_force(week.end(plan.tz))
        if in_force is None:
            wards, programmes = plan.schedule.wards, plan.schedule.programmes
            snapshot_id = plan.snapshot_id
        else:
            wards, programmes = in_force.wards, in_force.programmes
            snapshot_id = in_force.snapshot_id
        return _Closing(
            week,
            now,
            final_at,
            snapshot_id,
            sorted(wards.values(), key=lambda w: w.id),
            sorted(programmes.values(), key=lambda p: p.id),
        )

    def _judge(self, plan: Plan, closing: _Closing, receivers: int | None) -> None:
        """Judge the next wards of ``closing`` (about ``receivers`` receivers; None: all)."""
        wards = closing.wards
        if receivers is not None:
            count, taken = 0, 0
            while taken < len(wards) and (taken == 0 or count < receivers):
                count += len(wards[taken].enabled_receivers)
                taken += 1
            wards = wards[:taken]
        week, now = closing.week, closing.now
        end = week.end(plan.tz)
        ids = None if receivers is None else [w.id for w in wards]
        by_ward = _by_ward(self.log.airings_between(week.start(plan.tz), end, ids))
        # as `report` judges it: offline at the week's end
        offline = self._offline(until=min(end, now), wards=ids)
        rows: list[WeekCloseRow] = []
        for ward in wards:
            for programme in closing.programmes:
                if enforced(ward, programme, week):
                    rows += _close_rows(
                        ward,
                        programme,
                        week,
                        by_ward.get(ward.id, []),
                        offline=offline.get(ward.id, {}),
                        plan=plan,
                        now=now,
                        final_at=closing.final_at,
                    )
        closing.rows += rows
        del closing.wards[: len(wards)]

    @staticmethod
    def _report(plan: Plan, week: IsoWeek, rows: list[WeekCloseRow]) -> None:
        short = [r for r in rows if not r.compliant]
        for row in short:
            # the reason opens with "K of M completed" when K > 0 (core.verdicts); else say it
            count = "" if row.completed else f"0 of {row.minimum} completed; "
            log.warning(
                _("week %s closed SHORT: ward %s receiver %s programme %s: %s%s"),
                week,
                row.ward,
                row.receiver,
                row.programme,
                count,
                row.reason,
            )
        log.info(
            _("week %s closed: %d receiver(s) compliant, %d short"),
            week,
            len(rows) - len(short),
            len(short),
        )


@dataclass(slots=True)
class _Closing:
    """A week being closed (:meth:`Weekly.close_step`): the wards still to judge, in id order,
    and the verdicts of those judged."""

    week: IsoWeek
    now: datetime  # when the close began: its rows' time, and the verdicts' "now"
    final_at: datetime
    snapshot_id: int | None
    wards: list[Ward]
    programmes: list[Programme]
    rows: list[WeekCloseRow] = field(default_factory=list)


def _close_rows(
    ward: Ward,
    programme: Programme,
    week: IsoWeek,
    records: list[AiringRecord],
    *,
    offline: dict[str, datetime],
    plan: Plan,
    now: datetime,
    final_at: datetime,
) -> list[WeekCloseRow]:
    """The verdict per enabled receiver of ``ward`` for ``programme`` in the ended ``week``."""
    verdicts = receiver_verdicts(
        week,
        [r.id for r in ward.enabled_receivers],
        programme.id,
        programme.min_per_week,
        records,
        now=now,
        final_at=final_at,
        tz=plan.tz,
        offline=offline,
    )
    return [
        WeekCloseRow(
            ward.id, programme.id, v.receiver, v.completed, v.minimum, v.compliant, v.reason
        )
        for v in verdicts.values()
    ]


def _by_ward(records: list[AiringRecord]) -> dict[str, list[AiringRecord]]:
    grouped: dict[str, list[AiringRecord]] = defaultdict(list)
    for record in records:
        grouped[record.ward].append(record)
    return grouped
