"""A box set up for the locked broker (receiver-config --broker-dir --ca-file) and the service
with the station file's mqtt section as broker-config printed it: over the TLS listener of a
private mosquitto running broker-config's own files, the service sends a signed play and the
real `ipfm-receiver` answers it, up to `completed`."""

from __future__ import annotations

import os
import queue
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from ipfm_scheduler import protocol
from ipfm_scheduler.cli import main
from ipfm_scheduler.config.loader import load_valid
from ipfm_scheduler.config.receiver_file import load_receiver
from ipfm_scheduler.core.model import Priority
from ipfm_scheduler.transport.mqtt import Incoming, MqttTransport
from tests.receiver.test_agent import Audio
from tests.transport.locked import WARD, Locked, lock

pytestmark = [pytest.mark.mqtt, pytest.mark.ffmpeg]
BINARY = str(Path(sys.executable).with_name("ipfm-receiver"))
BOX = "loa-01"
KID = "ward-00-2026"
WAIT = 30.0


@pytest.fixture
def locked(
    tmp_path: Path, topic_prefix: str, capsys: pytest.CaptureFixture[str], ffmpeg: str
) -> Iterator[Locked]:
    """The locked broker, and the station signing ward-00's commands and using the mqtt
    section broker-config printed."""
    made = lock(tmp_path, topic_prefix, capsys)
    station = made.station
    (station.parent / "ward-00.key").write_text("a-secret-of-more-than-16-bytes\n")
    text = station.read_text()
    plain = f"mqtt:\n  url: mqtt://127.0.0.1:1883\n  topic_prefix: {topic_prefix}\n"
    assert plain in text
    station.write_text(
        text.replace(plain, made.advice)
        + f"signing:\n  wards:\n    {WARD}: {{kid: {KID}, key_file: ward-00.key}}\n"
    )
    yield made
    made.broker.stop()


def receiver_config(
    capsys: pytest.CaptureFixture[str], station: Path, *args: str
) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(["--config", str(station), "receiver-config", "--ward", WARD, *args])
    captured = capsys.readouterr()
    return int(done.value.code or 0), captured.out, captured.err


def test_receiver_config_gives_the_box_its_user_password_and_ca(
    locked: Locked, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "box" / "receiver.yaml"
    out.parent.mkdir()
    url = f"mqtts://127.0.0.1:{locked.broker.port}"
    code, _, err = receiver_config(
        capsys, locked.station, "--receiver", BOX, "--broker", url,
        "--broker-dir", str(locked.out), "--ca-file", str(locked.certs["ca.crt"]), "-o", str(out),
    )  # fmt: skip
    assert code == 0, err
    text = out.read_text()
    login = f"  username: {WARD}.{BOX}\n  password_file: broker.password\n  ca_file: ca.crt\n"
    assert login in text
    password = out.with_name("broker.password")
    assert stat.S_IMODE(password.stat().st_mode) == 0o600
    assert out.with_name("ca.crt").read_bytes() == locked.certs["ca.crt"].read_bytes()
    settings = load_receiver(out).mqtt
    assert (settings.tls, settings.host, settings.port) == (True, "127.0.0.1", locked.broker.port)
    assert settings.username == f"{WARD}.{BOX}"
    assert settings.password == locked.password(f"{WARD}.{BOX}")
    assert settings.ca_file == out.with_name("ca.crt").resolve()
    checked = subprocess.run(
        [BINARY, "--config", str(out), "--check"], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr
    assert (
        f"broker {url} (user {WARD}.{BOX} with a password, TLS, CA {settings.ca_file}, topic "
        f"prefix {locked.prefix})" in checked.stdout
    )
    assert settings.password not in checked.stdout
    # printed instead: the box's files are named, no password is shown
    code, shown, err = receiver_config(
        capsys, locked.station, "--receiver", "loa-02", "--broker", "mqtt://10.0.0.5:1883",
        "--broker-dir", str(locked.out),
    )  # fmt: skip
    assert code == 0, err
    assert locked.password(f"{WARD}.loa-02") not in shown + err
    assert f"  username: {WARD}.loa-02\n" in shown
    assert "is not TLS: the box's password would cross the network in clear" in err
    assert f"the box also needs broker.password (copy {locked.out}/users/{WARD}.loa-02" in err
    # an mqtts broker without --ca-file: the station file's CA (broker-config's advice named it)
    code, shown, err = receiver_config(
        capsys, locked.station, "--receiver", "loa-03", "--broker", url,
    )  # fmt: skip
    assert code == 0, err
    assert "  # username: ...            # if the broker asks for one\n" in shown
    assert "  ca_file: ca.crt\n" in shown
    assert f"the box also needs ca.crt (copy {locked.certs['ca.crt']})" in err
    code, _, err = receiver_config(
        capsys, locked.station, "--receiver", "loa-02", "--broker-dir", str(tmp_path)
    )
    assert code == 1
    assert f"has no password for {WARD}.loa-02: run ipfm-scheduler broker-config" in err


class Service:
    """The service's connection, made from the station file's mqtt section."""

    def __init__(self, locked: Locked) -> None:
        self.station = load_valid(locked.station, today=date.today()).station
        assert self.station is not None
        mqtt = self.station.mqtt
        assert (mqtt.tls, mqtt.username) == (True, "ipfm-scheduler")
        assert mqtt.password == locked.password("ipfm-scheduler")
        self.acks: queue.SimpleQueue[protocol.Ack] = queue.SimpleQueue()
        self.online = threading.Event()
        self.transport = MqttTransport(
            mqtt, protocol.scheduler_filters(locked.prefix), on_message=self._heard
        )
        self.transport.connect(WAIT)

    def _heard(self, message: Incoming) -> None:
        if message.topic.endswith("/ack"):
            self.acks.put(protocol.parse_ack(message.payload))
        elif protocol.parse_status(message.payload).online and not message.retain:
            self.online.set()

    def play(self, audio: Audio, command_id: str) -> None:
        now = datetime.now(UTC)
        ref = protocol.AudioRef(audio.url, audio.sha256, len(audio.data), audio.seconds)
        command = protocol.PlayCommand(
            command_id, "kh179", "Kế hoạch 179", ref, 100, Priority.NORMAL,
            now + timedelta(seconds=2), now + timedelta(minutes=10), now,
        )  # fmt: skip
        key = self.station.signing.key_for(WARD)
        assert key is not None
        topic = protocol.cmd_topic(self.station.mqtt.topic_prefix, WARD, BOX)
        self.transport.publish(topic, protocol.encode_command(command, UTC, key), timeout=WAIT)

    def expect(self, command_id: str, status: str) -> protocol.Ack:
        while True:
            ack = self.acks.get(timeout=WAIT)
            if ack.id == command_id and ack.status.value == status:
                return ack


@pytest.mark.slow
def test_the_service_and_ipfm_receiver_work_over_tls_with_their_passwords(
    locked: Locked, tmp_path: Path, capsys: pytest.CaptureFixture[str], ffmpeg: str
) -> None:
    tone = tmp_path / "tone.mp3"
    subprocess.run(
        [ffmpeg, "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
         "sine=frequency=440:duration=2", "-ac", "1", str(tone)],
        check=True,
    )  # fmt: skip
    audio = Audio(tone.read_bytes(), 2.0)
    folder = tmp_path / "box"
    config = folder / "receiver.yaml"
    (folder / "wav").mkdir(parents=True)
    code, _, err = receiver_config(
        capsys, locked.station, "--receiver", BOX,
        "--broker", f"mqtts://127.0.0.1:{locked.broker.port}", "--broker-dir", str(locked.out),
        "--ca-file", str(locked.certs["ca.crt"]), "--output", f"file:{folder / 'wav'}",
        "--state-dir", str(folder / "state"), "--cache-dir", str(folder / "cache"),
        "-o", str(config),
    )  # fmt: skip
    assert code == 0, err
    assert config.with_name(f"{KID}.key").exists()
    service = Service(locked)
    log = folder / "receiver.log"
    with log.open("wb") as sink:
        box = subprocess.Popen(
            [BINARY, "--config", str(config)], stdout=sink, stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )  # fmt: skip
    try:
        assert service.online.wait(WAIT), f"the box never said online: {log.read_text()}"
        service.play(audio, "tls-play-1")
        service.expect("tls-play-1", "received")
        completed = service.expect("tls-play-1", "completed")
        assert completed.played_s is not None
        assert abs(completed.played_s - audio.seconds) <= 0.5
    finally:
        box.send_signal(signal.SIGTERM)
        box.wait(WAIT)
        service.transport.close(1)
        audio.httpd.shutdown()
        audio.httpd.server_close()
    assert len(list((folder / "wav").glob("*.wav"))) == 1
