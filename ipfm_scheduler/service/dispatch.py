"""Sending a command, first half: due airings become stored commands, before anything is
published (``sender`` publishes them).

* :func:`order`: a planned airing and one play command per target receiver, each payload built
  (and signed) exactly once by the protocol package; those bytes are stored and resent unchanged.
* :class:`Dispatch`: the airings whose dispatch time (start - lead) has come are stored in
  batches, each batch handed to the sender as soon as it is stored; an airing whose window closed
  while nothing was sent (the service was down) is recorded as missed; commands past their
  expiry are marked expired.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime

from ipfm_scheduler import protocol
from ipfm_scheduler.core.commands import CommandState
from ipfm_scheduler.core.compliance import EXPIRE_GRACE
from ipfm_scheduler.core.expand import PlannedAiring
from ipfm_scheduler.core.model import Origin, Priority
from ipfm_scheduler.errors import NotAirable
from ipfm_scheduler.i18n import N_, _
from ipfm_scheduler.logtime import local_text, message_time
from ipfm_scheduler.service.agenda import Agenda, Plan
from ipfm_scheduler.service.ports import (
    AiringLog,
    AiringToStore,
    CommandRef,
    NewCommand,
    OutgoingCommand,
    StoredAiring,
)
from ipfm_scheduler.service.sender import STEP_LIMIT_S, Sender

log = logging.getLogger(__name__)

STORE_BATCH = 1000  # commands (about) per database transaction while dispatching

#: a receiver's command topic, checked once per receiver, then remembered
_cmd_topic = functools.lru_cache(maxsize=1 << 17)(protocol.cmd_topic)


def order(
    plan: Plan,
    planned: PlannedAiring,
    *,
    receivers: Iterable[str],
    now: datetime,
    priority: Priority = Priority.NORMAL,
    makeup_for: int | None = None,
    note: str | None = None,
) -> AiringToStore:
    """The airing with a command for each of ``receivers``, issued at ``now``."""
    programme = plan.programme(planned.programme)
    audio = plan.audio(planned.programme)
    if programme is None or audio is None:
        raise NotAirable(planned.ward, planned.programme, local_text(planned.local_start))
    ref = protocol.AudioRef(
        plan.audio_url(audio), audio.sha256, audio.bytes, audio.duration_s, audio.format
    )
    command = protocol.PlayCommand(
        id=protocol.PLACEHOLDER_ID,  # each receiver's command gets its own id
        programme=programme.id,
        title=programme.title,
        audio=ref,
        volume=planned.volume,
        priority=priority,
        start_at=planned.start,
        expires_at=planned.expires,
        issued_at=now,
    )
    targets = list(receivers)
    key = plan.key_for(planned.ward)
    v2 = [r for r in targets if plan.speaks_v2(planned.ward, r)]  # their commands name them
    named_set = set(v2)
    v1 = [r for r in targets if r not in named_set]
    targeted = replace(command, ward=planned.ward, receiver=protocol.PLACEHOLDER_RECEIVER)
    made = dict(zip(v1, protocol.encode_plays(command, planned.zone, key, len(v1)), strict=True))
    made.update(
        zip(v2, protocol.encode_plays(targeted, planned.zone, key, len(v2), v2), strict=True)
    )
    commands = [
        NewCommand(made[r][0], r, _cmd_topic(plan.prefix, planned.ward, r), made[r][1])
        for r in targets
    ]
    return AiringToStore(
        planned, priority, audio.sha256, tuple(commands), makeup_for=makeup_for, note=note
    )


def missed(plan: Plan, planned: PlannedAiring) -> AiringToStore:
    """An airing whose window closed before anything was sent (the service was down)."""
    audio = plan.audio(planned.programme)
    return AiringToStore(
        planned,
        Priority.NORMAL,
        audio.sha256 if audio is not None else "",
        missed=True,
        note="window closed before it could be sent (service not running)",
    )


class Dispatch:
    """Stores due airings with their commands, and hands those to the sender."""

    def __init__(self, airing_log: AiringLog, sender: Sender) -> None:
        self.log = airing_log
        self.sender = sender
        self._unairable: set[str] = set()  # programmes already reported as having no audio
        # A new airing log (nothing recorded before this start): the airings of this week whose
        # window closed before it are missed, but said in one line, not a warning each.
        self._new_log = airing_log.earliest_airing() is None
        self._missed_quietly = 0

    def forget_unairable(self) -> None:
        """A new configuration: report a programme without audio again."""
        self._unairable.clear()

    def due(self, plan: Plan, agenda: Agenda, now: datetime) -> int:
        """Store the airings whose dispatch time has come; returns how many were new.

        In batches of about ``STORE_BATCH`` commands: each batch is stored (one transaction),
        then published, waiting for room in the in-flight window (and taking in the receivers'
        answers meanwhile), so that only a batch or two is ever held in memory and answers never
        pile up. Once the broker falls behind (or the step has run ``STEP_LIMIT_S``), the rest
        is stored and handed over as far as the window allows without waiting; the ``send``
        step goes on with it.
        """
        due = agenda.pop_due(now)
        created = done = 0
        deadline = time.monotonic() + STEP_LIMIT_S
        flowing = True  # each batch goes out before the next is stored, while the broker keeps up
        try:
            while done < len(due):
                batch = _next_batch(plan, due, done)
                created += self._store_due(plan, batch, now)
                done += len(batch)
                if flowing and time.monotonic() < deadline:
                    flowing = self.sender.send_offered(now, deadline, dispatching=True)[1]
                else:
                    self.sender.send_ready(now)
        except Exception:
            agenda.put_back(due[done:])  # tried again next tick
            raise
        self._tell_new_log()
        return created

    def _tell_new_log(self) -> None:
        """Once, after the first airings are stored in a new airing log: how many of them had
        closed before it existed."""
        if self._new_log and self._missed_quietly:
            log.warning(
                _(
                    "the airing log is new (no airing recorded before this start): nothing could "
                    "have aired before it, so this week's %d airing(s) whose window had already "
                    "closed are recorded as missed (see `ipfm-scheduler report`), not one warning "
                    "each"
                ),
                self._missed_quietly,
            )
        self._new_log = False

    def _store_due(self, plan: Plan, batch: Sequence[PlannedAiring], now: datetime) -> int:
        items: list[AiringToStore] = []
        for planned in batch:
            if planned.expires <= now:
                items.append(missed(plan, planned))
                continue
            item = self._order(plan, planned, now)
            if item is not None:
                items.append(item)
        stored = self.store(plan, items, now)
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

    def _order(self, plan: Plan, planned: PlannedAiring, now: datetime) -> AiringToStore | None:
        ward = plan.schedule.wards[planned.ward]
        receivers = [r.id for r in ward.enabled_receivers]
        if not receivers:
            return None
        try:
            return order(plan, planned, receivers=receivers, now=now)
        except NotAirable as exc:
            if planned.programme not in self._unairable:
                log.error("%s", exc.shown())
                self._unairable.add(planned.programme)
            return None

    def store(
        self, plan: Plan, items: Sequence[AiringToStore], now: datetime
    ) -> list[StoredAiring]:
        """Store airings and their commands, and log one line per airing that is new."""
        if not items:
            return []
        stored = self.log.store_airings(items, snapshot_id=plan.snapshot_id, now=now)
        for item, result in zip(items, stored, strict=True):
            if self._new_log and item.missed:
                self._missed_quietly += result.created
            else:
                _report(item, result)
        return stored

    def expire(self, now: datetime) -> list[CommandRef]:
        """Mark the commands whose airing's time is over without a final answer as expired."""
        expired = self.log.expire_overdue(now, grace=EXPIRE_GRACE)
        for ref in expired:
            log.info(
                _("%s/%s: command %s %s without a final answer"),
                ref.ward,
                ref.receiver,
                ref.id,
                CommandState.EXPIRED.value,
            )
        return expired


def _next_batch(plan: Plan, due: Sequence[PlannedAiring], first: int) -> Sequence[PlannedAiring]:
    wards = plan.schedule.wards
    commands = 0
    for end in range(first, len(due)):
        commands += max(1, len(wards[due[end].ward].enabled_receivers))
        if commands >= STORE_BATCH:
            return due[first : end + 1]
    return due[first:]


#: how the log names an airing's origin (the English is the origin's own name)
ORIGIN_WORDS = {
    Origin.SCHEDULED: N_("scheduled"),
    Origin.MAKEUP: N_("makeup"),
    Origin.MANUAL: N_("manual"),
    Origin.EMERGENCY: N_("emergency"),
}


def _report(item: AiringToStore, result: StoredAiring) -> None:
    planned = item.planned
    when = message_time(planned.local_start, "seconds" if planned.start.second else "minutes")
    if item.missed:
        if result.created:
            log.warning(
                _(
                    "ward %s: %s at %s missed: its window closed while the service was not "
                    "running (airing #%d)"
                ),
                planned.ward,
                planned.programme,
                when,
                result.airing_id,
            )
    elif result.commands_added:
        log.info(
            _("ward %s: %s %s at %s: %d command(s) stored (airing #%d)"),
            planned.ward,
            _(ORIGIN_WORDS[planned.origin]),
            planned.programme,
            when,
            result.commands_added,
            result.airing_id,
        )
