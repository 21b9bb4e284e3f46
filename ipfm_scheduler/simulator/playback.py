"""One simulated receiver: the real receiver core (:mod:`ipfm_scheduler.receiver.core`) with an
in-memory store, a fetch (HTTP, or none), and a simulated player. No MQTT, no clock.

:meth:`SimBox.command` and :meth:`SimBox.due` do what the core's outcomes ask that can be done at
once (the fetch; in instant mode every wakeup and the whole play) and return one merged
:class:`Outcome`: the acks to send, and the wakeups the runner must set (the core's ``start``, and
the simulated player's ``end`` of a play in realtime mode).

The simulated player fails a share of the plays given by the fail rate (``failed``/``device``,
after ``playing``, as a real sound card that can't be opened), the same ones on every run with
the same seed; else it plays for the audio's duration (realtime) or at once (instant).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum

from ipfm_scheduler.config.settings import SigningKey
from ipfm_scheduler.i18n import _
from ipfm_scheduler.protocol import AudioRef, PlayCommand
from ipfm_scheduler.receiver.core import FetchResult, Outcome, ReceiverCore, Wakeup
from ipfm_scheduler.receiver.store import MemoryStore

END = "end"  # the simulated player's own wakeup: the play ran its duration


class TimeMode(StrEnum):
    INSTANT = "instant"  # play as soon as received, complete without waiting the duration
    REALTIME = "realtime"  # honour start_at, and play for the audio's duration


Fetch = Callable[[AudioRef], FetchResult]


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How every simulated receiver behaves (shared by all of them)."""

    keys: Mapping[str, bytes] = field(default_factory=dict)  # kid -> secret; empty: no checks
    #: each receiver's own key, (ward, receiver) -> key: its answers are signed (version 2)
    own_keys: Mapping[tuple[str, str], SigningKey] = field(default_factory=dict, repr=False)
    fail_rate: float = 0.0  # share of plays that fail with detail `device`
    seed: int = 0
    mode: TimeMode = TimeMode.INSTANT
    tz: tzinfo = UTC  # the zone of the `at` in acks
    fetch: Fetch | None = None  # download and check the audio; None: trust the command

    def __post_init__(self) -> None:
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError(
                _("fail rate {rate} must be between 0 and 1").format(rate=self.fail_rate)
            )


class SimBox:
    """One simulated receiver's box: the receiver core, its memory, a simulated player."""

    def __init__(self, ward: str, receiver: str, behaviour: Behaviour) -> None:
        self.ward = ward
        self.receiver = receiver
        self.behaviour = behaviour
        self.store = MemoryStore()
        self.core = ReceiverCore(
            ward,
            receiver,
            keys=behaviour.keys,
            store=self.store,
            tz=behaviour.tz,
            own_key=behaviour.own_keys.get((ward, receiver)),
        )
        self._plays: dict[str, tuple[PlayCommand, datetime]] = {}  # realtime: playing now

    @property
    def playing(self) -> str | None:
        return self.core.playing

    def command(self, payload: bytes, now: datetime) -> Outcome:
        """One command's bytes arrived on the box's cmd topic."""
        return self._settle(self.core.on_command(payload, now), now)

    def due(self, wakeup: Wakeup, now: datetime) -> Outcome:
        """A wakeup of an earlier outcome is due (the core's, or the player's end)."""
        if wakeup.event != END:
            return self._settle(self.core.on_timer(wakeup, now), now)
        play = self._plays.pop(wakeup.command_id, None)
        if play is None:  # stopped or pre-empted meanwhile: the core already said so
            return Outcome("timer", wakeup.command_id, note=END)
        command, started = play
        played = min(max(0.0, (now - started).total_seconds()), command.audio.duration_s)
        out = self.core.on_played(command.id, now, played_s=played)
        out.kind, out.note = "timer", END
        return self._settle(out, now)

    def _settle(self, first: Outcome, now: datetime) -> Outcome:
        """Do what can be done at once; merge what it gave into ``first``."""
        merged, todo = first, [first]
        pending: list[Wakeup] = []
        while todo:
            out = todo.pop(0)
            if out is not merged:
                merged.acks.extend(out.acks)
            if out.stop is not None:
                self._plays.pop(out.stop, None)
            for audio in out.fetch:
                result = self.behaviour.fetch(audio) if self.behaviour.fetch else FetchResult.OK
                todo.append(self.core.on_fetched(audio.sha256, result, now))
            if out.play is not None:
                todo.extend(self._play(out.play, now, pending))
            for wakeup in out.wakeups:
                if self.behaviour.mode is TimeMode.INSTANT:
                    todo.append(self.core.on_timer(wakeup, now))
                else:
                    pending.append(wakeup)
        merged.fetch, merged.play, merged.stop, merged.wakeups = [], None, None, pending
        return merged

    def _play(self, command: PlayCommand, now: datetime, pending: list[Wakeup]) -> list[Outcome]:
        """The simulated player starts ``command``: the outcomes of its end, if known now."""
        if self._fails(command):
            return [self.core.on_played(command.id, now, played_s=0.0, failure="device")]
        duration = command.audio.duration_s
        if self.behaviour.mode is TimeMode.INSTANT:
            return [self.core.on_played(command.id, now, played_s=duration)]
        self._plays[command.id] = (command, now)
        pending.append(Wakeup(now + timedelta(seconds=duration), command.id, END))
        return []

    def _fails(self, command: PlayCommand) -> bool:
        """The same command fails or not on every run with the same seed, in any order."""
        if self.behaviour.fail_rate <= 0:
            return False
        rng = random.Random(f"{self.behaviour.seed}/{self.ward}/{self.receiver}/{command.id}")
        return rng.random() < self.behaviour.fail_rate
