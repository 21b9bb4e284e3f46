"""One simulated receiver, as docs/protocol.md asks of a real one. Pure: no MQTT, no clock.

:meth:`SimReceiver.on_command` takes a command's bytes and the current time and returns what to
do: acks to send, and timers to set (in realtime mode: the start of a play and its end). The
runner (:mod:`ipfm_scheduler.simulator.runner`) does the I/O and calls :meth:`SimReceiver.on_timer`
when a timer is due.

Order of checks for a command: an exact repeat of a known command repeats the latest ack; then
the signature (``rejected``/``bad-signature``; not remembered, so the genuine command still
plays); a known id with a different body is ``rejected``/``replay``; a malformed command
``rejected``/``malformed``; a play past ``expires_at`` ``rejected``/``expired``; the audio check
(``rejected``/``checksum``, ``failed``/``download``); then ``received``, ``playing`` and
``completed`` — or ``failed``/``device`` for the share of plays given by the fail rate.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Any

from ipfm_scheduler.core.commands import AckStatus
from ipfm_scheduler.core.ids import COMMAND_ID_RE
from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.errors import ProtocolError
from ipfm_scheduler.protocol import (
    STOP_ALL,
    Ack,
    AudioRef,
    PlayCommand,
    StopCommand,
    command_from_object,
    verify,
)
from ipfm_scheduler.protocol.wire import decode_object


class TimeMode(StrEnum):
    INSTANT = "instant"  # play as soon as received, complete without waiting the duration
    REALTIME = "realtime"  # honour start_at, and play for the audio's duration


class FetchResult(StrEnum):
    OK = "ok"
    CHECKSUM = "checksum"  # downloaded, but not the bytes announced: rejected
    DOWNLOAD = "download"  # could not download: failed


Fetch = Callable[[AudioRef], FetchResult]


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How every simulated receiver behaves (shared by all of them)."""

    keys: Mapping[str, bytes] = field(default_factory=dict)  # kid -> secret; empty: no checks
    fail_rate: float = 0.0  # share of plays that fail with detail `device`
    seed: int = 0
    mode: TimeMode = TimeMode.INSTANT
    tz: tzinfo = UTC  # the zone of the `at` in acks
    fetch: Fetch | None = None  # download and check the audio; None: trust the command

    def __post_init__(self) -> None:
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError(f"fail rate {self.fail_rate} must be between 0 and 1")


@dataclass(frozen=True, slots=True)
class Wakeup:
    """Call back at ``due``: ``start`` a play, or its ``end``."""

    due: datetime
    command_id: str
    event: str  # "start" | "end"


@dataclass(slots=True)
class Outcome:
    """What handling one command (or timer) produced: acks to send, timers to set."""

    kind: str  # "play", "stop", "duplicate", "timer", "dropped"
    command_id: str | None
    acks: list[Ack] = field(default_factory=list)
    timers: list[Wakeup] = field(default_factory=list)
    note: str = ""


@dataclass(slots=True)
class _Seen:
    digest: bytes
    last: Ack | None = None


@dataclass(slots=True)
class _Playing:
    command: PlayCommand
    started: datetime


class SimReceiver:
    """The state of one receiver: commands seen, what plays, what waits to play."""

    def __init__(self, ward: str, receiver: str, behaviour: Behaviour) -> None:
        self.ward = ward
        self.receiver = receiver
        self.behaviour = behaviour
        self.volume = 80
        self._seen: dict[str, _Seen] = {}
        self._scheduled: dict[str, PlayCommand] = {}  # received, waiting for start_at
        self._waiting: list[PlayCommand] = []  # due, but another play holds the speaker
        self._playing: _Playing | None = None

    @property
    def playing(self) -> str | None:
        return self._playing.command.id if self._playing else None

    # ---- commands ----------------------------------------------------------------------------

    def on_command(self, payload: bytes, now: datetime) -> Outcome:
        """Answer one command's bytes as they arrived on this receiver's cmd topic."""
        found = _identify(payload)
        if isinstance(found, Outcome):
            return found
        obj, cid = found
        digest = hashlib.sha256(payload).digest()
        refused = self._refuse(payload, digest, obj, cid, now)
        if refused is not None:
            return refused
        self._seen[cid] = _Seen(digest)
        try:
            command = command_from_object(obj)
        except ProtocolError as exc:
            ack = self._ack(cid, AckStatus.REJECTED, now, "malformed")
            return Outcome(_kind(obj), cid, [ack], note=str(exc))
        if isinstance(command, StopCommand):
            return self._on_stop(command, now)
        return self._on_play(command, now)

    def _refuse(
        self, payload: bytes, digest: bytes, obj: dict[str, Any], cid: str, now: datetime
    ) -> Outcome | None:
        """A repeat (answered with the latest ack), a bad signature or a replay; else None."""
        seen = self._seen.get(cid)
        if seen is not None and seen.digest == digest:
            return Outcome("duplicate", cid, [seen.last] if seen.last else [], note="repeated")
        if self.behaviour.keys:
            check = verify(payload, self.behaviour.keys)
            if not check.ok:  # not remembered: the genuine command may still come
                ack = self._ack(cid, AckStatus.REJECTED, now, check.ack_detail, remember=False)
                return Outcome(_kind(obj), cid, [ack], note=check.reason)
        if seen is not None:
            ack = self._ack(cid, AckStatus.REJECTED, now, "replay", remember=False)
            return Outcome(_kind(obj), cid, [ack], note="known id, different body")
        return None

    def _on_play(self, command: PlayCommand, now: datetime) -> Outcome:
        out = Outcome("play", command.id, note=f"{command.programme} {command.priority.value}")
        if now > command.expires_at:
            out.acks.append(self._ack(command.id, AckStatus.REJECTED, now, "expired"))
            return out
        fetched = self.behaviour.fetch(command.audio) if self.behaviour.fetch else FetchResult.OK
        if fetched is FetchResult.CHECKSUM:
            out.acks.append(self._ack(command.id, AckStatus.REJECTED, now, "checksum"))
            return out
        if fetched is FetchResult.DOWNLOAD:
            out.acks.append(self._ack(command.id, AckStatus.FAILED, now, "download"))
            return out
        out.acks.append(self._ack(command.id, AckStatus.RECEIVED, now))
        if self.behaviour.mode is TimeMode.REALTIME and command.start_at > now:
            self._scheduled[command.id] = command
            out.timers.append(Wakeup(command.start_at, command.id, "start"))
            return out
        self._start(command, now, out)
        return out

    def _on_stop(self, command: StopCommand, now: datetime) -> Outcome:
        out = Outcome("stop", command.id, note=f"target {command.target}")
        everything = command.target == STOP_ALL
        stopped = 0
        if self._playing and (everything or self._playing.command.id == command.target):
            out.acks.append(self._end_playing(now, AckStatus.FAILED, "stopped"))
            stopped += 1
        pending = [*self._scheduled.values(), *self._waiting]
        for play in pending:
            if everything or play.id == command.target:
                self._scheduled.pop(play.id, None)
                self._waiting = [w for w in self._waiting if w.id != play.id]
                out.acks.append(self._ack(play.id, AckStatus.FAILED, now, "stopped"))
                stopped += 1
        detail = f"stopped {stopped}" if stopped else "nothing to stop"
        out.acks.append(self._ack(command.id, AckStatus.COMPLETED, now, detail))
        self._start_next(now, out)
        return out

    # ---- playing -----------------------------------------------------------------------------

    def _start(self, command: PlayCommand, now: datetime, out: Outcome) -> None:
        if now > command.expires_at:
            out.acks.append(self._ack(command.id, AckStatus.REJECTED, now, "expired"))
            return
        if self._playing is not None:
            if command.priority is not Priority.EMERGENCY:
                self._waiting.append(command)
                return
            out.acks.append(self._end_playing(now, AckStatus.FAILED, "preempted"))
        if self._fails(command):
            out.acks.append(self._ack(command.id, AckStatus.FAILED, now, "device"))
            self._start_next(now, out)
            return
        out.acks.append(self._ack(command.id, AckStatus.PLAYING, now))
        if self.behaviour.mode is TimeMode.INSTANT:
            played = command.audio.duration_s
            out.acks.append(self._ack(command.id, AckStatus.COMPLETED, now, played_s=played))
            return
        self._playing = _Playing(command, now)
        end = now + timedelta(seconds=command.audio.duration_s)
        out.timers.append(Wakeup(end, command.id, "end"))

    def _start_next(self, now: datetime, out: Outcome) -> None:
        while self._playing is None and self._waiting:
            self._start(self._waiting.pop(0), now, out)

    def _end_playing(self, now: datetime, status: AckStatus, detail: str | None) -> Ack:
        assert self._playing is not None
        command, started = self._playing.command, self._playing.started
        self._playing = None
        played = min(max(0.0, (now - started).total_seconds()), command.audio.duration_s)
        return self._ack(command.id, status, now, detail, played_s=played)

    def _fails(self, command: PlayCommand) -> bool:
        """The same command fails or not on every run with the same seed, in any order."""
        if self.behaviour.fail_rate <= 0:
            return False
        rng = random.Random(f"{self.behaviour.seed}/{self.ward}/{self.receiver}/{command.id}")
        return rng.random() < self.behaviour.fail_rate

    def on_timer(self, timer: Wakeup, now: datetime) -> Outcome:
        out = Outcome("timer", timer.command_id, note=timer.event)
        if timer.event == "start":
            command = self._scheduled.pop(timer.command_id, None)
            if command is not None:  # else: stopped meanwhile
                self._start(command, now, out)
        elif self._playing and self._playing.command.id == timer.command_id:
            out.acks.append(self._end_playing(now, AckStatus.COMPLETED, None))
            self._start_next(now, out)
        return out

    def _ack(
        self,
        cid: str,
        status: AckStatus,
        now: datetime,
        detail: str | None = None,
        played_s: float | None = None,
        *,
        remember: bool = True,
    ) -> Ack:
        ack = Ack(cid, status, now.astimezone(self.behaviour.tz), detail, played_s)
        seen = self._seen.get(cid)
        if remember and seen is not None:
            seen.last = ack
        return ack


def _identify(payload: bytes) -> tuple[dict[str, Any], str] | Outcome:
    """The decoded command and its id; an Outcome when there is no id to answer to."""
    try:
        obj = decode_object(payload, "command")
    except ProtocolError as exc:
        return Outcome("dropped", None, note=f"unreadable, no id to answer: {exc}")
    cid = obj.get("id")
    if not isinstance(cid, str) or COMMAND_ID_RE.fullmatch(cid) is None:
        return Outcome("dropped", None, note="no valid `id`, nothing to answer")
    return obj, cid


def _kind(obj: Mapping[str, Any]) -> str:
    kind = obj.get("type")
    return kind if kind in ("play", "stop") else "command"
