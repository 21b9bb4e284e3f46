"""The receiver side of docs/protocol.md, written once. Pure: no I/O, no clock, no threads.

Each ``on_*`` method takes what happened and the current time and returns an :class:`Outcome`:
acks to publish, wakeups to set, audio to fetch, the player to start or stop. The caller (the
agent, or the simulator) does those and calls back: :meth:`ReceiverCore.on_fetched` when a fetch
ended, :meth:`~ReceiverCore.on_timer` when a wakeup is due, :meth:`~ReceiverCore.on_played` when
the player stopped. Everything to remember goes through the :class:`~.store.Store`.

Order of checks for a command: an exact repeat of a known command repeats the latest ack; then
the signature (``rejected``/``bad-signature``; not remembered, so the genuine command still
plays); a known id with a different body is ``rejected``/``replay``; a version 2 command for
another box ``rejected``/``wrong-target`` (not remembered either); a malformed command
``rejected``/``malformed``; a play past ``expires_at`` ``rejected``/``expired``. Then the audio is
fetched (always asked: the caller answers at once from its cache; commands sharing a sha256 share
one fetch): ``rejected``/``checksum``, ``failed``/``download``, or ``rejected``/``expired`` when
the fetch ended after ``expires_at``; else ``received``. At ``start_at``: ``playing`` and the
player starts; an emergency pre-empts the play in progress (``failed``/``preempted``), a normal
play waits its turn (``rejected``/``expired`` if its window passes meanwhile). The player's end
gives ``completed`` with ``played_s`` as the player measured it, or ``failed`` with its reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Any

from ipfm_scheduler.config.settings import SigningKey
from ipfm_scheduler.core.commands import AckStatus
from ipfm_scheduler.core.ids import COMMAND_ID_RE
from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.errors import ProtocolError
from ipfm_scheduler.protocol import (
    STOP_ALL,
    Ack,
    AudioRef,
    OwnKey,
    PlayCommand,
    ReceiverStatus,
    StopCommand,
    command_from_object,
    encode_ack,
    encode_status,
    verify,
)
from ipfm_scheduler.protocol.wire import decode_object
from ipfm_scheduler.receiver.store import NowPlaying, Store

#: how long a command id is remembered after it can last have played (its expires_at plus the
#: recording's length): the scheduler resends until 2 minutes after that, and clocks drift
KEEP_AFTER = timedelta(days=1)
FORGET_EVERY = timedelta(hours=1)


class FetchResult(StrEnum):
    OK = "ok"
    CHECKSUM = "checksum"  # downloaded, but not the bytes announced: rejected
    DOWNLOAD = "download"  # could not download: failed


@dataclass(frozen=True, slots=True)
class Wakeup:
    """Call :meth:`ReceiverCore.on_timer` at ``due`` (``event``: ``start`` a play)."""

    due: datetime
    command_id: str
    event: str


@dataclass(slots=True)
class Outcome:
    """What to do after one event; the caller does it, in this order: stop, acks, fetch,
    play, wakeups. Every ack is also in the store's outbox until marked delivered."""

    kind: str  # "play", "stop", "duplicate", "dropped", "command", "fetched", "timer",
    #            "played", "restore"
    command_id: str | None
    acks: list[Ack] = field(default_factory=list)
    wakeups: list[Wakeup] = field(default_factory=list)
    fetch: list[AudioRef] = field(default_factory=list)
    play: PlayCommand | None = None
    stop: str | None = None
    note: str = ""


class ReceiverCore:
    """One receiver's protocol state; its memory lives in ``store``. Call :meth:`restore` once
    at start, before anything else (it answers what a crash left open)."""

    def __init__(
        self,
        ward: str,
        receiver: str,
        *,
        keys: Mapping[str, bytes],
        store: Store,
        tz: tzinfo = UTC,
        own_key: SigningKey | None = None,
        until: Mapping[str, date] | None = None,
    ) -> None:
        self.ward = ward
        self.receiver = receiver
        self.keys = dict(keys)  # kid -> secret; empty: commands are not checked
        # kid -> the last day it is accepted: a rotated command key; the others have no end
        self.until = {kid: (until or {}).get(kid, date.max) for kid in self.keys}
        # the box's own key: its answers are version 2, signed (docs/protocol.md "Version 2")
        self.own = OwnKey(ward, receiver, own_key) if own_key is not None else None
        self.store = store
        self.tz = tz
        self.volume = 80
        self._fetching: dict[str, list[PlayCommand]] = {}  # sha256 -> plays awaiting it
        self._scheduled: dict[str, PlayCommand] = {}  # fetched, waiting for start_at
        self._waiting: list[PlayCommand] = []  # due, but another play holds the speaker
        self._playing: NowPlaying | None = store.playing()
        self._forgotten_at: datetime | None = None

    @property
    def playing(self) -> str | None:
        return self._playing.command.id if self._playing else None

    # ---- start -------------------------------------------------------------------------------

    def restore(self, now: datetime) -> Outcome:
        """After a (re)start: the play that was going on is ``failed``/``interrupted`` (never
        played again); the accepted plays are fetched again, or ``rejected``/``expired``."""
        out = Outcome("restore", None)
        if self._playing is not None:
            out.acks.append(
                self._ack(self._playing.command.id, AckStatus.FAILED, now, "interrupted")
            )
            self._set_playing(None)
        for command in self.store.scheduled():
            if now > command.expires_at:
                out.acks.append(self._refuse_play(command, now, AckStatus.REJECTED, "expired"))
            else:
                self._await_audio(command, out)
        self._forget(now, force=True)
        out.note = f"{len(out.fetch)} audio to fetch again" if out.fetch else "nothing pending"
        return out

    # ---- commands ----------------------------------------------------------------------------

    def on_command(self, payload: bytes, now: datetime) -> Outcome:
        """Answer one command's bytes as they arrived on this receiver's cmd topic."""
        self._forget(now)
        found = _identify(payload)
        if isinstance(found, Outcome):
            return found
        obj, cid = found
        digest = hashlib.sha256(payload).digest()
        refused = self._refuse(payload, digest, obj, cid, now)
        if refused is not None:
            return refused
        try:
            command = command_from_object(obj)
        except ProtocolError as exc:
            self.store.remember(cid, digest, now + KEEP_AFTER)
            ack = self._ack(cid, AckStatus.REJECTED, now, "malformed")
            return Outcome(_kind(obj), cid, [ack], note=str(exc))
        self.store.remember(cid, digest, _keep_until(command, now))
        if isinstance(command, StopCommand):
            return self._on_stop(command, now)
        return self._on_play(command, now)

    def _refuse(
        self, payload: bytes, digest: bytes, obj: dict[str, Any], cid: str, now: datetime
    ) -> Outcome | None:
        """A repeat (answered with the latest ack), a bad signature or a replay; else None."""
        seen = self.store.seen(cid)
        if seen is not None and seen.digest == digest:
            latest = [seen.latest] if seen.latest else []
            for ack in latest:  # it goes out again: into the outbox until the broker has it
                self.store.record_ack(ack, seen.expires_at)
            return Outcome("duplicate", cid, latest, note="repeated")
        if self.keys:
            day = now.astimezone(self.tz).date()
            keys = {
                k: v for k, v in self.keys.items() if k not in self.until or day <= self.until[k]
            }
            check = verify(payload, keys)
            if not check.ok:  # not remembered: the genuine command may still come
                ack = self._ack(cid, AckStatus.REJECTED, now, check.ack_detail, remember=False)
                return Outcome(_kind(obj), cid, [ack], note=check.reason)
        if seen is not None:
            ack = self._ack(cid, AckStatus.REJECTED, now, "replay", remember=False)
            return Outcome(_kind(obj), cid, [ack], note="known id, different body")
        target = _target(obj)
        if target is not None and target != (self.ward, self.receiver):
            # not remembered: the command meant for this box may still come
            ack = self._ack(cid, AckStatus.REJECTED, now, "wrong-target", remember=False)
            return Outcome(_kind(obj), cid, [ack], note=f"for {target[0]}/{target[1]}")
        return None

    # ---- what the box says: signed with its own key (version 2), else version 1 -------------

    def encode_ack(self, ack: Ack) -> bytes:
        return encode_ack(ack, self.tz, self.own)

    def encode_status(self, status: ReceiverStatus) -> bytes:
        return encode_status(status, self.tz, self.own)

    def _on_play(self, command: PlayCommand, now: datetime) -> Outcome:
        out = Outcome("play", command.id, note=f"{command.programme} {command.priority.value}")
        if now > command.expires_at:
            out.acks.append(self._ack(command.id, AckStatus.REJECTED, now, "expired"))
            return out
        self.store.schedule(command)
        self._await_audio(command, out)
        return out

    def _await_audio(self, command: PlayCommand, out: Outcome) -> None:
        sha = command.audio.sha256
        if sha not in self._fetching:
            self._fetching[sha] = []
            out.fetch.append(command.audio)
        self._fetching[sha].append(command)

    def _on_stop(self, command: StopCommand, now: datetime) -> Outcome:
        out = Outcome("stop", command.id, note=f"target {command.target}")
        everything = command.target == STOP_ALL
        stopped = 0
        if self._playing and (everything or self._playing.command.id == command.target):
            out.stop = self._playing.command.id
            out.acks.append(self._end_playing(now, AckStatus.FAILED, "stopped"))
            stopped += 1
        for play in self._held():
            if everything or play.id == command.target:
                out.acks.append(self._refuse_play(play, now, AckStatus.FAILED, "stopped"))
                stopped += 1
        detail = f"stopped {stopped}" if stopped else "nothing to stop"
        out.acks.append(self._ack(command.id, AckStatus.COMPLETED, now, detail))
        self._start_next(now, out)
        return out

    def _held(self) -> list[PlayCommand]:
        """Every play accepted and not started: awaiting audio, start_at, or its turn."""
        fetching = [play for plays in self._fetching.values() for play in plays]
        return [*fetching, *self._scheduled.values(), *self._waiting]

    # ---- audio -------------------------------------------------------------------------------

    def on_fetched(self, sha256: str, result: FetchResult, now: datetime) -> Outcome:
        """The fetch of ``sha256`` ended: every play awaiting it goes on, or is refused."""
        result = FetchResult(result)
        plays = self._fetching.pop(sha256, [])
        cid = plays[0].id if len(plays) == 1 else None
        out = Outcome("fetched", cid, note=f"audio {sha256[:12]}: {FetchResult(result).value}")
        for command in plays:
            if result is FetchResult.CHECKSUM:
                out.acks.append(self._refuse_play(command, now, AckStatus.REJECTED, "checksum"))
            elif result is FetchResult.DOWNLOAD:
                out.acks.append(self._refuse_play(command, now, AckStatus.FAILED, "download"))
            elif now > command.expires_at:
                out.acks.append(self._refuse_play(command, now, AckStatus.REJECTED, "expired"))
            else:
                self._accept(command, now, out)
        return out

    def _accept(self, command: PlayCommand, now: datetime, out: Outcome) -> None:
        seen = self.store.seen(command.id)
        if seen is None or seen.latest is None:  # not after a restart that had said it
            out.acks.append(self._ack(command.id, AckStatus.RECEIVED, now))
        if command.start_at > now:
            self._scheduled[command.id] = command
            out.wakeups.append(Wakeup(command.start_at, command.id, "start"))
        else:
            self._start(command, now, out)

    # ---- playing -----------------------------------------------------------------------------

    def on_timer(self, wakeup: Wakeup, now: datetime) -> Outcome:
        out = Outcome("timer", wakeup.command_id, note=wakeup.event)
        if wakeup.event == "start":
            command = self._scheduled.pop(wakeup.command_id, None)
            if command is not None:  # else: stopped meanwhile
                self._start(command, now, out)
        return out

    def on_played(
        self, command_id: str, now: datetime, *, played_s: float, failure: str | None = None
    ) -> Outcome:
        """The player ended ``command_id``: ran to the end (``failure`` None), or failed."""
        out = Outcome("played", command_id, note=failure or "to the end")
        if self._playing is None or self._playing.command.id != command_id:
            out.note = f"{out.note}; already answered"  # stopped or pre-empted: said so then
            return out
        self._set_playing(None)
        played = max(0.0, played_s)
        if failure is None:
            out.acks.append(self._ack(command_id, AckStatus.COMPLETED, now, played_s=played))
        else:
            out.acks.append(self._ack(command_id, AckStatus.FAILED, now, failure, played))
        self._start_next(now, out)
        return out

    def _start(self, command: PlayCommand, now: datetime, out: Outcome) -> None:
        if now > command.expires_at:
            out.acks.append(self._refuse_play(command, now, AckStatus.REJECTED, "expired"))
            return
        if self._playing is not None:
            if command.priority is not Priority.EMERGENCY:
                self._waiting.append(command)
                return
            pre_empted = self._playing.command.id
            out.acks.append(self._end_playing(now, AckStatus.FAILED, "preempted"))
            if out.play is not None and out.play.id == pre_empted:
                out.play = None  # started in this same outcome: never start it at all
            else:
                out.stop = pre_empted
        self.store.unschedule(command.id)
        self._set_playing(NowPlaying(command, now))
        out.acks.append(self._ack(command.id, AckStatus.PLAYING, now))
        out.play = command

    def _start_next(self, now: datetime, out: Outcome) -> None:
        while self._playing is None and self._waiting:
            self._start(self._waiting.pop(0), now, out)

    def _end_playing(self, now: datetime, status: AckStatus, detail: str) -> Ack:
        """Cut the play short (stop, pre-emption): played_s is the time since it started."""
        assert self._playing is not None
        command, started = self._playing.command, self._playing.started
        self._set_playing(None)
        played = min(max(0.0, (now - started).total_seconds()), command.audio.duration_s)
        return self._ack(command.id, status, now, detail, played_s=played)

    def _set_playing(self, playing: NowPlaying | None) -> None:
        self._playing = playing
        self.store.set_playing(playing)

    def _refuse_play(
        self, command: PlayCommand, now: datetime, status: AckStatus, detail: str
    ) -> Ack:
        """A held play that will never start: forgotten from every queue, answered."""
        self.store.unschedule(command.id)
        for sha, plays in list(self._fetching.items()):
            self._fetching[sha] = [p for p in plays if p.id != command.id]
        self._scheduled.pop(command.id, None)
        self._waiting = [w for w in self._waiting if w.id != command.id]
        return self._ack(command.id, status, now, detail)

    # ---- memory ------------------------------------------------------------------------------

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
        ack = Ack(cid, status, now.astimezone(self.tz), detail, played_s)
        seen = self.store.seen(cid)
        self.store.record_ack(ack, seen.expires_at if seen else now + KEEP_AFTER, latest=remember)
        return ack

    def _forget(self, now: datetime, *, force: bool = False) -> None:
        """Now and then, forget the ids whose time is over."""
        if force or self._forgotten_at is None or now - self._forgotten_at >= FORGET_EVERY:
            self.store.forget_expired(now)
            self._forgotten_at = now


def _keep_until(command: PlayCommand | StopCommand, now: datetime) -> datetime:
    if isinstance(command, StopCommand):
        return now + KEEP_AFTER
    can_play_until = command.expires_at + timedelta(seconds=command.audio.duration_s)
    return max(can_play_until, now) + KEEP_AFTER


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


def _target(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    """The (ward, receiver) a version 2 command names; None for version 1 (or unreadable)."""
    if obj.get("v") != 2:
        return None
    ward, receiver = obj.get("ward"), obj.get("receiver")
    if isinstance(ward, str) and isinstance(receiver, str):
        return ward, receiver
    return None


def _kind(obj: Mapping[str, Any]) -> str:
    kind = obj.get("type")
    return kind if kind in ("play", "stop") else "command"
