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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import StrEnum

from ipfm_scheduler.core.commands import CommandState
from ipfm_scheduler.core.expand import PlannedAiring
from ipfm_scheduler.core.model import Origin
from ipfm_scheduler.core.records import AiringRecord, CommandRecord
from ipfm_scheduler.core.weeks import IsoWeek
from ipfm_scheduler.errors import ValueInvalid
from ipfm_scheduler.i18n import N_, _, date_text, ngettext

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

    @property
    def words(self) -> str:
        """The standing as people read it, in the language spoken (the value stays English in
        JSON and CSV)."""
        return _(_STANDING_WORDS[self])


_STANDING_WORDS = {
    Standing.COMPLIANT: N_("compliant"),
    Standing.SHORT: N_("short"),
    Standing.PENDING: N_("pending"),
    Standing.NOT_ENFORCED: N_("not enforced"),
    Standing.NO_RECEIVERS: N_("no receivers"),
}

#: a command's state as people read it (tables and text; JSON and CSV keep the value)
STATE_WORDS = {
    CommandState.PENDING: N_("pending"),
    CommandState.SENT: N_("sent"),
    CommandState.RECEIVED: N_("received"),
    CommandState.PLAYING: N_("playing"),
    CommandState.EXPIRED: N_("expired"),
    CommandState.COMPLETED: N_("completed"),
    CommandState.FAILED: N_("failed"),
    CommandState.REJECTED: N_("rejected"),
}


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a receiver is below the minimum, as the facts that say it. ``str()`` gives them in
    English, as the week's closing record keeps them and JSON and CSV give them; :meth:`words`
    in the language spoken, for tables and text (dates ``dd/mm/yyyy`` in Vietnamese). The
    wording of both is :func:`_reason_words`, so the two never say different things."""

    completed: int
    minimum: int
    final: bool  # the verdict is final (else "yet", "not yet" where that matters)
    aired: bool  # an airing of the programme is stored this week (missed ones count)
    sent: bool  # the receiver had a command this week
    unfinished: tuple[tuple[CommandState, str | None], ...]  # (state, detail) of the others
    missed: tuple[datetime, ...]  # local starts of airings missed while no service ran
    offline_since: datetime | None = None  # local
    makeups: int = 0  # make-up airings it had a command in

    def __str__(self) -> str:
        return _reason_words(self, _english, _english_plural, _english_moment)

    def words(self) -> str:
        """The reason in the language spoken now."""
        return _reason_words(self, _, ngettext, _spoken_moment)


Gettext = Callable[[str], str]
Ngettext = Callable[[str, str, int], str]
Moment = Callable[[datetime], str]


def _english(message: str) -> str:
    return message


def _english_plural(singular: str, plural: str, n: int) -> str:
    return singular if n == 1 else plural


def _english_moment(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M}"


def _spoken_moment(moment: datetime) -> str:
    return f"{date_text(moment)} {moment:%H:%M}"


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
    why: Reason | None  # why it is below the minimum (None when compliant)

    def __post_init__(self) -> None:
        if min(self.completed, self.minimum, self.open, self.to_come, self.makeups) < 0:
            raise ValueInvalid(
                _("{receiver}: a count of its week is negative: {verdict}").format(
                    receiver=self.receiver, verdict=repr(self)
                )
            )

    @property
    def reason(self) -> str:
        """Why it is below the minimum, in English words ("" when compliant): what the week's
        closing record keeps."""
        return "" if self.why is None else str(self.why)

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
    completed_apart: Mapping[str, Completed] | None = None,
) -> dict[str, ReceiverVerdict]:
    """The verdict of each of ``receivers`` (a ward's enabled ones) for ``programme`` in ``week``.

    ``records``: the ward's stored airings of ``week`` (any programme; missed ones included).
    ``offline``: receiver -> since when its last status said offline; only what was known by
    the end of the week (and by ``now``) counts. ``to_come``: the ward's planned airings still
    to come this week, not stored yet (a live check). The verdicts are final once ``now`` has
    reached ``final_at``; before, a receiver below the minimum is pending, and its reason says
    "yet" where that matters. ``completed_apart``: receiver -> its ``completed`` commands of
    ``programme`` left out of the records' commands, counted by the database (a national
    report's 700,000 commands are not read one by one: storage/tallies.py); the same verdicts.
    """
    final = now >= final_at
    cutoff = min(_week_end(week, tz), now)
    mine = sorted((r for r in records if r.programme == programme), key=lambda r: (r.start, r.id))
    facts = _WeekFacts(
        aired=bool(mine),
        missed=tuple(sorted(r.start.astimezone(tz) for r in mine if r.missed)),
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
            apart=(completed_apart or {}).get(receiver, _NONE_APART),
        )
    return result


@dataclass(frozen=True, slots=True)
class Completed:
    """A receiver's ``completed`` commands of a programme in a week, counted apart from the
    records: how many, and how many of them in make-up airings."""

    commands: int
    makeups: int = 0


_NONE_APART = Completed(0)


@functools.lru_cache(maxsize=64)
def _week_end(week: IsoWeek, tz: tzinfo) -> datetime:
    """``week.end(tz)``, worked out once per week and zone (a report asks it per ward)."""
    return week.end(tz)


@dataclass(frozen=True, slots=True)
class _WeekFacts:
    """What a programme's week in a ward is, the same for each of its receivers."""

    aired: bool  # an airing of it is stored this week (missed ones count)
    missed: tuple[datetime, ...]  # local, oldest first
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
    apart: Completed,
) -> ReceiverVerdict:
    commands: list[CommandRecord] = []
    completed, makeups, open_ = apart.commands, apart.makeups, 0
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
    why = None
    if completed >= minimum:
        standing = Standing.COMPLIANT
    else:
        standing = (
            Standing.PENDING
            if not facts.final
            else (Standing.SHORT if enforced else Standing.NOT_ENFORCED)
        )
        why = Reason(
            completed,
            minimum,
            final=facts.final,
            aired=facts.aired,
            sent=bool(commands) or apart.commands > 0,
            unfinished=tuple(
                (c.state, c.detail) for c in commands if c.state is not CommandState.COMPLETED
            ),
            missed=facts.missed,
            offline_since=None if offline_since is None else offline_since.astimezone(facts.tz),
            makeups=makeups,
        )
    return ReceiverVerdict(
        receiver,
        completed,
        minimum,
        open=open_,
        to_come=facts.coming,
        makeups=makeups,
        standing=standing,
        why=why,
    )


def _reason_words(reason: Reason, _: Gettext, ngettext: Ngettext, moment: Moment) -> str:
    """Why a receiver is below the minimum, its parts joined with ``; ``, in this order:
    ``1 of 2 completed`` (when it completed some), ``offline since 2026-11-25 06:02``, then one
    of ``no airing planned`` (``… yet``), ``no command sent`` or what became of the commands
    that did not complete (``2 commands: expired, failed (device)``), the airings missed while
    no service ran (``1 airing missed while …``), and ``3 make-ups tried, the most a week
    gets``. ``_``, ``ngettext`` and ``moment`` say it in English or in the language spoken."""
    r = reason
    parts = []
    if r.completed:
        parts.append(
            _("{completed} of {minimum} completed").format(completed=r.completed, minimum=r.minimum)
        )
    if r.offline_since is not None:
        parts.append(_("offline since {moment}").format(moment=moment(r.offline_since)))
    missed = _missed_words(r.missed, _, ngettext, moment)
    if not r.aired:
        parts.append(_("no airing planned") if r.final else _("no airing planned yet"))
    elif not r.sent:
        parts.append(
            _("no command sent: {missed}").format(missed=missed) if missed else _("no command sent")
        )
    else:
        if r.unfinished:
            parts.append(_commands_words(r.unfinished, r.final, _, ngettext))
        parts += [missed] if missed else []
    if r.makeups >= MAX_MAKEUPS:
        parts.append(_("{count} make-ups tried, the most a week gets").format(count=r.makeups))
    return "; ".join(parts)


_WAITING = {
    CommandState.SENT: N_("sent, no answer"),
    CommandState.RECEIVED: N_("received, no further answer"),
    CommandState.PLAYING: N_("playing, no end reported"),
}


def _command_words(state: CommandState, detail: str | None, final: bool, _: Gettext) -> str:
    if state is CommandState.PENDING:
        return _("never accepted by the broker") if final else _("not yet accepted by the broker")
    if state in _WAITING:
        return _(_WAITING[state])
    if detail and state.final:  # the receiver's own word stays as it said it
        return _("{state} ({detail})").format(state=_(STATE_WORDS[state]), detail=detail)
    return _(STATE_WORDS[state])


def _commands_words(
    commands: Sequence[tuple[CommandState, str | None]],
    final: bool,
    _: Gettext,
    ngettext: Ngettext,
) -> str:
    words = Counter(_command_words(state, detail, final, _) for state, detail in commands)
    listed = ", ".join(
        w if n == 1 else _("{outcome} ×{count}").format(outcome=w, count=n)
        for w, n in sorted(words.items())
    )
    count = len(commands)
    return ngettext("{count} command: {listed}", "{count} commands: {listed}", count).format(
        count=count, listed=listed
    )


def _missed_words(
    starts: Sequence[datetime], _: Gettext, ngettext: Ngettext, moment: Moment
) -> str:
    if not starts:
        return ""
    shown = [moment(s) for s in sorted(starts)[:MISSED_SHOWN]]
    more = ", …" if len(starts) > MISSED_SHOWN else ""
    return ngettext(
        "{count} airing missed while the service was not running ({starts})",
        "{count} airings missed while the service was not running ({starts})",
        len(starts),
    ).format(count=len(starts), starts=", ".join(shown) + more)


def command_words(command: CommandRecord, *, final: bool = True) -> str:
    """A command's outcome in English words: ``failed (device)``, ``expired``, ``sent, no
    answer``... A command never accepted by the broker is ``not yet`` accepted while the
    verdict is not ``final`` (a make-up planned for tomorrow is simply not due)."""
    return _command_words(command.state, command.detail, final, _english)


def describe_commands(commands: Sequence[CommandRecord], *, final: bool = True) -> str:
    """``3 commands: expired ×2, failed (device)``: the outcomes counted, in alphabetical
    order (English)."""
    pairs = [(c.state, c.detail) for c in commands]
    return _commands_words(pairs, final, _english, _english_plural)


def missed_words(starts: Sequence[datetime], tz: tzinfo) -> str:
    """Why a receiver has no command for airings recorded as missed (their window closed while
    no service ran), in English: ``2 airings missed while the service was not running
    (2026-11-23 06:00, …)``, or ""."""
    local = [s.astimezone(tz) for s in starts]
    return _missed_words(local, _english, _english_plural, _english_moment)
