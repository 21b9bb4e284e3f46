"""Make-up airings: who needs one, and where it goes (the ward's next window, still inside the
ISO week, clear of other airings). Pure decisions: the records, the plan and ``now`` are passed
in; nothing here reads the clock or touches a database.

During the week, a receiver is short for a programme when what it has completed, plus what may
still complete (commands waiting for an answer, and the ward's planned airings still to come this
week), is below ``min_per_week`` (``core/verdicts.py``: :attr:`ReceiverVerdict.at_risk`). For
the short receivers that are not known to be offline, one make-up airing is planned in the ward's
next free slot inside a window, this same week, with commands for just those receivers. A
receiver gets at most ``MAX_MAKEUPS`` make-ups per programme and week (a broken loudspeaker is
not re-tried in every slot of every window).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from ipfm_scheduler.core.commands import CommandState
from ipfm_scheduler.core.expand import PlannedAiring, at_local, days_between, expand_between
from ipfm_scheduler.core.model import DEFAULT_VOLUME, Origin, Programme, Ward
from ipfm_scheduler.core.records import AiringRecord
from ipfm_scheduler.core.verdicts import MAX_MAKEUPS, receiver_verdicts
from ipfm_scheduler.core.weeks import IsoWeek

_ENDED_SHORT = frozenset({CommandState.EXPIRED, CommandState.FAILED, CommandState.REJECTED})


def ceil_minute(moment: datetime) -> datetime:
    """Round up to the next whole minute (airings start on the minute)."""
    if moment.second == 0 and moment.microsecond == 0:
        return moment
    return moment.replace(second=0, microsecond=0) + timedelta(minutes=1)


def default_volume(ward: Ward, programme: str) -> int:
    """The volume the ward's own plan uses for ``programme`` (its first rule), else the default."""
    return next((r.volume for r in ward.airings if r.programme == programme), DEFAULT_VOLUME)


def next_slot(
    ward: Ward,
    programme: Programme,
    tz: tzinfo,
    after: datetime,
    *,
    busy: Iterable[tuple[datetime, datetime]] = (),
    origin: Origin = Origin.MAKEUP,
) -> PlannedAiring | None:
    """The earliest start at or after ``after`` where ``programme`` fits in one of ``ward``'s
    windows, on a day that is not skipped and inside the campaign, before the ISO week of
    ``after`` ends, and not overlapping any ``busy`` interval (other airings of the ward).

    Returns ``None`` when the week has no such slot left.
    """
    week = IsoWeek.containing(after, tz)
    local_after = ceil_minute(after.astimezone(tz))
    intervals = sorted((s.astimezone(UTC), e.astimezone(UTC)) for s, e in busy)
    for day in days_between(local_after.date(), week.sunday):
        if day in ward.skip_dates or not programme.runs_on(day):
            continue
        windows = sorted(
            (w for w in ward.windows if w.opens_on(day.weekday())), key=lambda w: w.start
        )
        for window in windows:
            opens = at_local(day, window.start, tz).astimezone(UTC)
            closes = at_local(day, window.end, tz).astimezone(UTC)
            earliest = max(opens, local_after.astimezone(UTC))
            start = _first_free(earliest, programme.duration, closes, intervals)
            if start is not None:
                volume = default_volume(ward, programme.id)
                return PlannedAiring(start, ward.id, programme.id, closes, volume, origin, zone=tz)
    return None


def _first_free(
    start: datetime,
    length: timedelta,
    closes: datetime,
    busy: list[tuple[datetime, datetime]],
) -> datetime | None:
    """Earliest whole-minute start >= ``start`` whose airing ends by ``closes`` and overlaps no
    busy interval (``busy`` sorted by start)."""
    for busy_start, busy_end in busy:
        if start + length <= busy_start:
            break
        if busy_end > start:
            start = ceil_minute(busy_end)
    return start if start + length <= closes else None


@dataclass(frozen=True, slots=True)
class Makeup:
    planned: PlannedAiring
    receivers: tuple[str, ...]
    makeup_for: int | None
    note: str


@dataclass(frozen=True, slots=True)
class MakeupCheck:
    """What the weekly minimum asks of one ward and programme now."""

    makeup: Makeup | None  # the make-up airing to plan, if any
    used_up: tuple[str, ...] = ()  # short receivers that get no more make-ups this week


def still_to_come(
    ward: Ward,
    programmes: Mapping[str, Programme],
    tz: tzinfo,
    now: datetime,
    records: Sequence[AiringRecord],
) -> list[PlannedAiring]:
    """The ward's planned airings from ``now`` to the end of this week not yet stored."""
    stored = {(r.programme, r.start) for r in records}
    end = IsoWeek.containing(now, tz).end(tz)
    return [
        a
        for a in expand_between(ward, programmes, tz, now, end)
        if (a.programme, a.start) not in stored
    ]


def plan_makeup(
    ward: Ward,
    programme: Programme,
    programmes: Mapping[str, Programme],
    tz: tzinfo,
    now: datetime,
    *,
    lead: timedelta,
    records: Sequence[AiringRecord],
    offline: Mapping[str, datetime],
) -> MakeupCheck:
    """One make-up airing for the receivers of ``ward`` short of ``programme``'s minimum this
    week, or none (nobody short, all short ones offline or out of tries, or no slot left); and
    the short receivers whose ``MAX_MAKEUPS`` make-ups are used up (a loudspeaker that fails
    every time is not re-tried in every window: a technician must look at it).

    ``records`` are the ward's stored airings this week (every programme), ``offline`` maps the
    ward's offline receivers to since when.
    """
    week = IsoWeek.containing(now, tz)
    to_come = still_to_come(ward, programmes, tz, now, records)
    receivers = [r.id for r in ward.enabled_receivers]
    weeks = receiver_verdicts(
        week,
        receivers,
        programme.id,
        programme.min_per_week,
        records,
        now=now,
        final_at=week.end(tz),
        tz=tz,
        to_come=to_come,
    )
    short = [r for r, w in weeks.items() if w.at_risk]
    used_up = tuple(r for r in short if weeks[r].makeups >= MAX_MAKEUPS)
    targets = tuple(r for r in short if r not in offline and r not in used_up)
    if not targets:
        return MakeupCheck(None, used_up)
    busy = [(r.start, r.start + _length(programmes, r.programme)) for r in records if r.commands]
    busy += [(a.start, a.start + _length(programmes, a.programme)) for a in to_come]
    slot = next_slot(ward, programme, tz, now + lead, busy=busy)
    if slot is None or IsoWeek.containing(slot.start, tz) != week:
        return MakeupCheck(None, used_up)
    counts = ", ".join(f"{r} {weeks[r].completed}/{programme.min_per_week}" for r in targets)
    note = f"make-up in {week} for {counts} completed"
    makeup = Makeup(slot, targets, _made_up(records, programme.id, targets), note)
    return MakeupCheck(makeup, used_up)


def _length(programmes: Mapping[str, Programme], programme: str) -> timedelta:
    found = programmes.get(programme)
    return found.duration if found is not None else timedelta(minutes=1)


def _made_up(records: Sequence[AiringRecord], programme: str, targets: Sequence[str]) -> int | None:
    """The latest airing of ``programme`` in which a target's command ended without playing."""
    for record in sorted(records, key=lambda r: r.start, reverse=True):
        if record.programme != programme:
            continue
        for receiver in targets:
            command = record.commands.get(receiver)
            if command is not None and command.state in _ENDED_SHORT:
                return record.id
    return None
