"""The players. FfmpegPlayer with the real ffmpeg, on a short generated recording: a `file:` play
lasts the recording and has its loudness (6 dB less at volume 50), played_s is what ffmpeg
wrote, `stop` ends it, an output that cannot be opened is a `device` failure with one plain log
line. SimulatedPlayer: the end after the duration, or at once; stop; a fail rate."""

from __future__ import annotations

import hashlib
import logging
import subprocess
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.errors import ValueInvalid
from ipfm_scheduler.protocol import AudioRef, PlayCommand
from ipfm_scheduler.receiver.player import AudioOutput, FfmpegPlayer, SimulatedPlayer

WAIT_S = 15.0  # a play of a 2.5 s recording ends well within this
SOURCE_S = 2.5
T0 = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


@dataclass
class Done:
    """Collects on_done calls; ``event`` is set at the first."""

    calls: list[tuple[str, float, str | None]] = field(default_factory=list)
    threads: list[str] = field(default_factory=list)
    event: threading.Event = field(default_factory=threading.Event)

    def __call__(self, command_id: str, played_s: float, failure: str | None) -> None:
        self.calls.append((command_id, played_s, failure))
        self.threads.append(threading.current_thread().name)
        self.event.set()

    def wait(self) -> tuple[str, float, str | None]:
        assert self.event.wait(WAIT_S), "on_done was not called"
        assert len(self.calls) == 1, self.calls
        assert threading.current_thread().name not in self.threads
        return self.calls[0]


def play(volume: int = 100, duration_s: float = SOURCE_S, data: bytes = b"x") -> PlayCommand:
    audio = AudioRef(
        "http://127.0.0.1:8079/audio/x.mp3", hashlib.sha256(data).hexdigest(), len(data), duration_s
    )
    return PlayCommand(
        id=str(uuid.uuid4()),
        programme="kh179",
        title="Kế hoạch 179",
        audio=audio,
        volume=volume,
        priority=Priority.NORMAL,
        start_at=T0,
        expires_at=T0 + timedelta(minutes=30),
        issued_at=T0 - timedelta(minutes=2),
    )


def ffprobe_duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return float(out.stdout)


def loudness(ffmpeg: str, path: Path) -> float:
    """Integrated loudness (LUFS) by ffmpeg's ebur128, measured here, apart from the player."""
    out = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128", "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stderr.rpartition("Summary:")[2]
    return float(out.split("I:")[1].split("LUFS")[0])


@pytest.fixture(scope="module")
def recording(ffmpeg: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2.5 s MP3: a 440 Hz tone with a slow swell (loud enough to be far above the gates)."""
    path = tmp_path_factory.mktemp("recording") / "tone.mp3"
    source = f"aevalsrc='0.3*sin(2*PI*440*t)*(0.6+0.4*sin(2*PI*2*t))':s=44100:d={SOURCE_S}"
    subprocess.run(
        [ffmpeg, "-hide_banner", "-v", "error", "-f", "lavfi", "-i", source, str(path)],
        check=True,
        timeout=30,
    )
    return path


# ---- FfmpegPlayer with the real ffmpeg -----------------------------------------------------------


@pytest.mark.ffmpeg
def test_a_file_play_lasts_the_recording_at_its_loudness_and_reports_what_it_played(
    ffmpeg: str, recording: Path, tmp_path: Path
):
    player = FfmpegPlayer(f"file:{tmp_path}", ffmpeg)
    full, half = play(volume=100), play(volume=50)
    done = {full.id: Done(), half.id: Done()}
    for command in (full, half):  # both at once: the test takes one play's time
        player.start(command, recording, done[command.id])

    results = {cid: d.wait() for cid, d in done.items()}

    duration = ffprobe_duration(recording)
    source_lufs = loudness(ffmpeg, recording)
    for command in (full, half):
        cid, played_s, failure = results[command.id]
        assert (cid, failure) == (command.id, None)
        wav = tmp_path / f"{command.id}.wav"
        assert ffprobe_duration(wav) == pytest.approx(duration, abs=0.5)
        assert played_s == pytest.approx(duration, abs=0.5)
    assert loudness(ffmpeg, tmp_path / f"{full.id}.wav") == pytest.approx(source_lufs, abs=1.0)
    assert loudness(ffmpeg, tmp_path / f"{half.id}.wav") == pytest.approx(source_lufs - 6, abs=1)
    assert player.playing() == []


@pytest.mark.ffmpeg
def test_stop_mid_play_reports_stopped_with_what_was_played(
    ffmpeg: str, recording: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, "ipfm_scheduler.receiver.player")
    player = FfmpegPlayer(f"file:{tmp_path}", ffmpeg, who="cam-trung/loa-01")
    command, done = play(), Done()
    player.start(command, recording, done)
    stopper = threading.Timer(1.0, player.stop, args=(command.id,))  # mid-play
    stopper.start()

    cid, played_s, failure = done.wait()

    stopper.join(WAIT_S)
    assert (cid, failure) == (command.id, "stopped")
    assert 0.3 < played_s < SOURCE_S - 0.5
    # played_s is what ffmpeg wrote, not a clock's reading
    assert ffprobe_duration(tmp_path / f"{command.id}.wav") == pytest.approx(played_s, abs=0.3)
    assert f"cam-trung/loa-01: command {command.id}: stopped after " in caplog.text
    assert player.playing() == []


@pytest.mark.ffmpeg
def test_an_alsa_device_that_does_not_exist_is_a_device_failure_with_one_plain_line(
    ffmpeg: str, recording: Path, caplog: pytest.LogCaptureFixture
):
    player = FfmpegPlayer("alsa:ipfm-no-such-device", ffmpeg, who="cam-trung/loa-01")
    command, done = play(), Done()

    player.start(command, recording, done)

    assert done.wait() == (command.id, 0.0, "device")
    [line] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert line.startswith(
        f"cam-trung/loa-01: command {command.id}: playing on alsa:ipfm-no-such-device failed"
    )
    assert "ipfm-no-such-device" in line.partition("failed")[2]  # ffmpeg's own words
    assert len(line) < 400
    assert "\n" not in line
    assert not any(r.exc_info for r in caplog.records)


@pytest.mark.ffmpeg
@pytest.mark.parametrize("where", ["missing", "a-file"])
def test_a_file_output_without_a_folder_is_a_device_failure(
    ffmpeg: str, recording: Path, tmp_path: Path, where: str, caplog: pytest.LogCaptureFixture
):
    folder = tmp_path / where
    if where == "a-file":
        folder.write_text("not a folder")
    player = FfmpegPlayer(f"file:{folder}", ffmpeg)
    command, done = play(), Done()

    player.start(command, recording, done)

    assert done.wait() == (command.id, 0.0, "device")
    assert f"playing on file:{folder} failed" in caplog.text
    assert "Traceback" not in caplog.text


# ---- FfmpegPlayer without ffmpeg ---------------------------------------------------------------


def test_a_missing_ffmpeg_is_a_device_failure_with_a_plain_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    player = FfmpegPlayer(f"file:{tmp_path}", str(tmp_path / "no-ffmpeg"))
    command, done = play(), Done()

    (tmp_path / "x.mp3").write_bytes(b"ID3")
    player.start(command, tmp_path / "x.mp3", done)

    assert done.wait() == (command.id, 0.0, "device")
    assert "no-ffmpeg is not installed (or not on PATH)" in caplog.text
    assert not any(r.exc_info for r in caplog.records)


def test_no_file_to_play_is_a_device_failure(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    player = FfmpegPlayer(f"file:{tmp_path}")
    for path, words in [(None, "not in the cache"), (tmp_path / "gone.mp3", "gone.mp3 is gone")]:
        command, done = play(), Done()
        player.start(command, path, done)
        assert done.wait() == (command.id, 0.0, "device")
        assert f"command {command.id}: not played on file:{tmp_path}: " in caplog.text
        assert words in caplog.text


def test_stopping_what_does_not_play_does_nothing(tmp_path: Path):
    FfmpegPlayer(f"file:{tmp_path}").stop(str(uuid.uuid4()))
    SimulatedPlayer().stop(str(uuid.uuid4()))


@pytest.mark.parametrize(
    ("text", "args"),
    [
        ("alsa:default", ["-f", "alsa", "default"]),
        ("alsa:plughw:1,0", ["-f", "alsa", "plughw:1,0"]),
        ("pulse", ["-f", "pulse", "ipfm CID"]),
        ("pulse:speakers", ["-f", "pulse", "-device", "speakers", "ipfm CID"]),
        ("file:/srv/out", ["-c:a", "pcm_s16le", "-f", "wav", "-y", "/srv/out/CID.wav"]),
    ],
)
def test_each_output_form_has_its_ffmpeg_arguments(text: str, args: list[str]):
    output = AudioOutput.parse(text)
    assert output.args("CID") == args
    assert str(output) == text


@pytest.mark.parametrize("text", ["", "alsa", "alsa:", "file:", "speaker", "jack:x", "ALSA:hw"])
def test_a_bad_output_is_refused_with_the_accepted_forms(text: str):
    with pytest.raises(ValueInvalid, match=r"alsa:DEVICE .*pulse, pulse:SINK, or file:DIR"):
        FfmpegPlayer(text)


def test_the_volume_is_a_linear_gain(tmp_path: Path):
    from ipfm_scheduler.receiver.player import ffmpeg_command

    output = AudioOutput.parse("alsa:default")
    gains = {
        volume: ffmpeg_command("ffmpeg", output, play(volume=volume), tmp_path / "a.mp3")
        for volume in (0, 50, 80, 100)
    }
    filters = {v: args[args.index("-af") + 1] for v, args in gains.items()}
    assert filters == {0: "volume=0.00", 50: "volume=0.50", 80: "volume=0.80", 100: "volume=1.00"}
    assert "-re" not in gains[100]  # a sound card keeps its own pace


# ---- SimulatedPlayer ---------------------------------------------------------------------------


def test_the_simulated_player_reports_the_end_after_the_duration():
    command, done = play(duration_s=0.3), Done()
    player = SimulatedPlayer()

    player.start(command, None, done)

    assert not done.event.wait(0.1)  # not before the recording's end
    assert done.wait() == (command.id, 0.3, None)


def test_the_instant_simulated_player_reports_the_end_at_once():
    command, done = play(duration_s=600), Done()
    SimulatedPlayer(instant=True).start(command, None, done)
    assert done.wait() == (command.id, 600, None)


def test_the_simulated_player_stops():
    command, done = play(duration_s=600), Done()
    player = SimulatedPlayer()
    player.start(command, None, done)

    player.stop(command.id)

    cid, played_s, failure = done.wait()
    assert (cid, failure) == (command.id, "stopped")
    assert 0 <= played_s < 600


def test_the_simulated_player_fails_its_share_of_plays_the_same_way_every_run():
    commands = [play() for _ in range(40)]

    def failures(player: SimulatedPlayer) -> list[str]:
        dones = [Done() for _ in commands]
        for command, done in zip(commands, dones, strict=True):
            player.start(command, None, done)
        outcomes = [done.wait() for done in dones]
        return [cid for cid, _, failure in outcomes if failure == "device"]

    first = failures(SimulatedPlayer(instant=True, fail_rate=0.5, seed=7, who="w/r"))
    assert 5 < len(first) < 35
    assert failures(SimulatedPlayer(instant=True, fail_rate=0.5, seed=7, who="w/r")) == first
    assert failures(SimulatedPlayer(instant=True, fail_rate=0.0)) == []
    with pytest.raises(ValueInvalid, match="fail rate"):
        SimulatedPlayer(fail_rate=1.5)
