"""End to end on the real broker: the service and two `ipfm-receiver` processes with `file:`
outputs. A scheduled airing (the next whole minute) and then an emergency one are played; each
WAV lasts the recording (ffprobe) and has its loudness (ebur128); `log` shows both receivers
`completed` with `played_s`."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ipfm_scheduler.audio.files import AudioSettings
from ipfm_scheduler.audio.importer import import_audio
from tests.service.e2e import wait_for, write_station

pytestmark = [pytest.mark.mqtt, pytest.mark.ffmpeg, pytest.mark.slow]

BIN = Path(sys.executable).parent
VN = ZoneInfo("Asia/Ho_Chi_Minh")
SECONDS = 3.0


def next_minute() -> str:
    """The next whole local minute, at least 20 s away (commands out, audio fetched first)."""
    moment = datetime.now(UTC).astimezone(VN) + timedelta(seconds=80)
    if moment.hour == 0 and moment.minute < 2:  # keep clear of midnight (see airing_days)
        pytest.skip("too close to midnight for a scheduled airing in the next minute")
    return f"{moment:%H:%M}"


def recording(tmp_path: Path, ffmpeg: str) -> tuple[Path, str, float]:
    """A 3 s recording imported as `audio add` does: (audio folder, file, its loudness)."""
    source = tmp_path / "tone.wav"
    tone = f"sine=frequency=440:duration={SECONDS}:sample_rate=44100,volume=0.3"
    subprocess.run(
        [ffmpeg, "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", tone, str(source)],
        check=True,
    )
    folder = tmp_path / "audio"
    folder.mkdir()
    entry = import_audio(
        source, programme="kh179", title="Kế hoạch 179", settings=AudioSettings(dir=folder),
        max_duration_s=3600, now=datetime.now(UTC),
    )  # fmt: skip
    stored = folder / f"{entry.sha256}.mp3"
    return folder, stored.name, loudness(ffmpeg, stored)


def loudness(ffmpeg: str, path: Path) -> float:
    done = subprocess.run(
        [ffmpeg, "-nostdin", "-i", str(path), "-af", "ebur128", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    found = re.findall(r"I:\s+(-?[0-9.]+) LUFS", done.stderr)
    return float(found[-1])


def duration(path: Path) -> float:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(done.stdout.strip())


def cli(station: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "ipfm-scheduler"), "--config", str(station), *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def completed(station: Path) -> list[tuple[str, str, float | None]]:
    """What `log` shows for the ward's commands that ended `completed`: (receiver, state,
    played_s). (This week's earlier airings, from before the database existed, are listed as
    missed, with no command.)"""
    shown = cli(station, "log", "--ward", "ward-00", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)
    found = rows["rows"] if isinstance(rows, dict) else rows
    done = [r for r in found if r["state"] == "completed"]
    # each box signs its answers with its own key (write_station ran keys init): all verified
    assert all(r["verified"] is True for r in done), done
    return [(r["receiver"], r["state"], r["played_s"]) for r in done]


class Box:
    """One `ipfm-receiver` process, set up with `receiver-config`, its sound in a folder."""

    def __init__(self, station: Path, tmp: Path, receiver: str, port: int) -> None:
        self.folder = tmp / receiver
        self.wav = self.folder / "wav"
        self.wav.mkdir(parents=True)
        config = self.folder / "receiver.yaml"
        made = cli(
            station, "receiver-config", "--ward", "ward-00", "--receiver", receiver,
            "--broker", f"mqtt://127.0.0.1:{port}", "--output", f"file:{self.wav}",
            "--state-dir", str(self.folder / "state"), "--cache-dir", str(self.folder / "cache"),
            "-o", str(config),
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        self.log = self.folder / "receiver.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [str(BIN / "ipfm-receiver"), "--config", str(config)],
                stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"),
            )  # fmt: skip

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)


@pytest.fixture
def boxes() -> Iterator[list[Box]]:
    started: list[Box] = []
    yield started
    for box in started:
        box.stop()


def test_two_receivers_play_a_scheduled_and_an_emergency_airing_for_real(
    tmp_path: Path,
    ffmpeg: str,
    mqtt_broker: tuple[str, int],
    topic_prefix: str,
    boxes: list[Box],
) -> None:
    folder, audio_file, source_lufs = recording(tmp_path, ffmpeg)
    station = write_station(
        tmp_path / "station", prefix=topic_prefix, mqtt_port=mqtt_broker[1], at=next_minute(),
        receivers=2, audio=(folder, audio_file),
    )  # fmt: skip
    ward = station.parent / "wards" / "ward-00.yaml"  # at volume 100: the recording's loudness
    ward.write_text(re.sub(r'(\n    at: "[0-9:]+")', r"\1\n    volume: 100", ward.read_text()))
    assert "volume: 100" in ward.read_text()
    assert cli(station, "db", "upgrade").returncode == 0
    boxes += [Box(station, tmp_path, r, mqtt_broker[1]) for r in ("loa-01", "loa-02")]
    log = tmp_path / "service.log"
    with log.open("wb") as out:
        service = subprocess.Popen(
            [str(BIN / "ipfm-scheduler"), "--config", str(station), "run"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wavs = lambda box: sorted(box.wav.glob("*.wav"))  # noqa: E731
        wait_for(lambda: all(len(wavs(b)) == 1 for b in boxes), 150, "the scheduled airing")
        wait_for(lambda: all(" completed" in b.text() for b in boxes), 30, "its completion")
        asked = cli(station, "air", "--ward", "ward-00", "--programme", "kh179",
                    "--priority", "emergency", "--wait", "20")  # fmt: skip
        assert asked.returncode == 0, asked.stdout + asked.stderr
        wait_for(lambda: all(b.text().count(" completed") == 2 for b in boxes), 60, "the alarm")
        wait_for(lambda: len(completed(station)) == 4, 30, "the service to record the answers")
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(60)
    for box in boxes:
        played = wavs(box)
        assert len(played) == 2, box.text()
        for wav in played:
            assert abs(duration(wav) - SECONDS) <= 0.5, wav
            assert abs(loudness(ffmpeg, wav) - source_lufs) <= 1.0, wav
    done = completed(station)
    assert sorted(receiver for receiver, _, _ in done) == ["loa-01", "loa-01", "loa-02", "loa-02"]
    for _, state, played_s in done:
        assert state == "completed"
        assert played_s is not None
        assert abs(played_s - SECONDS) <= 0.5
