"""The weekly minimum on the record: per receiver, how many airings it completed in a week, the
verdict, and why it fell short, in words. One rule, read by the service (its make-ups and the
week's closing record), `status` and the auditors' `report`, so the three never tell two stories
about one week.

The rule, in plain words: a receiver counts an airing only when it confirms ``completed``. It
is *compliant* when it completed ``minimum`` airings or more. Below that, it is *pending* until
the week's verdicts are final (no answer can change them any more: ``final_at``), then *short*
(or *not enforced* in a week the campaign covers only in part). While the week runs, what may
still complete (commands waiting for an answer, the ward's planned airings still to come) tells
whether it can still make it (:attr:`ReceiverVerdict.at_risk`).

Nothing here reads the clock or a database: the records, ``now`` and ``final_at`` are passed in.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import StrEnum

from ipfm_scheduler.core.commands import CommandState
from ipfm_scheduler.core.expand import PlannedAiring
from ipfm_scheduler.core.model import Origin
from ipfm_scheduler.core.records import AiringRecord, CommandRecord
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.errors import ValueInvalid

#: make-up airings a receiver gets per programme and week, at most (a broken loudspeaker is not
#: re-tried in every slot of every window)
MAX_MAKEUPS = 3
MISSED_SHOWN = 3  # missed airings named in a reason; the rest as "…"


class Standing(StrEnum):
    COMPLIANT = "compliant"
    SHORT = "short"
    PENDING = "pending"  # the verdict is not final yet
    NOT_ENFORCED = "not enforced"  # short in a week the campaign covers only in part
    NO_RECEIVERS = "no receivers"  # (a ward's) no enabled receiver: nothing to count


@dataclass(frozen=True, slots=True)
class ReceiverVerdict:
    """One receiver's week for one programme."""

    receiver: str
    completed: int  # airings it confirmed ``completed``
    minimum: int
    open: int  # its commands still waiting for an answer
    to_come: int  # the ward's planned airings of the programme still to come, not stored yet
    makeups: int  # make-up airings it had a command in
    standing: Standing
    reason: str  # why it is below the minimum, in words ("" when compliant)

    def __post_init__(self) -> None:
        if min(self.completed, self.minimum, self.open, self.to_come, self.makeups) < 0:
            raise ValueInvalid(f"{self.receiver}: a count of its week is negative: {self!r}")

    @property
    def compliant(self) -> bool:
        return self.standing is Standing.COMPLIANT

    @property
    def possible(self) -> int:
        """What it may still reach this week: completed, plus open commands and airings to come."""
        return self.completed + self.open + self.to_come

    @property
    def at_risk(self) -> bool:
        """It cannot reach the minimum without a make-up."""
        return self.possible < self.minimum


def receiver_verdicts(
    week: IsoWeek,
    receivers: Sequence[str],
    programme: str,
    minimum: int,
    records: Sequence[AiringRecord],
    *,
    now: datetime,
    final_at: datetime,
    tz: tzinfo,
    offline: Mapping[str, datetime] | None = None,
    to_come: Sequence[PlannedAiring] = (),
    enforced: bool = True,
) -> dict[str, ReceiverVerdict]:
    """The verdict of each of ``receivers`` (a ward's enabled ones) for ``programme`` in ``week``.

    ``records``: the ward's stored airings of ``week`` (any programme; missed ones included).
    ``offline``: receiver -> since when its last status said offline; only what was known by
    the end of the week (and by ``now``) counts. ``to_come``: the ward's planned airings still
    to come this week, not stored yet (a live check). The verdicts are final once ``now`` has
    reached ``final_at``; before, a receiver below the minimum is pending, and its reason says
    "yet" where that matters.
    """
    final = now >= final_at
    cutoff = min(_week_end(week, tz), now)
    mine = sorted((r for r in records if r.programme == programme), key=lambda r: (r.start, r.id))
    facts = _WeekFacts(
        aired=bool(mine),
        missed=tuple(r.start for r in mine if r.missed),
        coming=sum(1 for a in to_come if a.programme == programme),
        final=final,
        tz=tz,
    )
    result = {}
    for receiver in receivers:
        since = (offline or {}).get(receiver)
        result[receiver] = _verdict(
            receiver,
            minimum,
            mine,
            facts,
            offline_since=since if since is not None and since < cutoff else None,
            enforced=enforced,
        )
    return result


@functools.lru_cache(maxsize=64)
def _week_end(week: IsoWeek, tz: tzinfo) -> datetime:
    """``week.end(tz)``, worked out once per week and zone (a report asks it per ward)."""
    return week.end(tz)


@dataclass(frozen=True, slots=True)
class _WeekFacts:
    """What a programme's week in a ward is, the same for each of its receivers."""

    aired: bool  # an airing of it is stored this week (missed ones count)
    missed: tuple[datetime, ...]
    coming: int
    final: bool
    tz: tzinfo


def _verdict(
    receiver: str,
    minimum: int,
    mine: Sequence[AiringRecord],
    facts: _WeekFacts,
    *,
    offline_since: datetime | None,
    enforced: bool,
) -> ReceiverVerdict:
    commands: list[CommandRecord] = []
    completed = makeups = open_ = 0
    for record in mine:  # one pass: a report judges 10,000 receivers
        command = record.commands.get(receiver)
        if command is None:
            continue
        commands.append(command)
        makeups += record.origin is Origin.MAKEUP
        if command.state is CommandState.COMPLETED:
            completed += 1
        elif command.state.open:
            open_ += 1
    if completed >= minimum:
        standing, reason = Standing.COMPLIANT, ""
    else:
        standing = (
            Standing.PENDING
            if not facts.final
            else (Standing.SHORT if enforced else Standing.NOT_ENFORCED)
        )
        reason = _reason(
            commands, completed, minimum, facts, offline_since=offline_since, makeups=makeups
        )
    return ReceiverVerdict(
        receiver,
        completed,
        minimum,
        open=open_,
        to_come=facts.coming,
        makeups=makeups,
        standing=standing,
        reason=reason,
    )


def _reason(
    commands: Sequence[CommandRecord],
    completed: int,
    minimum: int,
    facts: _WeekFacts,
    *,
    offline_since: datetime | None,
    makeups: int,
) -> str:
    """Why a receiver is below the minimum, its parts joined with ``; ``, in this order:
    ``1 of 2 completed`` (when it completed some), ``offline since 2026-11-25 06:02``, then one
    of ``no airing planned`` (``… yet``), ``no command sent`` or what became of the commands
    that did not complete (``2 commands: expired, failed (device)``), the airings missed while
    no service ran (:func:`missed_words`), and ``3 make-ups tried, the most a week gets``."""
    parts = [f"{completed} of {minimum} completed"] if completed else []
    if offline_since is not None:
        parts.append(f"offline since {offline_since.astimezone(facts.tz):%Y-%m-%d %H:%M}")
    missed = missed_words(facts.missed, facts.tz)
    if not facts.aired:
        parts.append("no airing planned" if facts.final else "no airing planned yet")
    elif not commands:
        parts.append("no command sent" + (f": {missed}" if missed else ""))
    else:
        unfinished = [c for c in commands if c.state is not CommandState.COMPLETED]
        if unfinished:
            parts.append(describe_commands(unfinished, final=facts.final))
        parts += [missed] if missed else []
    if makeups >= MAX_MAKEUPS:
        parts.append(f"{makeups} make-ups tried, the most a week gets")
    return "; ".join(parts)


_WAITING = {
    CommandState.SENT: "sent, no answer",
    CommandState.RECEIVED: "received, no further answer",
    CommandState.PLAYING: "playing, no end reported",
}


def command_words(command: CommandRecord, *, final: bool = True) -> str:
    """A command's outcome in words: ``failed (device)``, ``expired``, ``sent, no answer``...
    A command never accepted by the broker is ``not yet`` accepted while the verdict is not
    ``final`` (a make-up planned for tomorrow is simply not due)."""
    state = command.state
    if state is CommandState.PENDING:
        return f"{'never' if final else 'not yet'} accepted by the broker"
    if state in _WAITING:
        return _WAITING[state]
    if command.detail and state.final:
        return f"{state.value} ({command.detail})"
    return state.value


def describe_commands(commands: Sequence[CommandRecord], *, final: bool = True) -> str:
    """``3 commands: expired ×2, failed (device)``: the outcomes counted, in alphabetical
    order."""
    words = Counter(command_words(c, final=final) for c in commands)
    listed = ", ".join(w if n == 1 else f"{w} ×{n}" for w, n in sorted(words.items()))
    count = len(commands)
    return f"{count} command{'s' if count != 1 else ''}: {listed}"


def missed_words(starts: Sequence[datetime], tz: tzinfo) -> str:
    """Why a receiver has no command for airings recorded as missed (their window closed while
    no service ran): ``2 airing(s) missed while the service was not running (2026-11-23 06:00,
    …)``, or ""."""
    if not starts:
        return ""
    shown = [f"{s.astimezone(tz):%Y-%m-%d %H:%M}" for s in sorted(starts)[:MISSED_SHOWN]]
    more = ", …" if len(starts) > MISSED_SHOWN else ""
    return (
        f"{len(starts)} airing(s) missed while the service was not running "
        f"({', '.join(shown)}{more})"
    )
