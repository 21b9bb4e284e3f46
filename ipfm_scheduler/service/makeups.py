"""The weekly minimum enforced live: who is short, where a make-up airing goes, and the verdict
when a week closes. Pure decisions: the records, the plan and ``now`` are passed in.

The rule, in plain words: a receiver counts an airing only when it confirms ``completed``. During
the week, a receiver is *short* for a programme when what it has completed, plus what may still
complete (commands waiting for an answer, and the ward's planned airings still to come this
week), is below ``min_per_week``. For the short receivers that are not known to be offline, one
make-up airing is planned in the ward's next free slot inside a window, this same week, with
commands for just those receivers. A receiver gets at most ``MAX_MAKEUPS`` make-ups per
programme and week (a broken loudspeaker is not re-tried in every slot of every window).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from ipfm_scheduler.core.commands import CommandState
from ipfm_scheduler.core.compliance import missed_words
from ipfm_scheduler.core.expand import PlannedAiring, expand_between
from ipfm_scheduler.core.makeup import next_slot
from ipfm_scheduler.core.model import Origin, Programme, Ward
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.service.ports import AiringRecord, CommandRecord, WeekCloseRow

MAX_MAKEUPS = 3
MISSED = "missed"  # an AiringRecord's outcome when its window closed before it could be sent

_ENDED_SHORT = frozenset({CommandState.EXPIRED, CommandState.FAILED, CommandState.REJECTED})

_WAITING = {
    CommandState.PENDING: "not yet accepted by the broker",
    CommandState.SENT: "no answer",
    CommandState.RECEIVED: "received, never played",
    CommandState.PLAYING: "playing, never completed",
}


@dataclass(frozen=True, slots=True)
class ReceiverWeek:
    """One receiver's week for one programme."""

    receiver: str
    completed: int
    open: int
    to_come: int
    makeups: int
    outcomes: tuple[str, ...]  # one per command, oldest first: "completed", "failed (device)"
    missed: tuple[datetime, ...] = ()  # starts of the ward's airings missed (service not running)

    @property
    def possible(self) -> int:
        return self.completed + self.open + self.to_come


@dataclass(frozen=True, slots=True)
class Makeup:
    planned: PlannedAiring
    receivers: tuple[str, ...]
    makeup_for: int | None
    note: str


def describe(command: CommandRecord) -> str:
    """A command's outcome in words: ``completed``, ``failed (device)``, ``expired``, ..."""
    if command.state in _WAITING:
        return _WAITING[command.state]
    if command.detail and command.state in {CommandState.FAILED, CommandState.REJECTED}:
        return f"{command.state.value} ({command.detail})"
    return command.state.value


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


def tally(
    ward: Ward,
    programme: str,
    records: Sequence[AiringRecord],
    to_come: Sequence[PlannedAiring],
) -> dict[str, ReceiverWeek]:
    """Per enabled receiver of ``ward``: its week for ``programme`` (records: this week's)."""
    mine = sorted((r for r in records if r.programme == programme), key=lambda r: r.start)
    coming = sum(1 for a in to_come if a.programme == programme)
    result = {}
    for receiver in ward.enabled_receivers:
        commands = [r.commands[receiver.id] for r in mine if receiver.id in r.commands]
        result[receiver.id] = ReceiverWeek(
            receiver.id,
            completed=sum(1 for c in commands if c.state is CommandState.COMPLETED),
            open=sum(1 for c in commands if c.state.open),
            to_come=coming,
            makeups=sum(1 for r in mine if r.origin is Origin.MAKEUP and receiver.id in r.commands),
            outcomes=tuple(describe(c) for c in commands),
            missed=tuple(r.start for r in mine if r.outcome == MISSED and not r.commands),
        )
    return result


@dataclass(frozen=True, slots=True)
class MakeupCheck:
    """What the weekly minimum asks of one ward and programme now."""

    makeup: Makeup | None  # the make-up airing to plan, if any
    used_up: tuple[str, ...] = ()  # short receivers that get no more make-ups this week


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
    weeks = tally(ward, programme.id, records, to_come)
    short = [r for r, w in weeks.items() if w.possible < programme.min_per_week]
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


def close_rows(
    ward: Ward,
    programme: Programme,
    week: IsoWeek,
    records: Sequence[AiringRecord],
    *,
    offline: Mapping[str, datetime],
    tz: tzinfo,
) -> list[WeekCloseRow]:
    """The verdict per enabled receiver of ``ward`` for ``programme`` in the ended ``week``."""
    rows = []
    end = week.end(tz)
    for receiver, w in tally(ward, programme.id, records, ()).items():
        compliant = w.completed >= programme.min_per_week
        since = offline.get(receiver)
        reason = "" if compliant else short_reason(w, since if since and since < end else None, tz)
        rows.append(
            WeekCloseRow(
                ward.id,
                programme.id,
                receiver,
                w.completed,
                programme.min_per_week,
                compliant,
                reason,
            )
        )
    return rows


def short_reason(week: ReceiverWeek, offline_since: datetime | None, tz: tzinfo) -> str:
    """Why a receiver fell short: ``offline since 2026-11-25 06:02; 2 commands: failed
    (device), expired``, ``no command sent``, or ``no command sent: 2 airing(s) missed while
    the service was not running (2026-11-23 06:00, 2026-11-25 06:00)``."""
    parts = []
    if offline_since is not None:
        parts.append(f"offline since {offline_since.astimezone(tz):%Y-%m-%d %H:%M}")
    count = len(week.outcomes)
    missed = missed_words(week.missed, tz)
    if count == 0:
        parts.append("no command sent" + (f": {missed}" if missed else ""))
    else:
        parts.append(f"{count} command{'s' if count != 1 else ''}: {', '.join(week.outcomes)}")
        parts += [missed] if missed else []
    if week.makeups >= MAX_MAKEUPS:
        parts.append(f"{week.makeups} make-ups tried, the most a week gets")
    return "; ".join(parts)
