"""`ipfm-receiver` as a process on a private broker, as a box runs it: killed in the middle of a
play and started again (the play is answered `interrupted` and never played again, a resend of
the command gets that answer again), and the broker restarted while an answer was waiting to go
out (it arrives once the broker is back)."""

from __future__ import annotations

import hashlib
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ipfm_scheduler import protocol
from ipfm_scheduler.config.settings import MqttSettings, SigningKey
from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.transport.mqtt import Incoming, MqttTransport
from tests.brokers import PrivateBroker
from tests.service.e2e import wait_for

pytestmark = [pytest.mark.mqtt, pytest.mark.ffmpeg, pytest.mark.slow]

BINARY = str(Path(sys.executable).with_name("ipfm-receiver"))
PREFIX = "ipfm-agent"
KEY = SigningKey("cam-trung-2026", b"a-secret-of-more-than-16-bytes")
WAIT = 30.0


class Audio:
    """A recording served over HTTP, as the service serves programmes."""

    def __init__(self, data: bytes, seconds: float) -> None:
        self.data, self.seconds = data, seconds
        self.sha256 = hashlib.sha256(data).hexdigest()
        audio = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", str(len(audio.data)))
                self.end_headers()
                self.wfile.write(audio.data)

            def log_message(self, *_args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/audio/{self.sha256}.mp3"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def play(self, command_id: str, start: datetime, issued: datetime | None = None) -> bytes:
        ref = protocol.AudioRef(self.url, self.sha256, len(self.data), self.seconds)
        command = protocol.PlayCommand(
            command_id, "kh179", "Kế hoạch 179", ref, 100, Priority.NORMAL, start,
            start + timedelta(minutes=10), issued or start - timedelta(seconds=1),
        )  # fmt: skip
        return protocol.encode_command(command, UTC, KEY)


@pytest.fixture
def audio(tmp_path: Path, ffmpeg: str) -> Iterator[Audio]:
    path = tmp_path / "tone.mp3"
    subprocess.run(
        [ffmpeg, "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
         "sine=frequency=440:duration=6", "-ac", "1", str(path)],
        check=True,
    )  # fmt: skip
    served = Audio(path.read_bytes(), 6.0)
    yield served
    served.httpd.shutdown()
    served.httpd.server_close()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[PrivateBroker]:
    """A broker of our own that keeps sessions across a restart, as a production one does."""
    store = tmp_path / "mosquitto"
    store.mkdir()
    private = PrivateBroker(tmp_path, f"persistence true\npersistence_location {store}/\n")
    private.start()
    yield private
    private.stop()


class Scheduler:
    """The scheduler's side of the broker: publishes commands, collects acks (a persistent
    session: answers sent while it reconnects are kept for it)."""

    def __init__(self, port: int) -> None:
        self.acks: queue.SimpleQueue[protocol.Ack] = queue.SimpleQueue()
        self.online = threading.Event()
        self.transport = MqttTransport(
            MqttSettings(port=port, topic_prefix=PREFIX, client_id="agent-test-scheduler"),
            protocol.scheduler_filters(PREFIX),
            persistent_session=True,
            on_message=self._heard,
        )
        self.transport.connect(WAIT)

    def _heard(self, message: Incoming) -> None:
        if message.topic.endswith("/ack"):
            self.acks.put(protocol.parse_ack(message.payload))
        elif protocol.parse_status(message.payload).online and not message.retain:
            self.online.set()

    def wait_online(self) -> None:
        """The box said `online` (it is connected and subscribed: commands reach it)."""
        assert self.online.wait(WAIT), "the box never said online"
        self.online.clear()

    def send(self, payload: bytes) -> None:
        topic = protocol.cmd_topic(PREFIX, "cam-trung", "loa-01")
        self.transport.publish(topic, payload, timeout=WAIT)

    def expect(self, command_id: str, status: str) -> protocol.Ack:
        while True:
            ack = self.acks.get(timeout=WAIT)
            if ack.id == command_id and ack.status.value == status:
                return ack


@pytest.fixture
def scheduler(broker: PrivateBroker) -> Iterator[Scheduler]:
    s = Scheduler(broker.port)
    yield s
    s.transport.close()


class Box:
    """`ipfm-receiver` in its own process group (as systemd runs it: killed as a whole)."""

    def __init__(self, tmp: Path, port: int) -> None:
        self.wav = tmp / "wav"
        self.wav.mkdir(exist_ok=True)
        (tmp / "key").write_bytes(KEY.secret)
        self.config = tmp / "receiver.yaml"
        self.config.write_text(
            f"ward: cam-trung\nreceiver: loa-01\ntimezone: UTC\n"
            f"mqtt:\n  url: mqtt://127.0.0.1:{port}\n  topic_prefix: {PREFIX}\n"
            f"signing:\n  kid: {KEY.kid}\n  key_file: key\n"
            f"output: file:{self.wav}\ncache:\n  dir: cache\nstate_dir: state\n"
        )
        self.log = tmp / "receiver.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [BINARY, "--config", str(self.config)], stdout=out, stderr=subprocess.STDOUT,
                env=dict(os.environ, PYTHONUNBUFFERED="1"), start_new_session=True,
            )  # fmt: skip

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(WAIT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(WAIT)


@pytest.fixture
def box(tmp_path: Path, broker: PrivateBroker) -> Iterator[Box]:
    b = Box(tmp_path, broker.port)
    yield b
    b.stop()


def test_killed_in_the_middle_of_a_play_it_says_interrupted_and_never_plays_it_again(
    audio: Audio, scheduler: Scheduler, box: Box
) -> None:
    box.start()
    scheduler.wait_online()
    command = audio.play("play-1", datetime.now(UTC))
    scheduler.send(command)
    scheduler.expect("play-1", "received")
    scheduler.expect("play-1", "playing")
    # the answer `playing` goes out just before the player's own log line: wait for that line,
    # so that the kill lands in the middle of the play and not between the two
    wait_for(lambda: "command play-1: playing " in box.log.read_text(), 10, "the player started")
    box.kill()  # the box loses power in the middle of the play
    box.start()
    failed = scheduler.expect("play-1", "failed")
    assert failed.detail == "interrupted"
    scheduler.send(command)  # the service sends it again: the same answer, no second play
    again = scheduler.expect("play-1", "failed")
    assert again.detail == "interrupted"
    box.stop()
    log = box.log.read_text()
    assert log.count("command play-1 playing") == 1  # the answer, once: before the kill
    assert log.count("command play-1: playing ") == 1  # the player started once, never again


def test_an_answer_waiting_while_the_broker_restarts_arrives_once_it_is_back(
    audio: Audio, scheduler: Scheduler, box: Box, broker: PrivateBroker
) -> None:
    box.start()
    scheduler.wait_online()
    scheduler.send(audio.play("play-2", datetime.now(UTC)))
    scheduler.expect("play-2", "playing")
    broker.stop()  # the broker goes away while the recording plays (6 s)
    wait_for(
        lambda: "command play-2 completed" in box.log.read_text(), WAIT, "the end of the play"
    )  # answered while the broker is away: the answer waits in the box's outbox
    broker.start()
    completed = scheduler.expect("play-2", "completed")
    assert completed.played_s is not None
    assert abs(completed.played_s - audio.seconds) <= 0.5


def test_a_box_whose_clock_is_behind_says_so_in_its_log(
    audio: Audio, scheduler: Scheduler, box: Box
) -> None:
    """A command issued two minutes after the box's `now` can only mean its clock is behind."""
    box.start()
    scheduler.wait_online()
    now = datetime.now(UTC)
    later = now + timedelta(minutes=2)
    scheduler.send(audio.play("play-3", later + timedelta(minutes=1), issued=later))
    scheduler.expect("play-3", "received")
    box.stop()
    log = box.log.read_text()
    assert "cam-trung/loa-01: this box's clock is at least 1" in log
    assert "s behind the service's (a command issued at" in log


def test_a_missing_sound_device_is_answered_failed_device_with_one_plain_line(
    audio: Audio, scheduler: Scheduler, box: Box
) -> None:
    box.config.write_text(
        box.config.read_text().replace(f"output: file:{box.wav}", "output: alsa:ipfm-no-such-card")
    )
    box.start()
    scheduler.wait_online()
    scheduler.send(audio.play("play-4", datetime.now(UTC)))
    scheduler.expect("play-4", "playing")
    failed = scheduler.expect("play-4", "failed")
    assert failed.detail == "device"
    box.stop()
    log = box.log.read_text()
    assert "command play-4: playing on alsa:ipfm-no-such-card failed after" in log
    assert "Traceback" not in log


def test_stopped_in_the_middle_of_a_play_it_answers_interrupted_before_going_offline(
    audio: Audio, scheduler: Scheduler, box: Box
) -> None:
    box.start()
    scheduler.wait_online()
    scheduler.send(audio.play("play-5", datetime.now(UTC)))
    scheduler.expect("play-5", "playing")
    box.stop()  # SIGTERM, as systemctl stop sends it
    failed = scheduler.expect("play-5", "failed")
    assert failed.detail == "interrupted"
    assert failed.played_s is not None
    assert 0 <= failed.played_s < audio.seconds
