"""Players: what makes a command heard, and measures how much of it was.

    player = FfmpegPlayer("alsa:default")
    player.start(command, cache.path_for(sha256), on_done)   # returns at once
    player.stop(command.id)                                  # on_done(id, played_s, "stopped")

``on_done(command_id, played_s, failure)`` is called exactly once per start, from another
thread: failure ``None`` when the recording ran to its end, ``"stopped"`` after :meth:`stop`,
``"device"`` when the output could not be opened or written (or ffmpeg is missing, or there is
no file to play); the reason is logged in one plain line.

:class:`FfmpegPlayer` runs one ffmpeg per play. Outputs, from the receiver's config:

- ``alsa:DEVICE`` (``alsa:default``, ``alsa:plughw:1,0``): ``-f alsa DEVICE``;
- ``pulse`` or ``pulse:SINK``: ``-f pulse`` to the default sink, or ``-device SINK``;
- ``file:DIR``: a PCM WAV ``DIR/<command id>.wav`` per command, written at the pace of a real
  play (``-re``), for tests and for a technician checking a box without speakers.

Volume: the command's 0-100 is a linear gain, ``volume / 100`` (100 leaves the recording as it
was stored, already loudness-normalised by the scheduler; 50 is 6 dB lower; 0 is silence),
through ffmpeg's ``volume`` filter. The box's amplifier sets the loudness in the street.

``played_s`` is what ffmpeg reports it has written to the output (``-progress``'s
``out_time``, its last report at the end or at the stop), never the clock or the recording's
announced length.

:class:`SimulatedPlayer` plays nothing: it reports the end after the recording's duration (a
timer), or at once with ``instant=True``; for tests and ``ipfm-scheduler simulate``.
"""

from __future__ import annotations

import logging
import random
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from ipfm_scheduler.errors import ValueInvalid
from ipfm_scheduler.i18n import _
from ipfm_scheduler.protocol import PlayCommand

log = logging.getLogger(__name__)

OnDone = Callable[[str, float, str | None], None]
STOPPED = "stopped"
DEVICE = "device"
KILL_AFTER_S = 2.0  # after SIGTERM, the time ffmpeg gets before SIGKILL
MAX_REASON_CHARS = 200
OUTPUT_FORMS = "alsa:DEVICE (like alsa:default), pulse, pulse:SINK, or file:DIR"
_LOG_TAG = re.compile(r"^(?:\[[^\]]+ @ 0x[0-9a-f]+\] )?\[(error|fatal|panic)\] ")


class Player(Protocol):
    """Plays one command's recording at a time (several if asked: each has its own id)."""

    def start(self, command: PlayCommand, path: Path | None, on_done: OnDone) -> None:
        """Start playing ``path`` for ``command``; returns at once (see the module docs)."""

    def stop(self, command_id: str) -> None:
        """End the play of ``command_id`` (nothing if it is not playing)."""


@dataclass(frozen=True, slots=True)
class AudioOutput:
    """Where a receiver's sound goes: ``kind`` alsa, pulse or file, and its ``target`` (the ALSA
    device, the pulse sink or "" for the default one, the folder)."""

    kind: str
    target: str

    @classmethod
    def parse(cls, text: str) -> AudioOutput:
        kind, _sep, target = str(text).strip().partition(":")
        if kind == "alsa" and target:
            return cls(kind, target)
        if kind == "pulse":
            return cls(kind, target)
        if kind == "file" and target:
            return cls(kind, target)
        raise ValueInvalid(
            _("audio output {output} is not one of: {forms}").format(
                output=repr(str(text)[:80]), forms=OUTPUT_FORMS
            )
        )

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}" if self.target else self.kind

    def args(self, command_id: str) -> list[str]:
        """ffmpeg's output arguments for one command."""
        if self.kind == "alsa":
            return ["-f", "alsa", self.target]
        if self.kind == "pulse":
            sink = ["-device", self.target] if self.target else []
            return ["-f", "pulse", *sink, f"ipfm {command_id}"]
        wav = Path(self.target) / f"{command_id}.wav"
        return ["-c:a", "pcm_s16le", "-f", "wav", "-y", str(wav)]


def gain(volume: int) -> str:
    """The ``volume`` filter's factor for a command's volume (0-100): linear, 100 = as stored."""
    return f"{max(0, min(100, volume)) / 100:.2f}"


def ffmpeg_command(ffmpeg: str, output: AudioOutput, command: PlayCommand, path: Path) -> list[str]:
    """The whole ffmpeg command line of one play."""
    args = [ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+error"]
    args += ["-progress", "pipe:1"]  # key=value blocks every 0.5 s, and at the end
    if output.kind == "file":
        args += ["-re"]  # a file is written at the pace of a play, as a speaker would hear it
    args += ["-i", str(path), "-map", "0:a:0", "-af", f"volume={gain(command.volume)}"]
    return args + output.args(command.id)


@dataclass(slots=True)
class _Play:
    command_id: str
    process: subprocess.Popen[str]
    errors: IO[bytes]
    on_done: OnDone
    stopped: bool = False
    out_time_us: int = 0


class FfmpegPlayer:
    """Plays through ffmpeg to ``output`` (``alsa:DEVICE``, ``pulse[:SINK]``, ``file:DIR``).

    ``who`` (like ``cam-trung/loa-01``) starts every log line."""

    def __init__(self, output: str = "alsa:default", ffmpeg: str = "ffmpeg", *, who: str = ""):
        self.output = AudioOutput.parse(output)
        self.ffmpeg = ffmpeg
        self._who = f"{who}: " if who else ""
        self._lock = threading.Lock()
        self._plays: dict[str, _Play] = {}

    def start(self, command: PlayCommand, path: Path | None, on_done: OnDone) -> None:
        if path is None or not path.is_file():
            missing = "its audio file is not in the cache" if path is None else f"{path} is gone"
            self._fail_later(command.id, on_done, missing)
            return
        # ffmpeg's complaints, however many; closed by the watcher thread when ffmpeg ends
        errors = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            process = subprocess.Popen(
                ffmpeg_command(self.ffmpeg, self.output, command, path),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
                encoding="utf-8",
                errors="replace",
            )
        except OSError as exc:
            errors.close()
            self._fail_later(command.id, on_done, self._cannot_run(exc))
            return
        play = _Play(command.id, process, errors, on_done)
        with self._lock:
            self._plays[command.id] = play
        name = f"ffmpeg-{command.id[:8]}"
        threading.Thread(target=self._watch, args=(play,), name=name, daemon=True).start()
        log.info(_("%scommand %s: playing %s on %s"), self._who, command.id, path.name, self.output)

    def stop(self, command_id: str) -> None:
        """SIGTERM, then SIGKILL if ffmpeg is still there after KILL_AFTER_S; returns once it
        has exited (the output is free for the next play)."""
        with self._lock:
            play = self._plays.get(command_id)
            if play is None:
                return
            play.stopped = True
        play.process.terminate()
        try:
            play.process.wait(timeout=KILL_AFTER_S)
        except subprocess.TimeoutExpired:
            log.warning(_("%scommand %s: ffmpeg ignored SIGTERM, killed"), self._who, command_id)
            play.process.kill()
            play.process.wait()

    def playing(self) -> list[str]:
        """The ids of the commands playing now."""
        with self._lock:
            return list(self._plays)

    # ---- the watcher thread of one play -------------------------------------------------------

    def _watch(self, play: _Play) -> None:
        assert play.process.stdout is not None
        for line in play.process.stdout:  # -progress: key=value lines
            key, _sep, value = line.strip().partition("=")
            if key == "out_time_us" and value.isdigit():
                play.out_time_us = int(value)
        code = play.process.wait()
        played_s = play.out_time_us / 1e6
        with self._lock:
            self._plays.pop(play.command_id, None)
        failure: str | None = None
        if play.stopped:
            failure = STOPPED
            log.info(_("%scommand %s: stopped after %.1f s"), self._who, play.command_id, played_s)
        elif code != 0:
            failure = DEVICE
            log.warning(
                _("%scommand %s: playing on %s failed after %.1f s: %s"),
                self._who,
                play.command_id,
                self.output,
                played_s,
                _reason(play.errors),
            )
        else:
            log.info(_("%scommand %s: played %.1f s"), self._who, play.command_id, played_s)
        play.errors.close()
        _call(play.on_done, play.command_id, played_s, failure)

    def _cannot_run(self, exc: OSError) -> str:
        if isinstance(exc, FileNotFoundError):
            return _(
                "{program} is not installed (or not on PATH): install the package ffmpeg"
            ).format(program=self.ffmpeg)
        return _("cannot run {program}: {error}").format(
            program=self.ffmpeg, error=exc.strerror or exc
        )

    def _fail_later(self, command_id: str, on_done: OnDone, reason: str) -> None:
        log.warning(
            _("%scommand %s: not played on %s: %s"), self._who, command_id, self.output, reason
        )
        threading.Thread(target=_call, args=(on_done, command_id, 0.0, DEVICE), daemon=True).start()


def _reason(errors: IO[bytes]) -> str:
    """ffmpeg's first error line (the cause; what follows are its consequences), cut short; its
    last line if none is marked as an error."""
    errors.seek(0)
    lines = [line.strip() for line in errors.read().decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    marked = [_LOG_TAG.sub("", line) for line in lines if _LOG_TAG.match(line)]
    reason = (marked or lines or ["ffmpeg gave no reason"])[0 if marked else -1]
    return reason if len(reason) <= MAX_REASON_CHARS else reason[: MAX_REASON_CHARS - 1] + "…"


def _call(on_done: OnDone, command_id: str, played_s: float, failure: str | None) -> None:
    try:
        on_done(command_id, played_s, failure)
    except Exception:  # the caller's bug: logged, and the player goes on
        log.exception(_("command %s: on_done failed"), command_id)


@dataclass(slots=True)
class _Timer:
    timer: threading.Timer
    began: float
    duration_s: float
    on_done: OnDone


@dataclass
class SimulatedPlayer:
    """Plays nothing: reports the end after the recording's duration, or at once (``instant``).

    ``fail_rate`` of the plays fail with ``device`` (decided by ``seed``, ``who`` and the
    command id, so the same command fails on every run with the same seed)."""

    instant: bool = False
    fail_rate: float = 0.0
    seed: int = 0
    who: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _timers: dict[str, _Timer] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ValueInvalid(
                _("fail rate {rate} must be between 0 and 1").format(rate=self.fail_rate)
            )

    def start(self, command: PlayCommand, path: Path | None, on_done: OnDone) -> None:
        if self._fails(command.id):
            args = (on_done, command.id, 0.0, DEVICE)
            threading.Thread(target=_call, args=args, daemon=True).start()
            return
        seconds = 0.0 if self.instant else command.audio.duration_s
        duration_s = command.audio.duration_s
        timer = threading.Timer(seconds, self._ended, args=(command.id, duration_s))
        timer.daemon = True
        with self._lock:
            self._timers[command.id] = _Timer(timer, time.monotonic(), duration_s, on_done)
        timer.start()

    def stop(self, command_id: str) -> None:
        with self._lock:
            entry = self._timers.pop(command_id, None)
        if entry is None:
            return
        entry.timer.cancel()
        played_s = min(time.monotonic() - entry.began, entry.duration_s)
        args = (entry.on_done, command_id, played_s, STOPPED)
        threading.Thread(target=_call, args=args, daemon=True).start()

    def _ended(self, command_id: str, duration_s: float) -> None:
        with self._lock:
            entry = self._timers.pop(command_id, None)
        if entry is not None:  # not stopped meanwhile
            _call(entry.on_done, command_id, duration_s, None)

    def _fails(self, command_id: str) -> bool:
        if self.fail_rate <= 0:
            return False
        return random.Random(f"{self.seed}/{self.who}/{command_id}").random() < self.fail_rate
