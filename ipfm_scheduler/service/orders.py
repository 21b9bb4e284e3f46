"""Turning a planned airing into what is stored before anything is published: the airing and
one play command per target receiver, each payload built (and signed) exactly once."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from ipfm_scheduler.core.expand import PlannedAiring
from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.errors import IpfmError
from ipfm_scheduler.service.plan import Plan
from ipfm_scheduler.service.ports import AiringToStore, NewCommand
from ipfm_scheduler.service.wire import Wire


class NotAirable(IpfmError):
    """A planned airing can't be turned into commands (its programme has no audio)."""


def order(
    plan: Plan,
    wire: Wire,
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
        raise NotAirable(
            f"ward {planned.ward}: programme {planned.programme} has no audio in the "
            f"configuration; airing at {planned.local_start:%Y-%m-%d %H:%M} not sent"
        )
    key = plan.key_for(planned.ward)
    url = plan.audio_url(audio)
    targets = list(receivers)
    made = wire.plays(
        len(targets),
        planned=planned,
        programme=programme,
        audio=audio,
        audio_url=url,
        priority=priority,
        issued_at=now,
        key=key,
    )
    commands = [
        NewCommand(command_id, receiver, wire.cmd_topic(plan.prefix, planned.ward, receiver), body)
        for receiver, (command_id, body) in zip(targets, made, strict=True)
    ]
    return AiringToStore(
        planned,
        priority,
        audio.sha256,
        tuple(commands),
        makeup_for=makeup_for,
        note=note,
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
